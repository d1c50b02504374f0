"""to_cog and the checks before it, on small generated GeoTIFFs: the COG is tiled, DEFLATE
compressed, in EPSG:25832, has overviews and holds the source's values; broken files,
missing or contradicting CRSs are refused with German messages and leave no file behind."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from pyproj import Transformer

from planungsdaten.rasters.errors import (
    RasterCrsError,
    RasterExtentError,
    RasterFormatError,
)
from planungsdaten.rasters.store import (
    SACHSEN_ANHALT_BBOX,
    check_in_area,
    describe_source,
    to_cog,
)
from tests.rasters.conftest import HEIGHT, ORIGIN, RES, WIDTH, height_at, write_geotiff


def _cog(source: Path, target: Path, **options: object) -> None:
    arguments: dict[str, object] = {
        "crs": None,
        "nodata": None,
        "resolution_m": None,
        "resampling": "nearest",
    }
    arguments.update(options)
    to_cog(source, target, **arguments)  # type: ignore[arg-type]


def assert_cog(path: Path) -> None:
    """Tiled 512, DEFLATE with predictor, COG layout, overviews, EPSG:25832."""
    with rasterio.open(path) as cog:
        structure = cog.tags(ns="IMAGE_STRUCTURE")
        assert structure["LAYOUT"] == "COG"
        assert structure["COMPRESSION"] == "DEFLATE"
        predictor = "3" if np.dtype(cog.dtypes[0]).kind == "f" else "2"
        assert structure["PREDICTOR"] == predictor
        assert cog.profile["tiled"]
        assert cog.block_shapes[0] == (512, 512)
        assert cog.crs.to_epsg() == 25832
        if max(cog.width, cog.height) > 512:
            assert cog.overviews(1)


def test_converts_to_a_cog_with_the_same_grid_and_values(dgm: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.tif"
    info = to_cog(dgm, target, crs=None, nodata=None, resolution_m=None, resampling="bilinear")
    assert_cog(target)
    assert (info.width, info.height, info.count, info.dtype) == (WIDTH, HEIGHT, 1, "float32")
    assert info.resolution_m == RES
    assert info.nodata == -9999
    assert info.bounds == (
        ORIGIN[0],
        ORIGIN[1] - HEIGHT * RES,
        ORIGIN[0] + WIDTH * RES,
        ORIGIN[1],
    )
    with rasterio.open(dgm) as src, rasterio.open(target) as cog:
        assert cog.transform == src.transform
        assert np.array_equal(cog.read(1), src.read(1))  # bit for bit, nodata row included
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("out")] == ["out.tif"]


def test_large_enough_raster_gets_overviews(tmp_path: Path) -> None:
    source = write_geotiff(tmp_path / "gross.tif", width=1400, height=1100, dtype="int16")
    target = tmp_path / "out.tif"
    _cog(source, target)
    assert_cog(target)
    with rasterio.open(target) as cog:
        assert cog.overviews(1) == [2, 4]
    with rasterio.open(source) as src, rasterio.open(target) as cog:
        assert np.array_equal(cog.read(1), src.read(1))


def test_cog_input_is_taken(tmp_path: Path) -> None:
    source = write_geotiff(tmp_path / "dgm-cog.tif", cog=True)
    with rasterio.open(source) as src:
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        values = src.read(1)
    target = tmp_path / "out.tif"
    _cog(source, target)
    assert_cog(target)
    with rasterio.open(target) as cog:
        assert np.array_equal(cog.read(1), values)


def _sample_points() -> list[tuple[float, float]]:
    """Points (EPSG:25832) well inside the test area, off the cell edges."""
    rng = np.random.default_rng(7)
    xs = ORIGIN[0] + 200 + rng.random(40) * (WIDTH * RES - 400)
    ys = ORIGIN[1] - 200 - rng.random(40) * (HEIGHT * RES - 600)
    return list(zip(xs.tolist(), ys.tolist(), strict=True))


@pytest.mark.parametrize(
    ("crs", "origin", "res", "expected_res"),
    [
        # the same area in ETRS89 / UTM 33N (10 m cells: kept) and in WGS 84, where cells
        # of 0.00014° are 9.7 m × 15.6 m: the COG's square cells keep their area
        ("EPSG:25833", (276_000.0, 5_689_300.0), 10.0, 10.0),
        ("EPSG:4326", (11.785, 51.3115), 0.00014, 12.3),
    ],
)
def test_reprojects_to_25832(
    tmp_path: Path, crs: str, origin: tuple[float, float], res: float, expected_res: float
) -> None:
    # the source covers the test area in its own CRS with the same surface
    source = write_geotiff(
        tmp_path / "fremd.tif", crs=crs, origin=origin, res=res, width=340, height=260
    )
    target = tmp_path / "out.tif"
    info = to_cog(source, target, crs=None, nodata=None, resolution_m=None, resampling="bilinear")
    assert_cog(target)
    assert info.resolution_m == expected_res
    # the grid is aligned to multiples of the cell size (like gdalwarp -tap)
    assert info.bounds[0] / info.resolution_m == pytest.approx(
        round(info.bounds[0] / info.resolution_m)
    )
    points = [p for p in _sample_points() if _inside(p, info.bounds, margin=50)]
    assert len(points) > 20
    with rasterio.open(target) as cog:
        values = np.array([v[0] for v in cog.sample(points)], dtype="float64")
    # cells the turned image does not reach are no-data
    values[values == info.nodata] = np.nan
    valid = np.isfinite(values)
    assert valid.sum() > 20
    points = [p for p, ok in zip(points, valid, strict=True) if ok]
    values = values[valid]
    x, y = np.array(points).T
    # bilinear between 10 m cells of a smooth surface: centimetres off
    assert np.allclose(values, height_at(x, y), atol=0.25)
    # the same points read from the source in its own CRS agree too
    to_source = Transformer.from_crs("EPSG:25832", crs, always_xy=True)
    with rasterio.open(source) as src:
        direct = np.array([v[0] for v in src.sample(zip(*to_source.transform(x, y), strict=True))])
    assert np.allclose(values, direct, atol=0.5)


def _inside(point: tuple[float, float], bounds: tuple[float, ...], margin: float) -> bool:
    x, y = point
    return (
        bounds[0] + margin < x < bounds[2] - margin and bounds[1] + margin < y < bounds[3] - margin
    )


def test_reprojection_without_nodata_marks_empty_cells(tmp_path: Path) -> None:
    source = write_geotiff(
        tmp_path / "utm33.tif", crs="EPSG:25833", origin=(276_000.0, 5_689_300.0), nodata=None
    )
    target = tmp_path / "out.tif"
    info = to_cog(source, target, crs=None, nodata=None, resolution_m=None, resampling="nearest")
    # float data: NaN for the corners the rotated image leaves empty
    assert info.nodata is not None and np.isnan(info.nodata)
    with rasterio.open(target) as cog:
        band = cog.read(1)
    assert np.isnan(band[0, 0]) and np.isfinite(band[band.shape[0] // 2, band.shape[1] // 2])


def test_resamples_to_the_declared_resolution(dgm: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.tif"
    info = to_cog(dgm, target, crs=None, nodata=None, resolution_m=25, resampling="average")
    assert info.resolution_m == 25
    assert (info.width, info.height) == (120, 80)
    with rasterio.open(target) as cog:
        assert cog.res == (25.0, 25.0)
        centre = (ORIGIN[0] + 1012.5, ORIGIN[1] - 987.5)
        value = next(cog.sample([centre]))[0]
    assert value == pytest.approx(
        float(height_at(np.array(centre[0]), np.array(centre[1]))), abs=0.3
    )


def test_declared_crs_and_nodata_fill_what_the_file_lacks(tmp_path: Path) -> None:
    source = write_geotiff(tmp_path / "ohne.tif", crs=None, nodata=None)
    target = tmp_path / "out.tif"
    info = to_cog(
        source, target, crs="EPSG:25832", nodata=-9999, resolution_m=None, resampling="nearest"
    )
    assert info.nodata == -9999
    with rasterio.open(target) as cog:
        assert cog.crs.to_epsg() == 25832
        assert cog.nodata == -9999


# --- refusals --------------------------------------------------------------------------------


def _assert_refused(target: Path) -> None:
    assert not [p for p in target.parent.iterdir() if p.name.startswith(target.name)]


def test_random_bytes_are_no_geotiff(tmp_path: Path) -> None:
    source = tmp_path / "kaputt.tif"
    source.write_bytes(os.urandom(50_000))
    target = tmp_path / "out.tif"
    with pytest.raises(RasterFormatError, match=r"kaputt\.tif ist kein lesbares GeoTIFF"):
        _cog(source, target)
    _assert_refused(target)


def test_other_raster_formats_are_refused(tmp_path: Path) -> None:
    source = tmp_path / "bild.tif"
    with rasterio.open(
        source, "w", driver="PNG", width=10, height=10, count=1, dtype="uint8"
    ) as png:
        png.write(np.zeros((1, 10, 10), dtype="uint8"))
    with pytest.raises(RasterFormatError, match=r"kein GeoTIFF, sondern .* PNG"):
        _cog(source, tmp_path / "out.tif")


def test_truncated_cog_fails_while_reading_blocks(tmp_path: Path) -> None:
    """A COG cut in half still opens (its header comes first): the error only surfaces when
    the missing blocks are read, and the conversion reads every one."""
    whole = write_geotiff(tmp_path / "ganz.tif", width=1200, height=1000, cog=True)
    source = tmp_path / "halb.tif"
    source.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with rasterio.open(source) as opened:  # the damage is not visible on opening
        assert (opened.width, opened.height) == (1200, 1000)
    target = tmp_path / "out.tif"
    with pytest.raises(RasterFormatError, match="beschädigt oder unvollständig") as info:
        _cog(source, target)
    assert "halb.tif: Lesen der Rasterdaten abgebrochen" in str(info.value)
    _assert_refused(target)


def test_missing_crs_is_refused(tmp_path: Path) -> None:
    source = write_geotiff(tmp_path / "ohne-crs.tif", crs=None)
    with pytest.raises(RasterCrsError, match=r"gibt kein Koordinatenreferenzsystem an.*`crs:`"):
        _cog(source, tmp_path / "out.tif")


def test_crs_differing_from_the_declared_one_is_refused(tmp_path: Path) -> None:
    source = write_geotiff(tmp_path / "utm33.tif", crs="EPSG:25833", origin=(276_000, 5_689_300))
    with pytest.raises(RasterCrsError) as info:
        _cog(source, tmp_path / "out.tif", crs="EPSG:25832")
    assert "im Koordinatenreferenzsystem EPSG:25833" in str(info.value)
    assert "erwartet EPSG:25832" in str(info.value)


def test_nodata_differing_from_the_declared_one_is_refused(dgm: Path, tmp_path: Path) -> None:
    with pytest.raises(RasterFormatError, match="NoData-Wert -9999 an, die Quelldefinition 0"):
        _cog(dgm, tmp_path / "out.tif", nodata=0)


def test_nodata_outside_the_data_type_is_refused(tmp_path: Path) -> None:
    source = write_geotiff(tmp_path / "klassen.tif", dtype="uint8", nodata=None)
    with pytest.raises(RasterFormatError, match="passt nicht zum Datentyp uint8"):
        _cog(source, tmp_path / "out.tif", nodata=-9999)


def test_world_file_gives_the_georeference(tmp_path: Path) -> None:
    """DGM tiles often come as a plain TIFF with a world file (.tfw) and no CRS."""
    source = tmp_path / "kachel.tif"
    values = np.arange(100, dtype="float32").reshape(1, 10, 10)
    with rasterio.open(
        source, "w", driver="GTiff", width=10, height=10, count=1, dtype="float32"
    ) as tif:
        tif.write(values)
    # pixel size, rotation terms, centre of the upper left pixel
    (tmp_path / "kachel.tfw").write_text("10\n0\n0\n-10\n694005\n5687995\n")
    target = tmp_path / "out.tif"
    info = to_cog(
        source, target, crs="EPSG:25832", nodata=None, resolution_m=None, resampling="nearest"
    )
    assert info.bounds == (694_000.0, 5_687_900.0, 694_100.0, 5_688_000.0)
    with rasterio.open(target) as cog:
        assert np.array_equal(cog.read(), values)


def test_raster_without_georeference_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "bild.tif"
    with rasterio.open(
        source, "w", driver="GTiff", width=10, height=10, count=1, dtype="uint8"
    ) as tif:
        tif.write(np.zeros((1, 10, 10), dtype="uint8"))
    with pytest.raises(RasterFormatError, match="keine Georeferenzierung"):
        _cog(source, tmp_path / "out.tif", crs="EPSG:25832")


def test_raster_outside_sachsen_anhalt_points_at_the_crs(tmp_path: Path) -> None:
    # UTM 33 coordinates in a file that claims UTM 32: lands in the North Sea, not in ST
    source = write_geotiff(tmp_path / "falsch.tif", origin=(276_000.0, 5_689_300.0))
    described = describe_source(source, crs=None, nodata=None)
    with pytest.raises(RasterExtentError) as info:
        check_in_area(described, SACHSEN_ANHALT_BBOX, source.name)
    message = str(info.value)
    assert "falsch.tif liegt außerhalb Sachsen-Anhalts" in message
    assert "276000, 5687300 – 279000, 5689300" in message
    assert "falsches Koordinatenreferenzsystem? (angenommen: EPSG:25832)" in message


def test_footprint_of_a_reprojected_source_is_in_25832(tmp_path: Path) -> None:
    source = write_geotiff(
        tmp_path / "wgs84.tif", crs="EPSG:4326", origin=(11.785, 51.3115), res=0.00014
    )
    described = describe_source(source, crs=None, nodata=None)
    west, _, _, north = described.footprint.bounds
    assert 693_000 < west < 694_500 and 5_687_000 < north < 5_689_000
    check_in_area(described, SACHSEN_ANHALT_BBOX, source.name)  # no error
