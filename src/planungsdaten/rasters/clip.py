"""Rasters clipped to an area (a municipality or a drawn polygon) as Cloud-Optimized GeoTIFFs.

The clip keeps the source's grid: the output is the smallest window of whole source pixels
holding every pixel whose centre lies in the area's bounding box, so its transform is the
source's shifted by whole pixels, with the same CRS and resolution. A pixel belongs to the
area when its centre lies inside it (GDAL's rasterisation rule, and gdalwarp's for
cutlines); pixels outside are no-data.

The work streams: the window is read in chunks of whole output tiles (512 rows, up to
`CHUNK_TILES` tiles wide); chunks without any of the area are not read, chunks entirely
inside are not masked, the others are read only where the area's bounds reach. They go to
an uncompressed, sparse tiled GeoTIFF next to the target, which gets its overviews there
and is then turned into the COG by GDAL's COG driver, compressing on all cores (one
compression pass; building the overviews on the uncompressed file is faster than letting
the COG driver compute and compress them twice). Memory is bounded by the chunk size and
GDAL's block cache, whatever the raster's and the area's size; the temporary file takes
the window's uncompressed size on disk.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
import shapely
from rasterio.crs import CRS
from rasterio.dtypes import in_dtype_range
from rasterio.features import geometry_mask
from rasterio.io import DatasetReader, DatasetWriter
from rasterio.transform import Affine
from rasterio.windows import Window
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from planungsdaten.rasters.errors import RasterError
from planungsdaten.rasters.store import BLOCK_SIZE, CACHE_MB, RESAMPLING, cog_options, open_raster

# Chunks are one output tile high and up to this many wide: 8 MiB of float32
CHUNK_TILES = 8
# Pixel coordinates this close to a whole number count as whole (floating-point noise)
_EPSILON = 1e-6

BoolArray = np.ndarray[Any, np.dtype[np.bool_]]


class RasterAreaError(RasterError, ValueError):
    """The area cannot be used on this raster: not a polygon, empty, a rotated raster."""


class AreaOutsideRasterError(RasterAreaError):
    """The area holds no pixel centre of the raster: it lies outside the raster's extent
    (or is narrower than a pixel)."""


@dataclasses.dataclass(frozen=True)
class ClipResult:
    """A clipped COG: its grid, its no-data value and how many pixels inside hold data."""

    path: Path
    width: int
    height: int
    transform: Affine
    crs: CRS
    nodata: float
    valid_pixels: int


@dataclasses.dataclass(frozen=True)
class Chunk:
    """Part of the area's window: where it lies in the source, and which pixels are inside.

    `inside` is True when every pixel centre of the chunk lies inside the area, otherwise
    the area clipped to the chunk (never empty: chunks without any area are not yielded)."""

    window: Window
    transform: Affine
    inside: BaseGeometry | bool

    def mask(self, window: Window | None = None) -> BoolArray:
        """True for the pixels of `window` (default: the chunk) whose centre is inside."""
        if window is None:
            window = self.window
        shape = (int(window.height), int(window.width))
        if self.inside is True:
            return np.ones(shape, dtype=bool)
        transform = self.transform @ Affine.translation(
            window.col_off - self.window.col_off, window.row_off - self.window.row_off
        )
        return geometry_mask([self.inside], out_shape=shape, transform=transform, invert=True)

    def reach(self, transform: Affine) -> Window | None:
        """The part of the chunk whose pixel centres lie in the bounds of the area in it
        (`transform`: the source's), or None when no centre does."""
        if self.inside is True:
            return self.window
        assert isinstance(self.inside, BaseGeometry)
        return _centre_window(self.inside.bounds, transform, self.window)


def default_nodata(dtype: str) -> float:
    """No-data for a raster that declares none: -9999 for floats, the largest value for
    unsigned and the smallest for signed integers."""
    kind = np.dtype(dtype)
    if kind.kind == "f":
        return -9999.0
    limits = np.iinfo(kind)
    return float(limits.max if kind.kind == "u" else limits.min)


def is_nodata(values: np.ndarray[Any, Any], nodata: float | None) -> BoolArray:
    """True where `values` hold `nodata` (NaN counts as no-data in float rasters)."""
    if values.dtype.kind == "f":
        missing: BoolArray = np.isnan(values)
        if nodata is not None and not math.isnan(nodata):
            missing |= values == nodata
        return missing
    if nodata is None:
        return np.zeros(values.shape, dtype=bool)
    return np.asarray(values == nodata)


def _centre_window(
    bounds: tuple[float, float, float, float], transform: Affine, limit: Window
) -> Window | None:
    """The pixels of `limit` whose centre lies within `bounds` (north-up `transform`)."""
    minx, miny, maxx, maxy = bounds
    col_first = math.ceil((minx - transform.c) / transform.a - 0.5 - _EPSILON)
    col_last = math.floor((maxx - transform.c) / transform.a - 0.5 + _EPSILON)
    row_first = math.ceil((maxy - transform.f) / transform.e - 0.5 - _EPSILON)
    row_last = math.floor((miny - transform.f) / transform.e - 0.5 + _EPSILON)
    col_first, row_first = max(col_first, int(limit.col_off)), max(row_first, int(limit.row_off))
    col_last = min(col_last, int(limit.col_off + limit.width) - 1)
    row_last = min(row_last, int(limit.row_off + limit.height) - 1)
    if col_last < col_first or row_last < row_first:
        return None
    return Window(col_first, row_first, col_last - col_first + 1, row_last - row_first + 1)


def area_window(dataset: DatasetReader, area: BaseGeometry) -> Window:
    """The smallest window of whole pixels holding every pixel whose centre lies in the
    area's bounding box, within the raster; `AreaOutsideRasterError` when there is none."""
    name = Path(dataset.name).name
    transform = dataset.transform
    if transform.b != 0 or transform.d != 0 or transform.a <= 0 or transform.e >= 0:
        raise RasterAreaError(
            f"{name}: gedrehte oder gespiegelte Raster werden nicht unterstützt; bitte "
            "zuerst nach Norden ausgerichtet speichern (z. B. mit gdalwarp)."
        )
    if not isinstance(area, Polygon | MultiPolygon):
        raise RasterAreaError(
            f"Das Gebiet muss ein Polygon oder MultiPolygon sein, nicht {area.geom_type}."
        )
    if area.is_empty:
        raise RasterAreaError("Das Gebiet ist leer.")
    window = _centre_window(area.bounds, transform, Window(0, 0, dataset.width, dataset.height))
    if window is None:
        left, bottom, right, top = dataset.bounds
        raise AreaOutsideRasterError(
            f"Das Gebiet liegt außerhalb des Rasters {name} (Ausdehnung {left:.0f}, "
            f"{bottom:.0f} – {right:.0f}, {top:.0f} in {dataset.crs}) oder ist schmaler als "
            "ein Pixel: es enthält keinen Pixelmittelpunkt. Bitte ein Gebiet innerhalb der "
            "Rasterabdeckung wählen oder die Rasterebene weglassen."
        )
    return window


def chunks(
    dataset: DatasetReader,
    area: BaseGeometry,
    window: Window,
    *,
    rows: int,
    cols: int,
    origin: tuple[int, int] = (0, 0),
) -> Iterator[Chunk]:
    """The chunks of `window` that hold part of the area, row by row; their edges lie on the
    grid of `rows` x `cols` pixels through source pixel `origin` (row, column)."""
    area = shapely.from_wkb(shapely.to_wkb(area))  # a copy to prepare: the caller's stays as is
    shapely.prepare(area)
    transform = dataset.transform
    half_x, half_y = transform.a / 2, -transform.e / 2
    row_end, col_end = window.row_off + window.height, window.col_off + window.width
    row = window.row_off
    while row < row_end:
        next_row = min(row_end, origin[0] + ((row - origin[0]) // rows + 1) * rows)
        col = window.col_off
        while col < col_end:
            next_col = min(col_end, origin[1] + ((col - origin[1]) // cols + 1) * cols)
            left, top = transform @ (col, row)
            right, bottom = transform @ (next_col, next_row)
            chunk_window = Window(col, row, next_col - col, next_row - row)
            chunk_transform = transform @ Affine.translation(col, row)
            centres = shapely.box(left + half_x, bottom + half_y, right - half_x, top - half_y)
            if area.contains_properly(centres):
                yield Chunk(chunk_window, chunk_transform, True)
            else:
                parts = shapely.get_parts(shapely.clip_by_rect(area, left, bottom, right, top))
                polygons = [p for p in parts if isinstance(p, Polygon) and not p.is_empty]
                if polygons:
                    inside = polygons[0] if len(polygons) == 1 else MultiPolygon(polygons)
                    yield Chunk(chunk_window, chunk_transform, inside)
            col = next_col
        row = next_row


def overview_factors(width: int, height: int) -> list[int]:
    """Powers of two until the overview fits in one tile, as GDAL's COG driver chooses."""
    factors: list[int] = []
    factor = 2
    while math.ceil(max(width, height) / (factor // 2)) > BLOCK_SIZE:
        factors.append(factor)
        factor *= 2
    return factors


def clip_to_area(
    source: Path,
    area: BaseGeometry,
    target: Path,
    *,
    nodata: float | None = None,
    overview_resampling: str | None = None,
) -> ClipResult:
    """Clip a raster to an area (Polygon/MultiPolygon in the raster's CRS) into a COG.

    Tiled (512), DEFLATE with a predictor by data type, overviews (`overview_resampling`:
    average for floats and nearest for integers unless given). No-data is `nodata` if
    given, else the source's, else `default_nodata`; source no-data (and NaN) inside the
    area becomes it too. `valid_pixels` counts pixels inside with data (in the first band).
    Raises `AreaOutsideRasterError` when the area holds no pixel centre of the raster; on
    any failure `target` is left as it was."""
    with (
        rasterio.Env(GDAL_CACHEMAX=CACHE_MB, GDAL_NUM_THREADS="ALL_CPUS"),
        open_raster(source) as dataset,
    ):
        window = area_window(dataset, area)
        dtype = dataset.dtypes[0]
        out_nodata = nodata if nodata is not None else dataset.nodata
        if out_nodata is None:
            out_nodata = default_nodata(dtype)
        if not in_dtype_range(out_nodata, dtype):
            raise RasterAreaError(
                f"Der NoData-Wert {out_nodata:g} passt nicht zum Datentyp {dtype} des Rasters."
            )
        if overview_resampling is None:
            overview_resampling = "average" if np.dtype(dtype).kind == "f" else "nearest"
        if overview_resampling not in RESAMPLING:
            raise ValueError(f"overview_resampling must be one of {', '.join(RESAMPLING)}")
        result = ClipResult(
            path=target,
            width=int(window.width),
            height=int(window.height),
            transform=dataset.window_transform(window),
            crs=dataset.crs,
            nodata=out_nodata,
            valid_pixels=0,
        )
        profile = {
            "driver": "GTiff",
            "width": result.width,
            "height": result.height,
            "count": dataset.count,
            "dtype": dtype,
            "crs": result.crs,
            "transform": result.transform,
            "nodata": out_nodata,
            "tiled": True,
            "blockxsize": BLOCK_SIZE,
            "blockysize": BLOCK_SIZE,
            "sparse_ok": True,  # tiles never written (outside the area) read as no-data
            "bigtiff": "IF_NEEDED",
        }
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.") as tmp:
            work, cog = Path(tmp) / "work.tif", Path(tmp) / "cog.tif"
            with rasterio.open(work, "w", **profile) as out:
                valid = _copy_inside(dataset, area, window, out, out_nodata)
                factors = overview_factors(result.width, result.height)
                if factors:
                    out.build_overviews(factors, RESAMPLING[overview_resampling])
            options = cog_options(dtype, overview_resampling)
            rasterio.shutil.copy(work, cog, driver="COG", **options)
            os.replace(cog, target)
    return dataclasses.replace(result, valid_pixels=valid)


def _copy_inside(
    dataset: DatasetReader, area: BaseGeometry, window: Window, out: DatasetWriter, nodata: float
) -> int:
    """Copy the area's pixels of `window` into `out` (whose origin is the window's) chunk by
    chunk, no-data elsewhere; returns the number of pixels inside with data."""
    src_nodata = dataset.nodata
    dtype = np.dtype(dataset.dtypes[0])
    remap = dtype.kind == "f" or (src_nodata is not None and src_nodata != nodata)
    valid = 0
    origin = (int(window.row_off), int(window.col_off))
    for chunk in chunks(
        dataset, area, window, rows=BLOCK_SIZE, cols=BLOCK_SIZE * CHUNK_TILES, origin=origin
    ):
        part = chunk.reach(dataset.transform)
        if part is None:
            continue
        data = dataset.read(window=part)
        if remap:
            data[is_nodata(data, src_nodata)] = nodata
        inside = chunk.mask(part)
        if chunk.inside is not True:
            data[:, ~inside] = nodata
        valid += int(np.count_nonzero(inside & ~is_nodata(data[0], nodata)))
        if part != chunk.window:  # padded to whole tiles: no partial tiles to merge later
            whole = chunk.window
            padded = np.full((dataset.count, whole.height, whole.width), nodata, dtype)
            top, left = part.row_off - whole.row_off, part.col_off - whole.col_off
            padded[:, top : top + part.height, left : left + part.width] = data
            data, part = padded, whole
        row, col = part.row_off - window.row_off, part.col_off - window.col_off
        out.write(data, window=Window(col, row, part.width, part.height))
    return valid
