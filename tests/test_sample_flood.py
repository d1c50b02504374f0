"""The sample terrain, flood hazard areas and water depth: in the published formats and
consistent with each other."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pyogrio
import rasterio
import shapely

from sample_data import flood


def test_terrain_geotiff(sample_dir: Path) -> None:
    with rasterio.open(sample_dir / flood.DGM_FILE) as dgm:
        assert dgm.crs.to_epsg() == 25832 and dgm.res == (10.0, 10.0)
        assert dgm.dtypes == ("float32",) and dgm.nodata == -9999
        assert dgm.profile["tiled"] and dgm.compression.name == "deflate"
        assert dgm.descriptions == ("Geländehöhe über NHN (DHHN2016)",)
        heights = dgm.read(1)
        lake_row, lake_col = dgm.index(*flood.LAKE_CENTRE)
    assert 90 < heights.min() < 100 < 150 < heights.max() < 180
    assert heights[lake_row, lake_col] == flood.LAKE_LEVEL


def test_zones_follow_the_terrain(sample_dir: Path) -> None:
    with zipfile.ZipFile(sample_dir / flood.FLOOD_ZIP_FILE) as archive:
        assert {f"{flood.ZONES_LAYER}.shp", f"{flood.RIVER_LAYER}.shp"} <= set(archive.namelist())
    zones = pyogrio.read_dataframe(sample_dir / flood.FLOOD_ZIP_FILE, layer=flood.ZONES_LAYER)
    assert {"OBJ_ID", "SZENARIO", "WAHRSCH", "GEWAESSER", "TIEFENKL", "T_CLASS"} <= set(zones)
    assert set(zones["SZENARIO"]) == {"HQ10", "HQ100", "HQ200"}
    assert zones["OBJ_ID"].is_unique and zones.geometry.is_valid.all()
    union = {s: zones[zones["SZENARIO"] == s].union_all() for s in ("HQ10", "HQ100", "HQ200")}
    # the rarer the flood, the larger its area; each contains the more frequent ones
    assert union["HQ10"].area < union["HQ100"].area < union["HQ200"].area
    assert union["HQ100"].difference(union["HQ200"]).area < 1.0
    dgm = flood.terrain()
    with rasterio.open(sample_dir / flood.DGM_FILE) as src:
        transform = src.transform
    # every pixel whose centre lies well inside the HQ100 area is below the water level
    rows, cols = np.mgrid[0 : flood.ROWS : 7, 0 : flood.COLUMNS : 7]
    xs, ys = rasterio.transform.xy(transform, rows.ravel(), cols.ravel())
    points = shapely.points(np.asarray(xs), np.asarray(ys))
    inside = shapely.contains(union["HQ100"].buffer(-12.0), points)
    level = dgm.bed[rows, cols].ravel() + 2.0
    heights = dgm.height[rows, cols].ravel()
    assert inside.sum() > 100 and (heights[inside] < level[inside]).all()


def test_water_depth_is_level_minus_terrain(sample_dir: Path) -> None:
    dgm = flood.terrain()
    with rasterio.open(sample_dir / flood.DEPTH_FILE) as depth_file:
        assert depth_file.crs.to_epsg() == 25832 and depth_file.nodata == -9999
        depth = depth_file.read(1, masked=True)
        # the depth raster lies on the DGM's pixel grid
        col_off = (depth_file.transform.c - flood.WEST) / flood.RESOLUTION
        row_off = (flood.NORTH - depth_file.transform.f) / flood.RESOLUTION
    assert col_off.is_integer() and row_off.is_integer()
    r0, c0 = int(row_off), int(col_off)
    window = (slice(r0, r0 + depth.shape[0]), slice(c0, c0 + depth.shape[1]))
    expected = (dgm.bed + 2.0 - dgm.height.astype(float))[window]
    flooded = ~depth.mask
    assert flooded.sum() > 10_000 and (depth[flooded] > 0).all()
    assert np.allclose(depth[flooded], expected[flooded], atol=1e-4)
