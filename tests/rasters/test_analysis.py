"""Raster statistics over an area against numpy on a mask of pixel centres computed with
shapely, and slopes against surfaces whose slope is known."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon, box

from planungsdaten.rasters.analysis import ZonalStats, slope_percent, slope_share, zonal_stats
from planungsdaten.rasters.clip import AreaOutsideRasterError
from tests.rasters.test_clip import (
    HEIGHT,
    RES,
    TRANSFORM,
    WIDTH,
    irregular_area,
    terrain,
    x_at,
    y_at,
)
from tests.rasters.test_clip import write_raster as write

# pixel centres of the test rasters, in EPSG:25832
ROWS, COLS = np.mgrid[0:HEIGHT, 0:WIDTH]
XS, YS = TRANSFORM @ (COLS + 0.5, ROWS + 0.5)


def numpy_stats(values: np.ndarray[Any, Any], area: Any, nodata: float) -> ZonalStats:
    keep = shapely.contains_xy(area, XS, YS) & (values != nodata)
    chosen = values[keep].astype(float)
    return ZonalStats(int(keep.sum()), chosen.min(), chosen.max(), chosen.mean())


def horn(heights: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Slope in percent of the inner pixels, Horn's formula written out pixel by pixel."""
    z = heights.astype(float)
    a, b, c = z[:-2, :-2], z[:-2, 1:-1], z[:-2, 2:]
    d, f = z[1:-1, :-2], z[1:-1, 2:]
    g, h, i = z[2:, :-2], z[2:, 1:-1], z[2:, 2:]
    dzdx = ((c + 2 * f + i) - (a + 2 * d + g)) / (8 * RES)
    dzdy = ((g + 2 * h + i) - (a + 2 * b + c)) / (8 * RES)
    return np.asarray(100 * np.sqrt(dzdx**2 + dzdy**2))


@pytest.fixture
def dgm(tmp_path: Path) -> tuple[Path, np.ndarray[Any, Any]]:
    values = terrain().astype("float32")
    values[200:260, 300:380] = -9999.0
    return write(tmp_path / "dgm.tif", values), values


def test_zonal_stats_equal_numpy(dgm: tuple[Path, np.ndarray[Any, Any]]) -> None:
    path, values = dgm
    for area in (
        irregular_area(),
        MultiPolygon(
            [irregular_area().buffer(-900), box(x_at(600.3), y_at(590.2), x_at(690.7), y_at(500.1))]
        ),
        box(x_at(-50.5), y_at(120.3), x_at(90.2), y_at(-30.6)),  # partly outside
    ):
        stats = zonal_stats(path, area)
        expected = numpy_stats(values, area, -9999.0)
        assert stats.count == expected.count > 0
        assert stats.min == expected.min and stats.max == expected.max
        assert stats.mean == pytest.approx(expected.mean, rel=1e-12)


def test_zonal_stats_without_data_and_outside(dgm: tuple[Path, np.ndarray[Any, Any]]) -> None:
    path, _ = dgm
    only_nodata = box(x_at(310.2), y_at(250.3), x_at(370.6), y_at(210.1))
    assert zonal_stats(path, only_nodata) == ZonalStats(0, None, None, None)
    assert slope_share(path, only_nodata, 10.0) is None
    outside = box(x_at(-100), y_at(700), x_at(-10), y_at(650))
    with pytest.raises(AreaOutsideRasterError):
        zonal_stats(path, outside)
    with pytest.raises(AreaOutsideRasterError):
        slope_share(path, outside, 10.0)


def test_slope_of_a_plane(tmp_path: Path) -> None:
    # z = 0.12 x + 0.16 y: a 20 % slope (0.2 = hypot(0.12, 0.16)) at every pixel
    heights = (0.12 * (XS - XS.min()) + 0.16 * (YS - YS.min())).astype("float64")
    heights[100:130, 200:260] = -9999.0  # a hole: its neighbours extrapolate
    path = write(tmp_path / "plane.tif", heights, block=64)
    # partly outside the raster, around the hole: every edge case of the halo
    area = Polygon(
        [(x_at(-20.3), y_at(-30.7)), (x_at(400.2), y_at(50.1)), (x_at(150.6), y_at(450.9))]
    )
    assert shapely.contains_xy(area, x_at(230.5), y_at(115.5))

    assert slope_share(path, area, 15.0) == 1.0
    assert slope_share(path, area, 25.0) == 0.0
    assert slope_share(path, area, 19.99) == 1.0
    assert slope_share(path, area, 20.01) == 0.0


def test_slope_of_a_hinge(tmp_path: Path) -> None:
    # flat west of a pixel edge, 30 % rising east of it: Horn gives 7.5 % for the last
    # flat column, 22.5 % for the first rising one, 0 and 30 % elsewhere
    edge = x_at(350)
    heights = 0.3 * np.maximum(XS - edge, 0.0)
    path = write(tmp_path / "hinge.tif", heights, block=64)
    area = irregular_area()
    inside = shapely.contains_xy(area, XS, YS)
    total = inside.sum()

    # pixels by their centre: east of the edge, east of the first column, the last flat on
    east = (inside & (edge < XS)).sum() / total
    east_beyond_first = (inside & (edge + RES < XS)).sum() / total
    west_last = (inside & (edge - RES < XS)).sum() / total
    assert slope_share(path, area, 5.0) == pytest.approx(west_last, abs=1e-15)
    assert slope_share(path, area, 15.0) == pytest.approx(east, abs=1e-15)
    assert slope_share(path, area, 25.0) == pytest.approx(east_beyond_first, abs=1e-15)
    assert 0 < east_beyond_first < east < west_last < 1


def test_slope_of_a_cone(tmp_path: Path) -> None:
    # 30 % everywhere but around the apex, where Horn's smoothing lowers it
    apex_x, apex_y = x_at(350.5), y_at(300.5)
    heights = 200 - 0.3 * np.hypot(XS - apex_x, YS - apex_y)
    path = write(tmp_path / "cone.tif", heights, block=64)
    area = shapely.Point(apex_x, apex_y).buffer(2503.7, quad_segs=64)
    inside = shapely.contains_xy(area, XS, YS)[1:-1, 1:-1]
    reference = horn(heights)

    for threshold in (10.0, 29.0, 29.9, 30.1):
        expected = (inside & (reference > threshold)).sum() / inside.sum()
        assert slope_share(path, area, threshold) == pytest.approx(expected, abs=1e-15)
    assert slope_share(path, area, 29.0) == pytest.approx(1.0, abs=0.01)


def test_block_seams_do_not_show(dgm: tuple[Path, np.ndarray[Any, Any]]) -> None:
    path, _ = dgm
    area = irregular_area()
    one = zonal_stats(path, area, chunk=100_000)
    tiny = zonal_stats(path, area, chunk=13)
    assert (tiny.count, tiny.min, tiny.max) == (one.count, one.min, one.max)
    assert tiny.mean == pytest.approx(one.mean, rel=1e-12)
    for threshold in (1.0, 6.0):
        whole = slope_share(path, area, threshold, chunk=100_000)
        assert whole is not None and 0 < whole < 1
        assert slope_share(path, area, threshold, chunk=13) == whole
        assert slope_share(path, area, threshold) == whole


def test_slope_percent_extrapolates_missing_neighbours() -> None:
    rows, cols = np.mgrid[0:6, 0:7].astype(float)
    plane = 0.5 * cols * RES + 0.0 * rows  # 50 % towards east
    halo = np.full((8, 9), np.nan)
    halo[1:-1, 1:-1] = plane  # the halo all missing, as beyond the raster's edge
    halo[3, 4] = np.nan  # one pixel without a height
    slope = slope_percent(halo, RES, RES)
    assert np.isnan(slope[2, 3])
    slope[2, 3] = 50.0
    np.testing.assert_allclose(slope, 50.0, rtol=1e-12)
    # a pixel alone: no neighbour on either side, so no slope
    lone = np.full((3, 3), np.nan)
    lone[1, 1] = 12.0
    assert slope_percent(lone, RES, RES)[0, 0] == 0.0
