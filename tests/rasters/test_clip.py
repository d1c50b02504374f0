"""Clipping rasters to an area: the COG's form, its grid and its pixels against a mask of
pixel centres computed independently with shapely."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import shapely
from rasterio.transform import Affine, from_origin
from shapely.geometry import MultiPolygon, Polygon, box

from planungsdaten.rasters import clip
from planungsdaten.rasters.clip import AreaOutsideRasterError, RasterAreaError, clip_to_area
from planungsdaten.rasters.errors import RasterFormatError

# near Mücheln (Geiseltal), EPSG:25832, 10 m pixels
X0, Y0, RES = 694_000.0, 5_688_000.0, 10.0
WIDTH, HEIGHT = 700, 600
TRANSFORM = from_origin(X0, Y0, RES, RES)


def terrain(width: int = WIDTH, height: int = HEIGHT, seed: int = 1) -> np.ndarray[Any, Any]:
    """Smooth heights with some noise (metres)."""
    rows, cols = np.mgrid[0:height, 0:width].astype(float)
    rng = np.random.default_rng(seed)
    return 90 + 0.05 * cols + 20 * np.sin(rows / 37) + rng.normal(0, 0.5, (height, width))


def write_raster(
    path: Path,
    values: np.ndarray[Any, Any],
    *,
    nodata: float | None = -9999.0,
    block: int = 128,
    transform: Affine = TRANSFORM,
) -> Path:
    """A tiled, compressed GeoTIFF in EPSG:25832 with blocks smaller than the raster."""
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=values.shape[1],
        height=values.shape[0],
        count=1,
        dtype=values.dtype,
        crs="EPSG:25832",
        transform=transform,
        nodata=nodata,
        tiled=True,
        blockxsize=block,
        blockysize=block,
        compress="deflate",
    ) as out:
        out.write(values, 1)
    return path


@pytest.fixture
def dgm(tmp_path: Path) -> Path:
    """float32 terrain with a no-data rectangle (rows 200–259, columns 300–379)."""
    values = terrain().astype("float32")
    values[200:260, 300:380] = -9999.0
    return write_raster(tmp_path / "dgm.tif", values)


def x_at(col: float) -> float:
    return X0 + col * RES


def y_at(row: float) -> float:
    return Y0 - row * RES


def irregular_area() -> Polygon:
    """A star-like polygon over the no-data rectangle, vertices off the pixel grid."""
    angles = np.linspace(0, 2 * np.pi, 73)[:-1]
    radius = 2300 + 700 * np.sin(5 * angles) + 130 * np.cos(17 * angles)
    cx, cy = x_at(351.37), y_at(262.71)
    return Polygon(np.column_stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)]))


def expected_clip(
    source: Path, area: Any, nodata: float
) -> tuple[np.ndarray[Any, Any], Affine, int]:
    """The clipped pixels computed with shapely on pixel centres: values, transform, count."""
    with rasterio.open(source) as src:
        values = src.read(1)
        src_nodata = src.nodata
        transform = src.transform
    rows, cols = np.mgrid[0 : values.shape[0], 0 : values.shape[1]]
    xs, ys = transform @ (cols + 0.5, rows + 0.5)
    minx, miny, maxx, maxy = area.bounds
    in_box = (xs >= minx) & (xs <= maxx) & (ys >= miny) & (ys <= maxy)
    box_rows, box_cols = np.nonzero(in_box)
    r0, r1, c0, c1 = box_rows.min(), box_rows.max() + 1, box_cols.min(), box_cols.max() + 1
    inside = shapely.contains_xy(area, xs, ys)
    has_data = np.ones(values.shape, dtype=bool) if src_nodata is None else values != src_nodata
    keep = inside & has_data
    clipped = np.where(keep, values, nodata).astype(values.dtype)[r0:r1, c0:c1]
    return clipped, transform @ Affine.translation(c0, r0), int(keep.sum())


def check_cog(path: Path, dtype: str, nodata: float, overviews: list[int]) -> None:
    with rasterio.open(path) as cog:
        assert cog.driver == "GTiff"
        assert cog.crs.to_epsg() == 25832
        assert cog.dtypes[0] == dtype
        assert cog.nodata == nodata
        assert cog.profile["tiled"] is True
        assert cog.block_shapes[0] == (512, 512)
        assert cog.compression is not None and cog.compression.value == "DEFLATE"
        structure = cog.tags(ns="IMAGE_STRUCTURE")
        assert structure["LAYOUT"] == "COG"
        assert structure["PREDICTOR"] == ("3" if dtype.startswith("float") else "2")
        assert cog.overviews(1) == overviews


@pytest.mark.parametrize("chunk_tiles", [8, 1])
def test_clipped_cog_has_the_area_pixels(
    dgm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_tiles: int
) -> None:
    # one tile wide chunks exercise chunks beside each other as well as below each other
    monkeypatch.setattr(clip, "CHUNK_TILES", chunk_tiles)
    area = irregular_area()
    result = clip_to_area(dgm, area, tmp_path / "out" / "clip.tif")

    values, transform, count = expected_clip(dgm, area, -9999.0)
    assert result.path == tmp_path / "out" / "clip.tif"
    assert (result.height, result.width) == values.shape
    assert result.transform == transform
    assert result.crs.to_epsg() == 25832
    assert result.nodata == -9999.0
    assert result.valid_pixels == count
    assert values.shape[1] > 512  # one overview level
    check_cog(result.path, "float32", -9999.0, [2])
    with rasterio.open(result.path) as cog:
        assert cog.transform == transform
        # the source's grid, shifted by whole pixels
        assert (cog.transform.a, cog.transform.e) == (RES, -RES)
        assert ((cog.transform.c - X0) / RES).is_integer()
        assert ((Y0 - cog.transform.f) / RES).is_integer()
        data = cog.read(1)
    np.testing.assert_array_equal(data, values)
    # the area crosses the no-data rectangle: it stays no-data (and is not counted)
    assert shapely.contains_xy(area, x_at(340.5), y_at(230.5))
    col, row = ~transform @ (x_at(340.5), y_at(230.5))
    assert data[int(row), int(col)] == -9999.0


def test_multipolygon_with_hole(dgm: Path, tmp_path: Path) -> None:
    outer = box(x_at(40.3), y_at(500.6), x_at(300.2), y_at(30.8))
    hole = box(x_at(100.4), y_at(400.1), x_at(200.7), y_at(100.9))
    ring = Polygon(outer.exterior.coords, [hole.exterior.coords])
    island = Polygon(
        [(x_at(450.5), y_at(90.2)), (x_at(640.1), y_at(310.7)), (x_at(420.3), y_at(520.4))]
    )
    area = MultiPolygon([ring, island])

    result = clip_to_area(dgm, area, tmp_path / "multi.tif")

    values, transform, count = expected_clip(dgm, area, -9999.0)
    assert result.transform == transform and result.valid_pixels == count
    with rasterio.open(result.path) as cog:
        data = cog.read(1)
    np.testing.assert_array_equal(data, values)
    # the hole is no-data: a pixel in its middle, in output coordinates
    col, row = ~transform @ (x_at(150.5), y_at(250.5))
    assert data[int(row), int(col)] == -9999.0


def test_area_partly_outside_the_raster(dgm: Path, tmp_path: Path) -> None:
    area = Polygon(
        [(x_at(-80.3), y_at(-50.2)), (x_at(250.6), y_at(-20.4)), (x_at(120.8), y_at(310.1))]
    )

    result = clip_to_area(dgm, area, tmp_path / "corner.tif")

    values, transform, count = expected_clip(dgm, area, -9999.0)
    # the window starts at the raster's corner: only pixels of the raster
    assert transform == TRANSFORM
    assert result.transform == TRANSFORM and (result.height, result.width) == values.shape
    assert result.valid_pixels == count > 0
    with rasterio.open(result.path) as cog:
        np.testing.assert_array_equal(cog.read(1), values)


def test_area_outside_the_raster(dgm: Path, tmp_path: Path) -> None:
    far = box(x_at(800), y_at(100), x_at(900), y_at(0))
    target = tmp_path / "none.tif"
    with pytest.raises(AreaOutsideRasterError, match="außerhalb des Rasters"):
        clip_to_area(dgm, far, target)
    # between pixel centres: overlaps the raster but holds no centre
    sliver = box(x_at(10.6), y_at(20.9), x_at(10.9), y_at(10.1))
    with pytest.raises(AreaOutsideRasterError):
        clip_to_area(dgm, sliver, target)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == [dgm]  # no temporary files left behind


def test_not_a_polygon(dgm: Path, tmp_path: Path) -> None:
    with pytest.raises(RasterAreaError, match="Polygon oder MultiPolygon"):
        clip_to_area(dgm, shapely.Point(x_at(5), y_at(5)).buffer(1).boundary, tmp_path / "x.tif")


def test_nodata_given_replaces_the_source_nodata(dgm: Path, tmp_path: Path) -> None:
    area = irregular_area()
    result = clip_to_area(dgm, area, tmp_path / "nd.tif", nodata=-1.0)

    values, _, count = expected_clip(dgm, area, -1.0)
    assert result.nodata == -1.0 and result.valid_pixels == count
    with rasterio.open(result.path) as cog:
        assert cog.nodata == -1.0
        data = cog.read(1)
    np.testing.assert_array_equal(data, values)
    assert not (data == -9999.0).any()


def test_uint8_without_nodata_gets_the_largest_value(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    values = rng.integers(0, 255, (HEIGHT, WIDTH), dtype="uint8")  # 0..254
    source = write_raster(tmp_path / "classes.tif", values, nodata=None, block=64)
    area = irregular_area()

    result = clip_to_area(source, area, tmp_path / "classes_clip.tif")

    expected, transform, count = expected_clip(source, area, 255)
    assert result.nodata == 255 and result.valid_pixels == count
    check_cog(result.path, "uint8", 255, [2])
    with rasterio.open(result.path) as cog:
        assert cog.transform == transform
        np.testing.assert_array_equal(cog.read(1), expected)


def test_uint8_keeps_its_nodata(tmp_path: Path) -> None:
    values = np.random.default_rng(4).integers(0, 256, (300, 400), dtype="uint8")
    source = write_raster(tmp_path / "u8.tif", values, nodata=0, block=32)
    area = irregular_area().buffer(-1200)

    result = clip_to_area(source, area, tmp_path / "u8_clip.tif")

    expected, _, count = expected_clip(source, area, 0)
    assert result.nodata == 0 and result.valid_pixels == count
    check_cog(result.path, "uint8", 0, [])  # fits one tile: no overviews, as GDAL's COG
    with rasterio.open(result.path) as cog:
        np.testing.assert_array_equal(cog.read(1), expected)


def test_float_without_nodata(tmp_path: Path) -> None:
    values = terrain(300, 200).astype("float32")
    values[50, 60] = np.nan  # NaN is no-data in a float raster
    source = write_raster(tmp_path / "f.tif", values, nodata=None)
    area = box(x_at(20.2), y_at(150.2), x_at(250.2), y_at(10.2))

    result = clip_to_area(source, area, tmp_path / "f_clip.tif")

    assert result.nodata == -9999.0
    assert result.valid_pixels == 230 * 140 - 1
    with rasterio.open(result.path) as cog:
        data = cog.read(1)
        assert cog.nodata == -9999.0
        assert cog.transform == TRANSFORM @ Affine.translation(20, 10)
    # pixels whose centre is inside: columns 20..249, rows 10..149
    assert data.shape == (140, 230)
    assert data[50 - 10, 60 - 20] == -9999.0
    expected = values[10:150, 20:250].copy()
    expected[50 - 10, 60 - 20] = -9999.0
    np.testing.assert_array_equal(data, expected)


def test_unreadable_source(tmp_path: Path) -> None:
    broken = tmp_path / "kaputt.tif"
    broken.write_bytes(b"II*\x00 not a tiff")
    with pytest.raises(RasterFormatError, match="kaputt"):
        clip_to_area(broken, irregular_area(), tmp_path / "x.tif")
