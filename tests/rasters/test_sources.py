"""Raster source definitions: the `raster:` block, format geotiff and target raster go
together; mistakes name the key and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from planungsdaten.harvest.errors import SourceDefinitionError
from planungsdaten.harvest.sources import RASTER_TARGET, load_source, load_sources
from planungsdaten.settings import PROJECT_DIR
from tests.rasters.conftest import raster_definition


def _write(folder: Path, text: str) -> Path:
    path = folder / "def.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_raster_definition_loads(tmp_path: Path) -> None:
    source = raster_definition(
        tmp_path,
        "dgm.tif",
        crs="EPSG:25832",
        extra="  nodata: -9999\n  resolution_m: 10\n  resampling: bilinear\n",
    )
    assert source.format.type == "geotiff"
    assert source.targets == [RASTER_TARGET]
    assert [(layer.layer, layer.target, layer.mapping) for layer in source.layers] == [
        ("gelaende", RASTER_TARGET, {})
    ]
    assert source.raster is not None
    assert source.raster.layer == "gelaende"
    assert source.raster.bands[0].unit == "m"
    assert source.raster.nodata == -9999
    assert source.raster.resolution_m == 10
    assert source.raster.resampling == "bilinear"


def test_resampling_defaults_to_nearest(tmp_path: Path) -> None:
    source = raster_definition(tmp_path, "klassen.tif")
    assert source.raster is not None
    assert source.raster.resampling == "nearest"
    assert source.raster.resolution_m is None
    assert source.raster.nodata is None


def test_shipped_raster_definitions_validate() -> None:
    rasters = [s for s in load_sources(PROJECT_DIR / "harvesters").values() if s.raster]
    for source in rasters:
        assert source.format.type == "geotiff"
        assert source.layers[0].name == source.raster.layer  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("target: raster\n", "target: municipality\nmapping: {ags: AGS}\n", "target must be"),
        ("format: {type: geotiff}", "format: {type: gpkg}", "raster: block needs format"),
        ("  layer: gelaende", "  layer: Gelände", "raster.layer"),
        ("  layer: gelaende", "  layer: 1dgm", "raster.layer"),
        ("      unit: m\n", "      unit: m\n  resampling: lanczos\n", "raster.resampling"),
        ("      unit: m\n", "      unit: m\n  resolution_m: 0\n", "raster.resolution_m"),
        ("      unit: m\n", "      unit: m\n  farbe: rot\n", "raster.farbe"),
        ("    - name: hoehe\n", "    - name: hoehe\n      gewicht: 1\n", "raster.bands.0.gewicht"),
        ("target: raster\n", "target: raster\nmapping: {hoehe: band1}\n", "takes no mapping"),
    ],
)
def test_broken_raster_definitions_say_key_and_problem(
    tmp_path: Path, old: str, new: str, problem: str
) -> None:
    valid = raster_definition(tmp_path, "dgm.tif")
    assert valid.path is not None
    text = valid.path.read_text("utf-8")
    assert old in text
    path = _write(tmp_path, text.replace(old, new))
    with pytest.raises(SourceDefinitionError) as info:
        load_source(path)
    assert problem in str(info.value)
    assert str(path) in str(info.value)


def test_no_bands_or_duplicate_bands_are_refused(tmp_path: Path) -> None:
    valid = raster_definition(tmp_path, "dgm.tif", bands=2)
    assert valid.path is not None
    text = valid.path.read_text("utf-8")
    path = _write(tmp_path, text.replace("name: hoehe1", "name: hoehe"))
    with pytest.raises(SourceDefinitionError, match="same band name appears twice"):
        load_source(path)
    start, end = text.index("  bands:\n"), text.index("target: raster")
    path = _write(tmp_path, text[:start] + "  bands: []\n" + text[end:])
    with pytest.raises(SourceDefinitionError, match=r"raster\.bands"):
        load_source(path)


def test_geotiff_without_raster_block_is_refused(tmp_path: Path) -> None:
    valid = raster_definition(tmp_path, "dgm.tif")
    assert valid.path is not None
    text = valid.path.read_text("utf-8")
    start, end = text.index("raster:\n"), text.index("target: raster")
    path = _write(tmp_path, text[:start] + text[end:])
    with pytest.raises(SourceDefinitionError, match="needs a raster: block"):
        load_source(path)
