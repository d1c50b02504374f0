"""What a package build produces before it is written: layers, indicators, sources used."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
from shapely.geometry.base import BaseGeometry


@dataclass(frozen=True)
class Indicator:
    """One ISEK/IGEK indicator for the area and for the whole municipality, side by side."""

    key: str
    theme: str
    label: str
    unit: str
    area: float | None
    municipality: float | None
    source: str
    reference_date: str
    method: str
    decimals: int = 1


@dataclass(frozen=True)
class SourceUse:
    """A dataset version a package was built from, with what has to be cited."""

    source_id: str
    title: str
    publisher: str
    licence: str
    attribution: str
    access: str
    version_id: int
    target_table: str
    layer: str
    published_at: dt.datetime
    checksum_sha256: str
    feature_count: int | None


@dataclass(frozen=True)
class PackageLayer:
    """A layer of the package; geometries in EPSG:25832 (reprojected only when written)."""

    name: str
    title: str
    theme: str | None
    frame: gpd.GeoDataFrame
    restricted: bool = False


@dataclass(frozen=True)
class PackageRaster:
    """A raster file of the package: a COG cut to the area, and what the report says of it."""

    name: str  # path in the package, e.g. raster/gelaende.tif
    layer: str
    title: str
    bands: list[dict[str, Any]]
    resolution_m: float
    source_id: str
    version_id: int


@dataclass(frozen=True)
class ReportInput:
    """Everything the report shows; all geometries in EPSG:25832."""

    title: str
    area_name: str
    municipality_names: list[str]
    area_ha: float
    data_date: dt.date
    themes: list[tuple[str, str]]
    output_crs: str
    layers: list[PackageLayer]
    area: BaseGeometry
    municipality: BaseGeometry
    indicators: list[Indicator]
    sources: list[SourceUse]
    notes: list[str] = field(default_factory=list)
    rasters: list[PackageRaster] = field(default_factory=list)
