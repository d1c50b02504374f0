"""Stream vector files (GeoPackage, Shapefile, GeoJSON, GML …) in batches via GDAL/Arrow."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError

from planungsdaten.harvest.errors import SourceFormatError
from planungsdaten.harvest.sources import VectorFormat
from planungsdaten.harvest.targets import STORAGE_SRID


def dataset_path(path: Path, fmt: VectorFormat) -> str:
    """What GDAL opens: the file itself, or a member of a ZIP archive."""
    return f"/vsizip/{path}/{fmt.member}" if fmt.member else str(path)


def count_features(path: Path, fmt: VectorFormat) -> int | None:
    """Feature count when the driver knows it cheaply (for progress bars), else None."""
    try:
        info = pyogrio.read_info(dataset_path(path, fmt), layer=fmt.layer)
    except (DataSourceError, DataLayerError):
        return None
    count = int(info.get("features", -1))
    return count if count >= 0 else None


def read_batches(
    path: Path, fmt: VectorFormat, default_crs: str | None, batch_size: int
) -> Iterator[gpd.GeoDataFrame]:
    """GeoDataFrames of at most `batch_size` features, reprojected to EPSG:25832."""
    try:
        with pyogrio.open_arrow(
            dataset_path(path, fmt),
            layer=fmt.layer,
            where=fmt.where,
            encoding=fmt.encoding,
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
                frame = gpd.GeoDataFrame(
                    attributes, geometry=shapely.from_wkb(wkb, on_invalid="ignore"), crs=crs
                )
                yield frame.to_crs(epsg=STORAGE_SRID)
    except (DataSourceError, DataLayerError) as e:
        raise SourceFormatError(f"{path.name}: nicht lesbar als {fmt.type}: {e}") from e
