"""Read one layer of fetched files, whatever their format, as batches in EPSG:25832."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import geopandas as gpd
from pyproj.exceptions import CRSError

from planungsdaten.harvest.errors import SourceFormatError
from planungsdaten.harvest.formats.bast import read_jawe
from planungsdaten.harvest.formats.delimited import read_delimited
from planungsdaten.harvest.formats.nas import read_nas_frames
from planungsdaten.harvest.formats.spreadsheet import read_xlsx
from planungsdaten.harvest.formats.vector import count_features, read_vector
from planungsdaten.harvest.formats.xplan import read_xplan_frames
from planungsdaten.harvest.formats.zensus import read_grid_batches
from planungsdaten.harvest.geometry import WKB_COLUMN
from planungsdaten.harvest.sources import Format
from planungsdaten.harvest.targets import SKIPPED_ATTR, STORAGE_SRID


def _frames(
    path: Path, fmt: Format, layer: str | None, default_crs: str | None, batch_size: int
) -> Iterator[gpd.GeoDataFrame]:
    if fmt.type == "nas":
        if layer is None:
            raise SourceFormatError("NAS: jede Ebene braucht einen Objektart-Namen (layer)")
        yield from read_nas_frames(path, layer, batch_size)
    elif fmt.type == "xlsx":
        yield from read_xlsx(
            path,
            sheet=fmt.sheet,
            x=fmt.x,
            y=fmt.y,
            crs=default_crs,
            batch_size=batch_size,
            header_row=fmt.header_row,
        )
    elif fmt.type == "xplan":
        yield from read_xplan_frames(path, layer, batch_size)
    elif fmt.type == "jawe":
        yield from read_jawe(path, year=fmt.year, batch_size=batch_size)
    elif fmt.type == "zensus":
        for batch in read_grid_batches(
            path,
            resolution_m=fmt.resolution_m,
            member=fmt.member,
            extent_3035=fmt.extent_3035,
            batch_size=batch_size,
        ):
            # cells carry no geometry of their own: grid_cell is built from their ids
            frame = gpd.GeoDataFrame(batch, geometry=[None] * len(batch), crs="EPSG:25832")
            frame.attrs[SKIPPED_ATTR] = int(batch.attrs.get("outside_extent", 0))
            yield frame
    elif fmt.type == "csv":
        yield from read_delimited(
            path,
            x=fmt.x,
            y=fmt.y,
            wkt=fmt.wkt,
            encoding=fmt.encoding,
            delimiter=fmt.delimiter,
            decimal=fmt.decimal,
            crs=default_crs,
            batch_size=batch_size,
        )
    else:
        yield from read_vector(
            path,
            layer=layer,
            member=fmt.member,
            where=fmt.where,
            encoding=fmt.encoding,
            default_crs=default_crs,
            batch_size=batch_size,
            format_name=fmt.type,
        )


def read_layer(
    paths: Sequence[Path],
    fmt: Format,
    layer: str | None,
    default_crs: str | None,
    batch_size: int,
) -> Iterator[gpd.GeoDataFrame]:
    """Batches of at most `batch_size` records from every file in turn, in EPSG:25832."""
    for path in paths:
        for frame in _frames(path, fmt, layer, default_crs, batch_size):
            if frame.crs is None:
                if default_crs is None:
                    raise SourceFormatError(
                        f"{path.name}: kein Koordinatenreferenzsystem angegeben; "
                        "'crs' in der Quelldefinition setzen"
                    )
                frame = frame.set_crs(default_crs)
            if frame.crs.to_epsg() != STORAGE_SRID:
                if WKB_COLUMN in frame.columns:  # the source's WKB no longer fits
                    frame = frame.drop(columns=WKB_COLUMN)
                try:
                    frame = frame.to_crs(epsg=STORAGE_SRID)
                except CRSError as e:
                    raise SourceFormatError(f"{path.name}: Umprojektion unmöglich: {e}") from e
            yield frame


def count_layer(paths: Sequence[Path], fmt: Format, layer: str | None) -> int | None:
    """Total records to expect, when cheaply known (GDAL formats), for progress bars."""
    if fmt.type not in ("gpkg", "shapefile", "geojson", "gml"):
        return None
    total = 0
    for path in paths:
        count = count_features(path, layer, fmt.member)
        if count is None:
            return None
        total += count
    return total
