"""The sample generator: deterministic files in the real VG250 structure."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyogrio

from sample_data import generate


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_generator_is_deterministic(tmp_path: Path) -> None:
    first = generate.generate(tmp_path / "a")
    second = generate.generate(tmp_path / "b")
    assert [p.name for p in first] == [p.name for p in second]
    assert [_sha(p) for p in first] == [_sha(p) for p in second]


def test_boundaries_tile_the_sample_area(sample_dir: Path) -> None:
    path = sample_dir / generate.BOUNDARIES_FILE
    info = pyogrio.read_info(path, layer="vg250_gem")
    assert info["crs"] == "EPSG:25832" and info["features"] == 8
    assert {"ARS", "AGS", "GEN", "BEZ", "GF"} <= set(info["fields"])
    frame = pyogrio.read_dataframe(path, layer="vg250_gem")
    assert frame.geometry.is_valid.all()
    muecheln = frame.set_index("AGS").loc[generate.SAMPLE_AGS]
    assert muecheln.GEN == "Mücheln (Geiseltal)" and muecheln.ARS == "150880235235"
    # neighbours share borders without overlapping
    union_area = frame.geometry.union_all().area
    assert abs(union_area - frame.geometry.area.sum()) < 1.0
    # Saalekreis lies in UTM zone 32 east of 670 km, north of 5,680 km
    minx, miny, maxx, maxy = frame.total_bounds
    assert 660_000 < minx < maxx < 730_000 and 5_670_000 < miny < maxy < 5_715_000
