"""Flood hazard areas through the pipeline: the sample's zipped Shapefiles as the LHW hands
them out, the normalisation of scenario spellings, and a GeoJSON layer with one scenario."""

from __future__ import annotations

import json
from pathlib import Path

import pyogrio
import pytest
import shapely
from sqlalchemy import Engine, text

from planungsdaten.harvest.run import harvest
from planungsdaten.harvest.sources import Format, SourceDefinition, load_source
from planungsdaten.harvest.targets import flood_scenario
from planungsdaten.settings import PROJECT_DIR, Settings
from sample_data import flood
from tests.conftest import with_file

DEFINITION = PROJECT_DIR / "harvesters" / "sample" / "hochwasser.yaml"


def _sample(sample_dir: Path) -> SourceDefinition:
    return with_file(load_source(DEFINITION), sample_dir / flood.FLOOD_ZIP_FILE)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("HQ100", "HQ100"),
        ("HQ 100", "HQ100"),
        ("hq_100", "HQ100"),
        ("mittlere Wahrscheinlichkeit", "HQ100"),
        ("Hochwasser mit mittlerer Wahrscheinlichkeit", "HQ100"),
        ("Me", "HQ100"),
        ("HQextrem", "HQextrem"),
        ("HQ200", "HQextrem"),
        ("HQ200/HQextrem", "HQextrem"),
        ("niedrige Wahrscheinlichkeit", "HQextrem"),
        ("HQ10", "HQhaeufig"),
        ("HQ20", "HQhaeufig"),
        ("HQhäufig", "HQhaeufig"),
        ("hohe Wahrscheinlichkeit", "HQhaeufig"),
        ("Hochwasser mit hoher Wahrscheinlichkeit", "HQhaeufig"),
        ("HQ75", None),  # a return period of no scenario
        ("HQ100/HQ200", None),  # two scenarios at once
        ("Sturmflut", None),
    ],
)
def test_scenario_spellings(given: str, expected: str | None) -> None:
    assert flood_scenario(given) == expected


def test_sample_shapefile_zip(engine: Engine, settings: Settings, sample_dir: Path) -> None:
    source = _sample(sample_dir)
    result = harvest(engine, source, settings)
    expected = pyogrio.read_dataframe(
        sample_dir / flood.FLOOD_ZIP_FILE, layer=flood.ZONES_LAYER
    ).set_index("OBJ_ID")
    assert result.status == "succeeded"
    assert (result.read, result.loaded, result.rejected) == (len(expected), len(expected), 0)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT source_object_id, scenario, kind, water_body, depth_class, "
                "ST_AsBinary(geom) AS wkb, ST_SRID(geom) AS srid, ST_IsValid(geom) AS valid "
                "FROM flood_zone"
            )
        ).all()
    by_id = {r.source_object_id: r for r in rows}
    assert set(by_id) == set(expected.index)
    # the Land's HQ10 / HQ100 / HQ200 are the directive's three scenarios
    renamed = {"HQ10": "HQhaeufig", "HQ100": "HQ100", "HQ200": "HQextrem"}
    for oid, record in expected.iterrows():
        row = by_id[oid]
        assert row.scenario == renamed[record["SZENARIO"]]
        assert row.kind == "gefahrenflaeche" and row.water_body == "Geisel"
        assert row.depth_class == record["TIEFENKL"]
        assert row.srid == 25832 and row.valid
        stored = shapely.from_wkb(bytes(row.wkb))
        assert stored.geom_type == "MultiPolygon"
        assert stored.symmetric_difference(record.geometry).area < 0.01
    scenarios = {r.scenario for r in rows}
    assert scenarios == {"HQhaeufig", "HQ100", "HQextrem"}


def _geojson(path: Path, scenarios: list[str]) -> Path:
    """A small GeoJSON of squares beside the Geisel, one per scenario value given."""
    features = []
    for number, scenario in enumerate(scenarios):
        x, y = 690_000 + number * 100, 5_688_000
        square = shapely.box(x, y, x + 50, y + 50)
        features.append(
            {
                "type": "Feature",
                "properties": {"id": f"Z{number}", "szenario": scenario, "art": "festgesetzt"},
                "geometry": shapely.geometry.mapping(square),
            }
        )
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::25832"}},
                "features": features,
            }
        ),
        "utf-8",
    )
    return path


def _geojson_source(path: Path, **layer: object) -> SourceDefinition:
    source = with_file(load_source(DEFINITION), path)
    (base,) = source.layers
    mapping = {"source_object_id": "id", "scenario": "szenario", "kind": "art"}
    return source.model_copy(
        update={
            "id": "test-hochwasser-geojson",
            "format": Format(type="geojson"),
            "layers": [
                base.model_copy(
                    update={"layer": None, "mapping": mapping, "constants": {}, **layer}
                )
            ],
        }
    )


def test_unknown_scenario_is_rejected_with_its_reason(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    path = _geojson(tmp_path / "zonen.geojson", ["HQ 100", "niedrige Wahrscheinlichkeit", "HQ75"])
    result = harvest(engine, _geojson_source(path), settings)
    assert (result.read, result.loaded, result.rejected) == (3, 2, 1)
    with engine.connect() as conn:
        loaded = {
            str(oid): str(scenario)
            for oid, scenario in conn.execute(
                text("SELECT source_object_id, scenario FROM flood_zone")
            )
        }
        kinds = set(conn.execute(text("SELECT kind FROM flood_zone")).scalars())
        (reason, record) = conn.execute(
            text("SELECT reason, record FROM rejected_record WHERE harvest_run_id = :run"),
            {"run": result.run_id},
        ).one()
    assert loaded == {"Z0": "HQ100", "Z1": "HQextrem"}
    assert kinds == {"festgesetzt"}
    assert "Hochwasserszenario 'HQ75' unbekannt" in reason
    assert record["szenario"] == "HQ75" and record["id"] == "Z2"


def test_constant_scenario_for_a_whole_layer(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    path = _geojson(tmp_path / "usg.geojson", ["", "", ""])
    source = _geojson_source(
        path,
        mapping={"source_object_id": "id", "kind": "art"},
        constants={"scenario": "HQ 100"},
    )
    result = harvest(engine, source, settings)
    assert result.loaded == 3
    with engine.connect() as conn:
        assert set(conn.execute(text("SELECT scenario FROM flood_zone")).scalars()) == {"HQ100"}
