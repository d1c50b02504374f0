"""Vector files GDAL reads (GeoPackage, Shapefile, GeoJSON, GML), streamed via Arrow."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError

from planungsdaten.harvest.errors import SourceFormatError
from planungsdaten.harvest.geometry import WKB_COLUMN


def dataset_path(path: Path, member: str | None) -> str:
    """What GDAL opens: the file itself, or a member of a ZIP archive."""
    return f"/vsizip/{path}/{member}" if member else str(path)


def count_features(path: Path, layer: str | None, member: str | None = None) -> int | None:
    """Feature count when the driver knows it cheaply (for progress bars), else None."""
    try:
        info = pyogrio.read_info(dataset_path(path, member), layer=layer)
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
    try:
        with pyogrio.open_arrow(
            dataset_path(path, member),
            layer=layer,
            where=where,
            encoding=encoding,
            batch_size=batch_size,
            use_pyarrow=True,
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
