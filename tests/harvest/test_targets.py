"""Mapping boundary records to municipality rows (pure, no database)."""

from __future__ import annotations

import geopandas as gpd
import shapely
from shapely.geometry import Point, Polygon

from planungsdaten.harvest.sources import SourceDefinition
from planungsdaten.harvest.targets import derive_ags, map_municipalities

SQUARE = Polygon([(0, 0), (100, 0), (100, 100), (0, 100)])
BOWTIE = Polygon([(0, 0), (100, 100), (100, 0), (0, 100)])  # self-intersecting


def _source(sample_source: SourceDefinition, **mapping: str) -> SourceDefinition:
    return sample_source.model_copy(update={"mapping": mapping or sample_source.mapping})


def test_ags_from_ars() -> None:
    assert derive_ags("150880235235") == "15088235"
    assert derive_ags("150885051030") == "15088030"  # member of a Verbandsgemeinde


def test_rows_rejections_and_repairs(sample_source: SourceDefinition) -> None:
    frame = gpd.GeoDataFrame(
        {
            "ARS": [
                "150880235235",
                "15088023523",
                "150880235235",
                "150880220220",
                None,
                "150880065065",
            ],
            "AGS": ["15088235", None, "15088999", None, None, None],
            "GEN": ["Mücheln (Geiseltal)", "x", "y", "Merseburg", "z", "Braunsbedra"],
        },
        geometry=[SQUARE, SQUARE, SQUARE, BOWTIE, SQUARE, Point(1, 1)],
        crs="EPSG:25832",
    )
    source = _source(sample_source, ars="ARS", ags="AGS", name="GEN")
    out = map_municipalities(frame, source, offset=10)
    assert [r[0] for r in out.rows] == ["15088235", "15088220"]
    first = out.rows[0]
    assert first[1] == "150880235235" and first[2] == "Mücheln (Geiseltal)"
    assert first[3] == "Saalekreis"  # district from the AGS when the source has none
    repaired = shapely.from_wkb(out.rows[1][4])
    assert repaired.geom_type == "MultiPolygon" and repaired.is_valid
    assert shapely.get_srid(repaired) == 25832
    reasons = [(r.ref, r.reason) for r in out.rejections]
    assert reasons == [
        ("Objekt 12", "ARS '15088023523' hat nicht 12 Ziffern"),
        ("AGS 15088999", "AGS 15088999 passt nicht zum ARS 150880235235 (erwartet 15088235)"),
        ("Objekt 15", "AGS und ARS fehlen"),
        ("AGS 15088065", "Geometrie ist keine Fläche, sondern Point"),
    ]
    assert out.rejections[0].record["GEN"] == "x"
    assert "geometry_wkt" in out.rejections[0].record


def test_filter_skips_instead_of_rejecting(sample_source: SourceDefinition) -> None:
    frame = gpd.GeoDataFrame(
        {"ARS": ["150880235235", "031510000000"]}, geometry=[SQUARE, SQUARE], crs="EPSG:25832"
    )
    source = sample_source.model_copy(
        update={
            "mapping": {"ars": "ARS"},
            "filter": sample_source.filter.model_copy(update={"ags_prefix": "15"}),
        }
    )
    out = map_municipalities(frame, source, offset=0)
    assert len(out.rows) == 1 and out.skipped == 1 and not out.rejections
