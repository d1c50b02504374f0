"""Sample terrain and flood hazard data for Mücheln (Geiseltal), consistent with each other.

A synthetic digital terrain model (DGM) covers the whole sample municipality: the
Querfurter Platte high in the west, the Geiseltal low in the east with the Geiseltalsee
(water surface 98 m NHN), a few hills, and the valley of the Geisel, which rises west of
the town, runs through it from west to east and flows into the lake, whose banks (a former
open-cast mine) are steep. The flood hazard
areas are derived from that terrain: a scenario's water level is the river bed plus a
rise (HQ10 1.0 m, HQ100 2.0 m, HQ200 3.2 m) and every valley cell below it is flooded, so
the HQ100 area crosses the town's built-up centre and its populated Zensus cells.

Files, in the formats the Land publishes:

- `DGM_Beispiel.tif`: GeoTIFF, EPSG:25832, 10 m, float32, nodata -9999, tiled, DEFLATE
  (heights in m above NHN, DHHN2016).
- `Ueberschwemmungsgebiete_Beispiel.zip`: zipped Shapefiles as the LHW hands out its
  Hochwassergefahrenkarten: `hwgk_wassertiefen` (flooded areas per scenario and water
  depth class; SZENARIO as Sachsen-Anhalt names it: HQ10, HQ100, HQ200) and `gewaesser`
  (the river's centre line).
- `Wassertiefe_HQ100_Beispiel.tif`: water depth of HQ100 (level minus terrain) on the DGM's
  pixel grid, nodata outside the flooded area.

Everything is computed from closed formulas on the grid (no random numbers), so the same
code writes the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import rasterio.features
import shapely
from rasterio.transform import from_origin
from shapely.geometry import LineString, shape

from sample_data.cadastre import write_shapefile_zip

DGM_FILE = "DGM_Beispiel.tif"
FLOOD_ZIP_FILE = "Ueberschwemmungsgebiete_Beispiel.zip"
DEPTH_FILE = "Wassertiefe_HQ100_Beispiel.tif"
ZONES_LAYER = "hwgk_wassertiefen"
RIVER_LAYER = "gewaesser"

CRS = "EPSG:25832"
RESOLUTION = 10.0
NODATA = -9999.0
# the DGM's grid: the sample municipality's bounds, outward to 100 m
WEST, NORTH = 683_900.0, 5_696_300.0
COLUMNS, ROWS = 1_490, 1_510
# the Geiseltalsee as in the sample cadastre (centre, radii) and its water surface
LAKE_CENTRE, LAKE_RADII, LAKE_LEVEL = (696_850.0, 5_688_200.0), (1_350.0, 1_500.0), 98.0
# the Geisel: rises at SOURCE_X, flows into the lake at MOUTH_X; bed heights there
SOURCE_X, MOUTH_X = 686_500.0, 695_600.0
SOURCE_BED, MOUTH_BED = 124.0, 99.5
RIVER_NAME = "Geisel"
VALLEY_REACH_M = 300.0  # flooding only this close to the river (beyond it: other lows)
# scenario as the Land names it, probability, rise of the water level above the bed (m)
SCENARIOS: tuple[tuple[str, str, float], ...] = (
    ("HQ10", "hoch", 1.0),
    ("HQ100", "mittel", 2.0),
    ("HQ200", "niedrig", 3.2),
)
# water depth classes of the Hochwassergefahrenkarten (upper bounds in m)
DEPTH_CLASSES: tuple[tuple[float, str], ...] = (
    (0.5, "0 bis 0,5 m"),
    (1.0, "0,5 bis 1 m"),
    (2.0, "1 bis 2 m"),
    (4.0, "2 bis 4 m"),
    (np.inf, "über 4 m"),
)
DATA_DATE = "2022-12-31"  # the Land's last update of the maps
_ZIP_DATE = (2023, 1, 1, 0, 0, 0)
_HILLS: tuple[tuple[float, float, float, float], ...] = (
    (688_500.0, 5_692_800.0, 18.0, 1_600.0),  # north-west of the town
    (690_500.0, 5_683_800.0, 14.0, 1_300.0),  # south-west
    (697_500.0, 5_693_500.0, 10.0, 1_200.0),  # north of the lake
    (692_300.0, 5_690_300.0, 6.0, 700.0),  # a knoll north of the town
)


def grid_transform() -> rasterio.Affine:
    """The DGM's affine transform (north-up, 10 m pixels)."""
    return from_origin(WEST, NORTH, RESOLUTION, RESOLUTION)


def _centres() -> tuple[np.ndarray, np.ndarray]:
    """Easting and northing of every pixel centre, shape (ROWS, COLUMNS)."""
    xs = WEST + (np.arange(COLUMNS) + 0.5) * RESOLUTION
    ys = NORTH - (np.arange(ROWS) + 0.5) * RESOLUTION
    return np.meshgrid(xs, ys)


def river_y(x: np.ndarray | float) -> np.ndarray:
    """The river's northing at easting x: a gentle meander through the town centre."""
    t = np.asarray(x, dtype=float) - 684_000.0
    return 5_688_140.0 + 90.0 * np.sin(t / 1_400.0) + 40.0 * np.sin(t / 530.0)


def river_line() -> LineString:
    """The Geisel's centre line from its source to the lake, a vertex every 25 m."""
    xs = np.arange(SOURCE_X, MOUTH_X + 1.0, 25.0)
    return LineString(np.column_stack([xs, river_y(xs)]).round(2))


def _river(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance to the river (across the valley) and the bed height at the nearest point."""
    along = np.clip(x, SOURCE_X, MOUTH_X)
    distance = np.hypot(x - along, y - river_y(along))
    bed = SOURCE_BED + (along - SOURCE_X) / (MOUTH_X - SOURCE_X) * (MOUTH_BED - SOURCE_BED)
    return distance, bed


def _lake(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inside the lake, and the (approximate) distance to its shore outside."""
    (cx, cy), (rx, ry) = LAKE_CENTRE, LAKE_RADII
    radius = np.hypot((x - cx) / rx, (y - cy) / ry)
    return radius < 1.0, np.maximum(radius - 1.0, 0.0) * min(rx, ry)


@dataclass(frozen=True)
class Terrain:
    """The DGM and what the flood areas are derived from (arrays of shape (ROWS, COLUMNS))."""

    height: np.ndarray  # m above NHN
    river_distance: np.ndarray
    bed: np.ndarray
    lake: np.ndarray


def terrain() -> Terrain:
    """Heights of the sample area: plateau, hills, the Geisel valley, the lake basin."""
    x, y = _centres()
    height = 158.0 - 42.0 * (x - WEST) / (COLUMNS * RESOLUTION)
    for hx, hy, amplitude, sigma in _HILLS:
        height += amplitude * np.exp(-((x - hx) ** 2 + (y - hy) ** 2) / (2 * sigma**2))
    height += 1.5 * np.sin(x / 730.0) * np.cos(y / 910.0) + 0.8 * np.sin((x + y) / 410.0)
    distance, bed = _river(x, y)
    # the valley: 0.3 m above the bed at the river, rising ever more steeply to the sides
    height = np.minimum(height, bed + 0.3 + 7.0 * (distance / 450.0) ** 1.4)
    lake, shore_distance = _lake(x, y)
    # the lake fills a former open-cast mine: its banks rise steeply (15 %) from the water
    height = np.minimum(height, LAKE_LEVEL + 0.15 * shore_distance)
    # small undulations, so that flood boundaries are not perfectly regular
    height += 0.15 * np.sin(x / 37.0) * np.sin(y / 53.0)
    height = np.where(lake, LAKE_LEVEL, height)
    # the shore strip counts as lake: a flood there is the lake's own level, not a hazard
    return Terrain(height.astype(np.float32), distance, bed, lake | (shore_distance < 20.0))


def flooded(dgm: Terrain, rise: float) -> tuple[np.ndarray, np.ndarray]:
    """Flooded pixels of a scenario and the water depth there (level minus terrain)."""
    level = dgm.bed + rise
    depth = level - dgm.height.astype(float)
    mask = (depth > 0) & (dgm.river_distance < VALLEY_REACH_M) & ~dgm.lake
    return mask, np.where(mask, depth, 0.0)


def depth_class_index(depth: np.ndarray) -> np.ndarray:
    """1-based index into DEPTH_CLASSES of each depth (only meaningful where flooded)."""
    bounds = np.array([upper for upper, _ in DEPTH_CLASSES[:-1]])
    return np.digitize(depth, bounds, right=True) + 1


def zone_polygons(dgm: Terrain) -> gpd.GeoDataFrame:
    """The flooded areas as polygons per scenario and depth class, attributes as the LHW
    names them. Pixel outlines are simplified as a coverage (neighbours keep one shared
    boundary, so classes neither overlap nor leave gaps)."""
    rows = []
    for scenario, probability, rise in SCENARIOS:
        mask, depth = flooded(dgm, rise)
        classes = np.where(mask, depth_class_index(depth), 0).astype(np.uint8)
        shapes = rasterio.features.shapes(
            classes, mask=mask, transform=grid_transform(), connectivity=4
        )
        parts = [(shape(geojson), int(value)) for geojson, value in shapes]
        simplified = shapely.coverage_simplify(
            np.array([p for p, _ in parts], dtype=object), tolerance=6.0
        )
        pieces = sorted(
            zip(simplified, (v for _, v in parts), strict=True),
            key=lambda item: (item[1], *item[0].bounds),
        )
        for number, (polygon, value) in enumerate(pieces, start=1):
            polygon = shapely.set_precision(polygon, 0.01)
            if polygon.is_empty or polygon.area < 1.0:
                continue
            _, label = DEPTH_CLASSES[value - 1]
            rows.append(
                {
                    "OBJ_ID": f"DEST_HWGK_{scenario}_{value}_{number:04d}",
                    "LAND_CD": "DEST",
                    "GEWAESSER": RIVER_NAME,
                    "SZENARIO": scenario,
                    "WAHRSCH": probability,
                    "T_CLASS": value,
                    "TIEFENKL": label,
                    "STAND": DATA_DATE,
                    "geometry": shapely.geometry.MultiPolygon([polygon]),
                }
            )
    return gpd.GeoDataFrame(rows, crs=CRS)


def _write_tif(path: Path, data: np.ndarray, transform: rasterio.Affine, description: str) -> None:
    profile = {
        "driver": "GTiff",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": "float32",
        "crs": CRS,
        "transform": transform,
        "nodata": NODATA,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "DEFLATE",
        "predictor": 3,
    }
    path.unlink(missing_ok=True)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data.astype(np.float32), 1)
        dst.set_band_description(1, description)
        dst.update_tags(1, units="m")
        dst.units = ("m",)


def write_depth(path: Path, dgm: Terrain) -> None:
    """The HQ100 water depth on the DGM's grid, cut to the flooded area's rows and columns."""
    mask, depth = flooded(dgm, dict((s, r) for s, _, r in SCENARIOS)["HQ100"])
    rows, cols = np.nonzero(mask)
    r0, r1 = max(rows.min() - 1, 0), min(rows.max() + 2, ROWS)
    c0, c1 = max(cols.min() - 1, 0), min(cols.max() + 2, COLUMNS)
    window = np.where(mask, depth, NODATA)[r0:r1, c0:c1]
    transform = from_origin(WEST + c0 * RESOLUTION, NORTH - r0 * RESOLUTION, RESOLUTION, RESOLUTION)
    _write_tif(path, window, transform, "Wassertiefe HQ100 (Wasserspiegel minus Gelände)")


def write_zones(path: Path, zones: gpd.GeoDataFrame) -> None:
    """The zones and the river as Shapefiles (UTF-8) in a ZIP with fixed time stamps."""
    river = gpd.GeoDataFrame(
        {
            "GEWAESSER": [RIVER_NAME],
            "LAENGE_M": [round(river_line().length, 1)],
            "geometry": [river_line()],
        },
        crs=CRS,
    )
    write_shapefile_zip(
        path,
        {ZONES_LAYER: zones, RIVER_LAYER: river},
        dbf_date=DATA_DATE,
        zip_date=_ZIP_DATE,
    )


def generate_flood(out_dir: Path) -> list[Path]:
    """Write the DGM, the flood hazard areas and the HQ100 water depth; returns their paths."""
    dgm = terrain()
    dgm_path = out_dir / DGM_FILE
    _write_tif(dgm_path, dgm.height, grid_transform(), "Geländehöhe über NHN (DHHN2016)")
    zones_path = out_dir / FLOOD_ZIP_FILE
    write_zones(zones_path, zone_polygons(dgm))
    depth_path = out_dir / DEPTH_FILE
    write_depth(depth_path, dgm)
    return [dgm_path, zones_path, depth_path]
