"""Mapping source records to canonical rows (pure, vectorised, no database)."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import Point, Polygon

from planungsdaten.harvest.errors import SourceFormatError
from planungsdaten.harvest.sources import Layer, SourceDefinition
from planungsdaten.harvest.targets import derive_ags, map_frame

# a square near Mücheln in EPSG:25832, and a self-intersecting bow tie beside it
X, Y = 693_000, 5_688_000
SQUARE = Polygon([(X, Y), (X + 100, Y), (X + 100, Y + 100), (X, Y + 100)])
BOWTIE = Polygon([(X, Y), (X + 100, Y + 100), (X + 100, Y), (X, Y + 100)])


def _layer(target: str, **mapping: str) -> Layer:
    return Layer(target=target, mapping=mapping)


def _source(
    sample_source: SourceDefinition, layer: Layer, prefix: str | None = None
) -> SourceDefinition:
    update: dict[str, object] = {"layers": [layer]}
    if prefix:
        update["filter"] = sample_source.filter.model_copy(update={"ags_prefix": prefix})
    return sample_source.model_copy(update=update)


def test_ags_from_ars() -> None:
    assert derive_ags("150880235235") == "15088235"
    assert derive_ags("150885051030") == "15088030"  # member of a Verbandsgemeinde


def test_municipalities_rows_rejections_and_repairs(sample_source: SourceDefinition) -> None:
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
        geometry=[SQUARE, SQUARE, SQUARE, BOWTIE, SQUARE, Point(X, Y)],
        crs="EPSG:25832",
    )
    layer = _layer("municipality", ars="ARS", ags="AGS", name="GEN")
    out = map_frame(frame, layer, _source(sample_source, layer), offset=10)
    assert list(out.columns["ags"]) == ["15088235", "15088220"]
    assert out.columns["ars"][0] == "150880235235"
    assert out.columns["name"][0] == "Mücheln (Geiseltal)"
    assert out.columns["district"][0] == "Saalekreis"  # from the AGS when the source has none
    repaired = shapely.from_wkb(out.columns["geom"][1])
    assert repaired.geom_type == "MultiPolygon" and repaired.is_valid
    assert shapely.get_srid(repaired) == 25832
    assert [(r.ref, r.reason) for r in out.rejections] == [
        ("municipality Objekt 12", "ARS '15088023523' hat nicht 12 Ziffern"),
        (
            "municipality Objekt 13 (15088999)",
            "AGS 15088999 passt nicht zum ARS 150880235235 (erwartet 15088235)",
        ),
        ("municipality Objekt 15", "AGS und ARS fehlen"),
        ("municipality Objekt 16", "Geometrie ist keine Fläche, sondern Point"),
    ]
    assert out.rejections[0].record["GEN"] == "x"
    assert "geometry_wkt" in out.rejections[0].record
    assert [r.ref for r in out.repairs] == ["municipality Objekt 14"]
    assert "Self-intersection" in out.repairs[0].reason


def test_filter_skips_instead_of_rejecting(sample_source: SourceDefinition) -> None:
    frame = gpd.GeoDataFrame(
        {"ARS": ["150880235235", "031510000000"]}, geometry=[SQUARE, SQUARE], crs="EPSG:25832"
    )
    layer = _layer("municipality", ars="ARS")
    out = map_frame(frame, layer, _source(sample_source, layer, prefix="15"), offset=0)
    assert out.count == 1 and out.skipped == 1 and not out.rejections


def test_parcel_kennzeichen_decoded(sample_source: SourceDefinition) -> None:
    frame = gpd.GeoDataFrame(
        {
            "kz": [
                "154711001001230002__",
                "15471100100124______",
                "1547110010012",
                "154711___00125______",
            ],
            "fl": ["1.234,5", "576", "10", "x"],
            "gmd": [15088235.0, 15088235.0, 15088235.0, 15088235.0],
        },
        geometry=[SQUARE] * 4,
        crs="EPSG:25832",
    )
    layer = _layer("parcel", flurstueckskennzeichen="kz", amtliche_flaeche="fl", ags="gmd")
    out = map_frame(frame, layer, _source(sample_source, layer), offset=0)
    assert out.count == 2
    assert list(out.columns["gemarkung"]) == ["4711", "4711"]
    assert list(out.columns["flur"]) == ["1", "1"]
    assert list(out.columns["zaehler"]) == ["123", "124"]
    assert list(out.columns["nenner"]) == ["2", None]
    assert list(out.columns["amtliche_flaeche"]) == [1234.5, 576.0]
    assert list(out.columns["ags"]) == ["15088235", "15088235"]
    reasons = [r.reason for r in out.rejections]
    assert "hat nicht das ALKIS-Format" in reasons[0]
    assert reasons[1] == "'x' ist keine gültige Zahl (amtliche Fläche)"


def test_building_function_name_from_code_list(sample_source: SourceDefinition) -> None:
    frame = gpd.GeoDataFrame(
        {"oid": ["a", "b", None], "fkt": ["2500", "1010", "1010"], "gs": [2, None, 1]},
        geometry=[SQUARE] * 3,
        crs="EPSG:25832",
    )
    layer = _layer("building", source_object_id="oid", function_code="fkt", storeys="gs")
    out = map_frame(frame, layer, _source(sample_source, layer), offset=0)
    assert list(out.columns["function_name"]) == ["Gebäude zur Versorgung", "Wohnhaus"]
    assert list(out.columns["storeys"]) == [2, None]
    assert [r.reason for r in out.rejections] == ["Objektkennung fehlt"]


def test_address_house_number_split(sample_source: SourceDefinition) -> None:
    frame = gpd.GeoDataFrame(
        {"hnr": ["12a", "12 B", "7", "3-5"], "plz": ["06249", "06249", "6249", "06249"]},
        geometry=[Point(X, Y)] * 4,
        crs="EPSG:25832",
    )
    layer = _layer("address", house_number="hnr", postcode="plz")
    out = map_frame(frame, layer, _source(sample_source, layer), offset=0)
    assert list(out.columns["house_number"]) == ["12", "12", "3-5"]
    assert list(out.columns["house_number_suffix"]) == ["a", "b", None]
    assert [r.reason for r in out.rejections] == ["Postleitzahl '6249' hat nicht 5 Ziffern"]


def test_coordinates_outside_germany_are_rejected(sample_source: SourceDefinition) -> None:
    # lon/lat declared as EPSG:25832: the classic wrong-CRS mistake
    frame = gpd.GeoDataFrame({"hnr": ["1"]}, geometry=[Point(11.7, 51.3)], crs="EPSG:25832")
    layer = _layer("address", house_number="hnr")
    out = map_frame(frame, layer, _source(sample_source, layer), offset=0)
    assert out.count == 0
    assert "außerhalb Deutschlands" in out.rejections[0].reason


def test_missing_source_column_fails_the_layer(sample_source: SourceDefinition) -> None:
    frame = gpd.GeoDataFrame({"AGS": ["15088235"]}, geometry=[SQUARE], crs="EPSG:25832")
    layer = _layer("municipality", ars="ARS_FEHLT")
    with pytest.raises(
        SourceFormatError, match="Spalte\\(n\\) ARS_FEHLT fehlen; vorhanden sind: AGS"
    ):
        map_frame(frame, layer, _source(sample_source, layer), offset=0)
