"""The flood theme (Hochwasser und Gelände): the scenarios and their German names, the
indicators of flood zones and terrain for a region, and the rasters cut to the area.

Scenarios follow the flood risk management directive (HWRM-RL, § 74 WHG): HQhäufig (high
probability), HQ100 (medium, the 100-year flood that Überschwemmungsgebiete are based on)
and HQextrem (low probability, extreme event)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Connection

from planungsdaten.db.queries import query
from planungsdaten.packages.model import PackageRaster
from planungsdaten.rasters.analysis import slope_share, zonal_stats
from planungsdaten.rasters.clip import AreaOutsideRasterError, clip_to_area
from planungsdaten.rasters.store import RasterLayer

SQL = "planungsdaten.packages"

# scenario code → (German name, short label for legends)
SCENARIOS: dict[str, tuple[str, str]] = {
    "HQhaeufig": ("Hochwasser mit hoher Wahrscheinlichkeit (HQhäufig)", "HQhäufig"),
    "HQ100": ("Hochwasser mit mittlerer Wahrscheinlichkeit (HQ100)", "HQ100"),
    "HQextrem": ("Hochwasser mit niedriger Wahrscheinlichkeit (HQextrem)", "HQextrem"),
}
KINDS = {
    "gefahrenflaeche": "Hochwassergefahrenfläche",
    "festgesetzt": "festgesetztes Überschwemmungsgebiet",
    "vorlaeufig": "vorläufig gesichertes Überschwemmungsgebiet",
}
# the scenarios a package reports indicators for, with the key part of the indicators
INDICATOR_SCENARIOS = (("HQ100", "hq100"), ("HQextrem", "hqextrem"))
# the raster layer (raster.layer of its source) holding terrain heights
TERRAIN_LAYER = "gelaende"
STEEP_PERCENT = 10.0

Values = dict[str, float | None]


def label_zones(frame: pd.DataFrame) -> pd.DataFrame:
    """The zones layer with German names of scenario and kind beside the codes."""
    out = frame.copy()
    position = out.columns.get_loc("szenario") + 1 if "szenario" in out else len(out.columns)
    names = out["szenario"].map(lambda s: SCENARIOS.get(s, (s, s))[0])
    out.insert(int(position), "szenario_name", names)
    if "art" in out:
        out["art"] = out["art"].map(lambda k: KINDS.get(k, k))
    return out


def zone_values(
    conn: Connection, area: bytes, area_m2: float, resolution: int | None
) -> tuple[Values, list[int]]:
    """Per reported scenario: share of the region in its zones, residents (Zensus grid of
    `resolution`, area-weighted) and buildings touching its zones inside the region; and
    the Zensus dataset versions the residents come from."""
    rows = {
        r.scenario: r
        for r in conn.execute(query("ind_flood", SQL), {"area": area, "resolution": resolution})
    }
    grid_versions = sorted({int(v) for r in rows.values() for v in (r.grid_versions or [])})
    values: Values = {}
    for scenario, key in INDICATOR_SCENARIOS:
        row: Any = rows.get(scenario)
        zone_m2 = float(row.zone_m2) if row is not None else 0.0
        values[f"hochwasser_{key}_flaeche_ha"] = zone_m2 / 1e4
        values[f"hochwasser_{key}_anteil"] = 100.0 * zone_m2 / area_m2 if area_m2 else None
        values[f"hochwasser_{key}_gebaeude"] = float(row.buildings) if row is not None else 0.0
        if resolution is None:
            values[f"hochwasser_{key}_einwohner"] = None
        else:
            residents = row.residents if row is not None else None
            values[f"hochwasser_{key}_einwohner"] = float(residents or 0.0)
    return values, grid_versions


def terrain_layer(rasters: Sequence[RasterLayer]) -> RasterLayer | None:
    """The current terrain model among the rasters, if one is loaded."""
    return next((r for r in rasters if r.layer == TERRAIN_LAYER), None)


def terrain_values(rasters: Sequence[RasterLayer], region: BaseGeometry) -> Values:
    """Mean and highest terrain height and the share (%) of cells steeper than
    STEEP_PERCENT, over the terrain cells whose centre lies in the region; nothing when no
    terrain model is loaded, None when the region lies outside it."""
    terrain = terrain_layer(rasters)
    if terrain is None:
        return {}
    try:
        stats = zonal_stats(terrain.path, region)
        steep = slope_share(terrain.path, region, STEEP_PERCENT)
    except AreaOutsideRasterError:
        stats, steep = None, None
    return {
        "gelaende_hoehe_mittel": stats.mean if stats else None,
        "gelaende_hoehe_max": stats.max if stats else None,
        "gelaende_steil_anteil": None if steep is None else 100.0 * steep,
    }


def clip_rasters(
    rasters: Sequence[RasterLayer], area: BaseGeometry, folder: Path
) -> list[tuple[PackageRaster, Path]]:
    """Each raster overlapping the area cut to it as a COG `folder/raster/<layer>.tif`, on
    the raster's own pixel grid; rasters without a cell centre in the area are left out."""
    out = []
    for raster in rasters:
        if not raster.footprint.intersects(area):
            continue
        name = f"raster/{raster.layer}.tif"
        try:
            clip_to_area(raster.path, area, folder / name, nodata=raster.nodata)
        except AreaOutsideRasterError:
            continue
        out.append(
            (
                PackageRaster(
                    name=name,
                    layer=raster.layer,
                    title=raster.title,
                    bands=list(raster.bands),
                    resolution_m=raster.resolution_m,
                    source_id=raster.source_id,
                    version_id=raster.version_id,
                ),
                folder / name,
            )
        )
    return out


def raster_notes(rasters: Sequence[PackageRaster]) -> list[str]:
    """The report's note on the raster files, if the package holds any."""
    if not rasters:
        return []
    names = ", ".join(f"{r.name} ({r.title})" for r in rasters)
    return [
        f"Rasterdaten liegen als Cloud-Optimized GeoTIFF (EPSG:25832) im Ordner „raster“: "
        f"{names}. Sie sind auf das Gebiet zugeschnitten; Zellen außerhalb des Gebiets sind "
        "als NoData gesetzt, das Zellraster der Quelle bleibt erhalten."
    ]
