"""Rasters as Cloud-Optimized GeoTIFFs in EPSG:25832: checked, converted, registered, found.

Conversion streams: GDAL reads the source block by block through a warped VRT and writes
512-pixel tiles and then the overviews, so memory is bounded by GDAL's block cache and the
warper's buffer whatever the raster's size. Every source block is read on the way, so a
file that is damaged only in its data (a truncated download) fails here, not when served.

Files live in `<rasters_dir>/<source id>/<dataset version id>.tif`; `raster_version` holds
the path relative to `rasters_dir`. A harvest keeps the current and the previous version's
file and deletes older ones.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
import shapely
from pyproj import CRS, Transformer
from rasterio._err import CPLE_BaseError  # GDAL's errors, raised while blocks are read
from rasterio.crs import CRS as RioCRS
from rasterio.dtypes import in_dtype_range
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.io import DatasetReader
from rasterio.transform import Affine
from rasterio.vrt import WarpedVRT
from shapely.geometry import Polygon, box
from sqlalchemy import Connection

from planungsdaten.checksums import sha256_file
from planungsdaten.db.queries import query
from planungsdaten.rasters.errors import (
    RasterCrsError,
    RasterExtentError,
    RasterFormatError,
)

STORAGE_SRID = 25832
STORAGE_CRS = CRS.from_epsg(STORAGE_SRID)
# Sachsen-Anhalt, roughly, in EPSG:25832; the loaded municipalities' extent replaces it
SACHSEN_ANHALT_BBOX = (600_000.0, 5_640_000.0, 790_000.0, 5_880_000.0)
BLOCK_SIZE = 512
# GDAL's block cache and the warper's buffer: together they bound the conversion's memory
CACHE_MB = 256
WARP_MEMORY_MB = 64
RESAMPLING = {
    "nearest": Resampling.nearest,
    "bilinear": Resampling.bilinear,
    "cubic": Resampling.cubic,
    "average": Resampling.average,
}
MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
_SQL = "planungsdaten.rasters"


@dataclass(frozen=True)
class RasterInfo:
    """A stored COG: its grid in EPSG:25832 and its cells."""

    width: int
    height: int
    resolution_m: float
    bounds: tuple[float, float, float, float]  # west, south, east, north in EPSG:25832
    nodata: float | None
    dtype: str
    count: int

    @property
    def footprint(self) -> Polygon:
        """The raster's extent as a polygon in EPSG:25832."""
        return box(*self.bounds)


@dataclass(frozen=True)
class SourceRaster:
    """A source file as far as the checks before a conversion need it."""

    path: Path
    width: int
    height: int
    count: int
    dtype: str
    crs: CRS
    nodata: float | None
    footprint: Polygon  # the file's outline, transformed to EPSG:25832


@dataclass(frozen=True)
class RasterLayer:
    """A current raster version as readers (packages, /ogc, the catalogue) use it."""

    source_id: str
    layer: str
    title: str
    description: str
    path: Path  # absolute
    bands: list[dict[str, Any]]  # name, description, unit per band, band 1 first
    nodata: float | None
    resolution_m: float
    dtype: str
    licence: str
    attribution: str
    access: str
    version_id: int
    footprint: Polygon  # EPSG:25832
    published_at: datetime
    width: int = 0
    height: int = 0
    size_bytes: int = 0
    sha256: str = ""
    hvd_category: str | None = None


# --- reading and checking ------------------------------------------------------------------


@contextlib.contextmanager
def _gdal() -> Iterator[None]:
    # sidecar files stay visible: a world file (.tfw) may hold a GeoTIFF's georeference
    with rasterio.Env(GDAL_CACHEMAX=CACHE_MB):
        yield


@contextlib.contextmanager
def open_raster(path: Path) -> Iterator[DatasetReader]:
    """The file opened with GDAL; anything but a readable GeoTIFF is refused in German."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            dataset = rasterio.open(path)
    except (RasterioError, CPLE_BaseError) as e:
        raise RasterFormatError(
            f"{path.name} ist kein lesbares GeoTIFF (beschädigt, unvollständig "
            f"heruntergeladen oder ein anderes Format): {e}"
        ) from e
    with dataset:
        if dataset.driver != "GTiff":
            raise RasterFormatError(
                f"{path.name} ist kein GeoTIFF, sondern eine Datei im Format {dataset.driver}; "
                "erwartet wird format.type geotiff"
            )
        yield dataset


def _label(crs: CRS) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.name


def same_crs(a: CRS, b: CRS) -> bool:
    """Whether two CRSs are the same (axis order aside), also when one lacks EPSG codes."""
    if a.equals(b, ignore_axis_order=True):
        return True
    code = a.to_epsg()
    return code is not None and code == b.to_epsg()


def _effective_crs(dataset: DatasetReader, declared: str | None, name: str) -> CRS:
    """The file's CRS, or the declared one for a file without; a contradiction is refused."""
    wanted = CRS.from_user_input(declared) if declared else None
    if dataset.crs is None:
        if wanted is None:
            raise RasterCrsError(
                f"{name} gibt kein Koordinatenreferenzsystem an: in der Quelldefinition "
                "`crs:` angeben (z. B. EPSG:25832)"
            )
        return wanted
    found = CRS.from_wkt(dataset.crs.to_wkt())
    if wanted is not None and not same_crs(found, wanted):
        raise RasterCrsError(
            f"{name} ist im Koordinatenreferenzsystem {_label(found)}, die Quelldefinition "
            f"erwartet {_label(wanted)}: Datei oder `crs:` der Quelldefinition prüfen"
        )
    return found


def _check_georeferenced(dataset: DatasetReader, name: str) -> None:
    if dataset.transform.is_identity and not dataset.gcps[0]:
        raise RasterFormatError(
            f"{name} hat keine Georeferenzierung (keine Geotransformation): GeoTIFF mit "
            "Lagebezug oder World-File (.tfw) daneben liefern"
        )


def _footprint(transform: Affine, width: int, height: int, crs: CRS, name: str) -> Polygon:
    """The raster's outline in EPSG:25832 (edges densified, so curved images stay covered)."""
    corners = [transform @ xy for xy in ((0, 0), (width, 0), (width, height), (0, height))]
    outline = Polygon(corners)
    if same_crs(crs, STORAGE_CRS):
        return outline
    dense = shapely.segmentize(outline, max_segment_length=outline.length / 400)
    coords = shapely.get_coordinates(dense)
    to_storage = Transformer.from_crs(crs, STORAGE_CRS, always_xy=True)
    x, y = to_storage.transform(coords[:, 0], coords[:, 1], errcheck=False)
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise RasterExtentError(
            f"{name}: die Ausdehnung lässt sich nicht aus {_label(crs)} nach EPSG:25832 "
            "umrechnen – falsches Koordinatenreferenzsystem?"
        )
    return Polygon(np.column_stack([x, y]))


def _same_value(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def _source_nodata(dataset: DatasetReader, declared: float | None, name: str) -> float | None:
    """The file's no-data value, or the declared one for a file without."""
    found = dataset.nodata
    if found is not None and declared is not None and not _same_value(found, declared):
        raise RasterFormatError(
            f"{name} gibt den NoData-Wert {found:g} an, die Quelldefinition {declared:g}: "
            "`nodata:` aus der Quelldefinition entfernen oder anpassen"
        )
    value = found if found is not None else declared
    dtype = dataset.dtypes[0]
    if value is not None and not in_dtype_range(value, dtype):
        raise RasterFormatError(
            f"{name}: der NoData-Wert {value:g} passt nicht zum Datentyp {dtype} der Datei"
        )
    return value


def describe_source(path: Path, *, crs: str | None, nodata: float | None) -> SourceRaster:
    """Open `path` and check it (GeoTIFF, georeferenced, CRS known and as declared)."""
    with _gdal(), open_raster(path) as dataset:
        effective = _effective_crs(dataset, crs, path.name)
        _check_georeferenced(dataset, path.name)
        return SourceRaster(
            path=path,
            width=dataset.width,
            height=dataset.height,
            count=dataset.count,
            dtype=dataset.dtypes[0],
            crs=effective,
            nodata=_source_nodata(dataset, nodata, path.name),
            footprint=_footprint(
                dataset.transform, dataset.width, dataset.height, effective, path.name
            ),
        )


def check_in_area(raster: SourceRaster, area: tuple[float, float, float, float], name: str) -> None:
    """Refuse a raster that does not touch the service area (usually a wrong CRS)."""
    if raster.footprint.intersects(box(*area)):
        return
    west, south, east, north = (round(v) for v in raster.footprint.bounds)
    raise RasterExtentError(
        f"{name} liegt außerhalb Sachsen-Anhalts: Ausdehnung in EPSG:25832 "
        f"{west}, {south} – {east}, {north} (Rechtswert, Hochwert), erwartet wird ein Raster "
        f"im Bereich {area[0]:.0f}, {area[1]:.0f} – {area[2]:.0f}, {area[3]:.0f} – falsches "
        f"Koordinatenreferenzsystem? (angenommen: {_label(raster.crs)})"
    )


def crs84_bounds(footprint: Polygon) -> tuple[float, float, float, float]:
    """West, south, east, north in longitude/latitude of an EPSG:25832 polygon (its edges
    densified first, so the box covers the curved image)."""
    dense = shapely.segmentize(footprint, max_segment_length=max(footprint.length / 400, 1.0))
    coords = shapely.get_coordinates(dense)
    to_crs84 = Transformer.from_crs(STORAGE_CRS, CRS.from_epsg(4326), always_xy=True)
    lon, lat = to_crs84.transform(coords[:, 0], coords[:, 1])
    return (float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max()))


def service_area(conn: Connection) -> tuple[float, float, float, float]:
    """The loaded municipalities' extent (EPSG:25832), or Sachsen-Anhalt's rough box."""
    row = conn.execute(query("municipality_extent", _SQL)).first()
    if row is None or row.xmin is None:
        return SACHSEN_ANHALT_BBOX
    return (float(row.xmin), float(row.ymin), float(row.xmax), float(row.ymax))


# --- conversion ----------------------------------------------------------------------------


def _is_north_up(transform: Affine) -> bool:
    return transform.b == 0 and transform.d == 0 and transform.a > 0 and transform.e < 0


def _target_grid(
    dataset: DatasetReader, crs: CRS, footprint: Polygon, resolution_m: float | None
) -> tuple[Affine, int, int]:
    """The COG's grid in EPSG:25832: the source's own when it already fits, otherwise one
    aligned to multiples of the resolution (like gdalwarp -tap)."""
    transform = dataset.transform
    keeps_resolution = resolution_m is None or (
        math.isclose(transform.a, resolution_m) and math.isclose(-transform.e, resolution_m)
    )
    if same_crs(crs, STORAGE_CRS) and _is_north_up(transform) and keeps_resolution:
        return transform, dataset.width, dataset.height
    res = resolution_m
    if res is None:
        if crs.is_projected and all(
            math.isclose(axis.unit_conversion_factor, 1.0) for axis in crs.axis_info
        ):
            res = min(dataset.res)  # metres already: keep the cell size
        else:  # degrees: the cell size the footprint implies, to three significant digits
            implied = math.sqrt(footprint.area / (dataset.width * dataset.height))
            res = float(f"{implied:.3g}")
    west, south, east, north = footprint.bounds
    left, top = math.floor(west / res) * res, math.ceil(north / res) * res
    width = max(1, math.ceil(round((east - left) / res, 6)))
    height = max(1, math.ceil(round((top - south) / res, 6)))
    return Affine(res, 0.0, left, 0.0, -res, top), width, height


def _fill_value(dtype: str) -> float:
    """No-data for cells a reprojection leaves empty when the source declares none."""
    kind = np.dtype(dtype)
    if kind.kind == "f":
        return math.nan
    limits = np.iinfo(kind)
    return float(limits.min if kind.kind == "i" else limits.max)


def cog_options(dtype: str, resampling: str) -> dict[str, Any]:
    """GDAL's COG driver options: 512-pixel tiles, DEFLATE with the predictor that fits the
    data type, overviews resampled to suit the data (nearest for classes)."""
    floating = np.dtype(dtype).kind == "f"
    return {
        "BLOCKSIZE": BLOCK_SIZE,
        "COMPRESS": "DEFLATE",
        # horizontal differencing (2) for integers, floating-point prediction (3) for floats
        "PREDICTOR": "FLOATING_POINT" if floating else "STANDARD",
        "BIGTIFF": "IF_SAFER",
        "OVERVIEWS": "AUTO",
        "OVERVIEW_RESAMPLING": "NEAREST" if resampling == "nearest" else "AVERAGE",
        "NUM_THREADS": "ALL_CPUS",
    }


def _remove_with_side_files(path: Path) -> None:
    path.unlink(missing_ok=True)
    for side in path.parent.glob(f"{path.name}.*"):
        side.unlink(missing_ok=True)


def describe_cog(path: Path) -> RasterInfo:
    """The grid and cells of a stored raster."""
    with _gdal(), open_raster(path) as dataset:
        return RasterInfo(
            width=dataset.width,
            height=dataset.height,
            resolution_m=float(max(dataset.res)),
            bounds=tuple(float(v) for v in dataset.bounds),  # type: ignore[arg-type]
            nodata=dataset.nodata,
            dtype=dataset.dtypes[0],
            count=dataset.count,
        )


def to_cog(
    source: Path,
    target: Path,
    *,
    crs: str | None,
    nodata: float | None,
    resolution_m: float | None,
    resampling: str,
) -> RasterInfo:
    """Convert a GeoTIFF to a tiled, DEFLATE-compressed COG with overviews in EPSG:25832.

    `crs` is the CRS for a file without one (a file saying otherwise is refused), `nodata`
    the no-data value for a file without one. The work streams through GDAL in blocks:
    memory stays flat whatever the size. On failure `target` does not exist."""
    if resampling not in RESAMPLING:
        raise ValueError(f"resampling must be one of {', '.join(RESAMPLING)}")
    name = source.name
    with _gdal(), open_raster(source) as dataset:
        src_crs = _effective_crs(dataset, crs, name)
        _check_georeferenced(dataset, name)
        src_nodata = _source_nodata(dataset, nodata, name)
        footprint = _footprint(dataset.transform, dataset.width, dataset.height, src_crs, name)
        transform, width, height = _target_grid(dataset, src_crs, footprint, resolution_m)
        regridded = (transform, width, height) != (
            dataset.transform,
            dataset.width,
            dataset.height,
        )
        dst_nodata = src_nodata
        if dst_nodata is None and regridded:
            dst_nodata = _fill_value(dataset.dtypes[0])
        try:
            with WarpedVRT(
                dataset,
                src_crs=RioCRS.from_wkt(src_crs.to_wkt()),
                crs=RioCRS.from_epsg(STORAGE_SRID),
                transform=transform,
                width=width,
                height=height,
                resampling=RESAMPLING[resampling],
                src_nodata=src_nodata,
                nodata=dst_nodata,
                warp_mem_limit=WARP_MEMORY_MB,
                NUM_THREADS="ALL_CPUS",
            ) as vrt:
                rasterio.shutil.copy(
                    vrt, target, driver="COG", **cog_options(dataset.dtypes[0], resampling)
                )
        except (RasterioError, CPLE_BaseError) as e:
            _remove_with_side_files(target)
            raise RasterFormatError(
                f"{name}: Lesen der Rasterdaten abgebrochen – die Datei ist beschädigt oder "
                f"unvollständig (z. B. abgebrochener Download): {e}"
            ) from e
        except BaseException:
            _remove_with_side_files(target)
            raise
    return describe_cog(target)


# --- files of a harvest ----------------------------------------------------------------------


def raster_path(rasters_dir: Path, source_id: str, version_id: int) -> Path:
    """Where the COG of a dataset version is kept."""
    return rasters_dir / source_id / f"{version_id}.tif"


@contextlib.contextmanager
def staged(target: Path) -> Iterator[Path]:
    """A temporary name beside `target`: renamed to `target` when the block succeeds,
    removed (with any side files) when it fails."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.stem}-{uuid.uuid4().hex[:8]}.part.tif")
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        _remove_with_side_files(temporary)


@contextlib.contextmanager
def removed_on_failure() -> Iterator[list[Path]]:
    """Collects files written for a harvest; they are deleted if the block fails (the
    transaction that would have registered them rolled back)."""
    written: list[Path] = []
    try:
        yield written
    except BaseException:
        for path in written:
            _remove_with_side_files(path)
        raise


def prune(folder: Path, keep: set[Path]) -> list[Path]:
    """Delete every file in a source's raster folder but `keep` (the current and the previous
    version's COG); run while the source's harvest lock is held. Returns what was deleted."""
    if not folder.is_dir():
        return []
    removed = []
    for path in sorted(folder.iterdir()):
        if path.is_file() and path not in keep:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


# --- the catalogue -------------------------------------------------------------------------


def register(
    conn: Connection,
    version_id: int,
    layer: str,
    path: Path,
    rasters_dir: Path,
    info: RasterInfo,
    bands: list[dict[str, Any]],
) -> None:
    """The `raster_version` row of a stored COG (inside the harvest's transaction)."""
    conn.execute(
        query("insert_raster_version", _SQL),
        {
            "version_id": version_id,
            "layer": layer,
            "path": path.relative_to(rasters_dir).as_posix(),
            "width": info.width,
            "height": info.height,
            "resolution_m": info.resolution_m,
            "bands": json.dumps(bands, ensure_ascii=False),
            "nodata": info.nodata,
            "dtype": info.dtype,
            "size_bytes": path.stat().st_size,
            "sha256": sha256_file(path),
            "footprint": info.footprint.wkt,
        },
    )


def layer_owner(conn: Connection, layer: str, source_id: str) -> str | None:
    """Another source whose current raster has this layer name (collection id), if any."""
    row = conn.execute(
        query("raster_layer_owner", _SQL), {"layer": layer, "source_id": source_id}
    ).first()
    return None if row is None else str(row.source_id)


def current_rasters(
    conn: Connection, rasters_dir: Path, *, access: str | None = None
) -> list[RasterLayer]:
    """Every current raster version (of sources with this `access`, if given), by layer."""
    rows = conn.execute(query("current_rasters", _SQL), {"access": access})
    return [
        RasterLayer(
            source_id=row.source_id,
            layer=row.layer,
            title=row.title,
            description=row.description or "",
            path=rasters_dir / row.path,
            bands=list(row.bands),
            nodata=row.nodata,
            resolution_m=float(row.resolution_m),
            dtype=row.dtype,
            licence=row.licence,
            attribution=row.attribution,
            access=row.access,
            version_id=int(row.version_id),
            footprint=shapely.from_wkb(bytes(row.footprint)),
            published_at=row.published_at,
            width=int(row.width),
            height=int(row.height),
            size_bytes=int(row.size_bytes),
            sha256=row.sha256,
            hvd_category=row.hvd_category,
        )
        for row in rows
    ]
