"""Vector files GDAL reads (GeoPackage, Shapefile, GeoJSON, GML), streamed via Arrow.

GDAL picks its driver by content, not by the declared format, and some XML it reads can
reach beyond the file: a DTD's entities, a GML's remote schema (DescribeFeatureType), an
OGR VRT naming other files or URLs. So XML is checked before GDAL opens it (`xmlsafety`),
VRTs are refused and remote schemas are not downloaded.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import geopandas as gpd
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError

from planungsdaten.harvest.errors import SourceFormatError
from planungsdaten.harvest.geometry import WKB_COLUMN
from planungsdaten.harvest.xmlsafety import UnsafeXmlError, read_prolog, refuse_dtd

_VRT_ROOTS = frozenset({"OGRVRTDataSource", "VRTDataset"})
# GDAL would fetch a WFS response's schema itself, past the harvest's host checks
_XML_OPEN_OPTIONS = {"DOWNLOAD_SCHEMA": "NO"}


def dataset_path(path: Path, member: str | None) -> str:
    """What GDAL opens: the file itself, or a member of a ZIP archive."""
    return f"/vsizip/{path}/{member}" if member else str(path)


def _check_xml(source: Path | IO[bytes], label: str, *, read_by_gdal: bool) -> bool:
    """Refuse a VRT, and a DTD in what GDAL reads; True when `source` is XML."""
    prolog = refuse_dtd(source, label) if read_by_gdal else read_prolog(source)
    if prolog is None:
        return False
    if prolog.root is not None and prolog.root.rpartition(":")[2] in _VRT_ROOTS:
        raise UnsafeXmlError(
            f"{label} ist eine GDAL-VRT-Datei (<{prolog.root}>), keine Geodaten: sie kann "
            "beliebige Dateien und Adressen lesen – aus Sicherheitsgründen nicht geöffnet"
        )
    return True


def _check_input(path: Path, member: str | None) -> bool:
    """Check what GDAL will open (the file, a member, or the only file of a ZIP) before it
    does; True when that is XML."""
    try:
        is_xml = _check_xml(path, path.name, read_by_gdal=member is None)
        if member is None and not zipfile.is_zipfile(path):
            return is_xml
        with zipfile.ZipFile(path) as archive:
            infos = (
                [archive.getinfo(member)]
                if member is not None
                else [info for info in archive.infolist() if not info.is_dir()]
            )
            # GDAL opens a ZIP's only file as if it were named; of several files it reads
            # the shapefiles, never an XML sidecar (.shp.xml, .qml): VRTs are refused anyway
            read = member is not None or len(infos) == 1
            for info in infos:
                with archive.open(info) as stream:
                    label = f"{info.filename} in {path.name}"
                    if _check_xml(stream, label, read_by_gdal=read) and read:
                        is_xml = True
    except (KeyError, zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, OSError):
        # missing file or member, damaged or encrypted archive: GDAL says so in its words
        return False
    return is_xml


def _open_options(path: Path, member: str | None) -> dict[str, str]:
    return _XML_OPEN_OPTIONS if _check_input(path, member) else {}


def count_features(path: Path, layer: str | None, member: str | None = None) -> int | None:
    """Feature count when the driver knows it cheaply (for progress bars), else None."""
    options = _open_options(path, member)
    try:
        info = pyogrio.read_info(dataset_path(path, member), layer=layer, **options)
    except (DataSourceError, DataLayerError):
        return None
    count = int(info.get("features", -1))
    return count if count >= 0 else None


def read_vector(
    path: Path,
    *,
    layer: str | None,
    member: str | None,
    where: str | None,
    encoding: str | None,
    default_crs: str | None,
    batch_size: int,
    format_name: str,
) -> Iterator[gpd.GeoDataFrame]:
    """GeoDataFrames of at most `batch_size` features, in the file's CRS (or the default)."""
    options = _open_options(path, member)
    try:
        with pyogrio.open_arrow(
            dataset_path(path, member),
            layer=layer,
            where=where,
            encoding=encoding,
            batch_size=batch_size,
            use_pyarrow=True,
            **options,
        ) as (meta, reader):
            crs = meta.get("crs") or default_crs
            if crs is None:
                raise SourceFormatError(
                    f"{path.name}: die Datei nennt kein Koordinatenreferenzsystem; "
                    "'crs' in der Quelldefinition angeben"
                )
            geometry_column = meta.get("geometry_name") or "wkb_geometry"
            for batch in reader:
                wkb = batch.column(geometry_column).to_numpy(zero_copy_only=False)
                attributes = batch.drop_columns([geometry_column]).to_pandas()
                geometry = shapely.from_wkb(wkb, on_invalid="ignore")
                attributes[WKB_COLUMN] = wkb  # reused as is when no reprojection is needed
                yield gpd.GeoDataFrame(attributes, geometry=geometry, crs=crs)
    except (DataSourceError, DataLayerError) as e:
        raise SourceFormatError(f"{path.name}: nicht lesbar als {format_name}: {e}") from e
