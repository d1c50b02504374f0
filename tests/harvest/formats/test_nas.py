"""ALKIS NAS reader: real single-feature files, handwritten deliveries, safety and memory."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
import tracemalloc
from itertools import pairwise
from pathlib import Path

import pytest
from lxml import etree
from shapely.geometry import MultiPolygon, Point, Polygon

from planungsdaten.harvest.errors import SourceDefinitionError
from planungsdaten.harvest.formats.gml_geometry import GmlGeometryError, parse_geometry
from planungsdaten.harvest.formats.nas import (
    NAS_FEATURE_TYPES,
    Flurstueckskennzeichen,
    NasFormatError,
    decode_flurstueckskennzeichen,
    iter_nas_features,
    nas_crs,
    read_nas_frames,
)

ADV_71 = "http://www.adv-online.de/namespaces/adv/gid/7.1"
ADV_60 = "http://www.adv-online.de/namespaces/adv/gid/6.0"
NAMESPACES = (
    'xmlns:gml="http://www.opengis.net/gml/3.2" xmlns:xlink="http://www.w3.org/1999/xlink" '
    'xmlns:wfs="http://www.opengis.net/wfs/2.0"'
)


def delivery(*features: str, adv: str = ADV_71, member: str = "wfs:member") -> str:
    """A NAS Bestandsdatenauszug wrapping the given features (adv: prefix)."""
    members = "\n".join(f"<{member}>{f}</{member}>" for f in features)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<adv:AX_Bestandsdatenauszug xmlns:adv="{adv}" {NAMESPACES}>'
        "<adv:enthaelt><wfs:FeatureCollection>"
        f"{members}"
        "</wfs:FeatureCollection></adv:enthaelt></adv:AX_Bestandsdatenauszug>"
    )


def write(tmp_path: Path, text: str, name: str = "nas.xml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def square(x: float, y: float, size: float, gml_id: str) -> str:
    """A Surface as ALKIS writes it: one PolygonPatch, a Ring of one-segment curves."""
    corners = [(x, y), (x + size, y), (x + size, y + size), (x, y + size), (x, y)]
    members = "".join(
        "<gml:curveMember><gml:Curve><gml:segments><gml:LineStringSegment><gml:posList>"
        f"{a[0]} {a[1]} {b[0]} {b[1]}"
        "</gml:posList></gml:LineStringSegment></gml:segments></gml:Curve></gml:curveMember>"
        for a, b in pairwise(corners)
    )
    return (
        f'<gml:Surface gml:id="{gml_id}" srsName="urn:adv:crs:ETRS89_UTM32"><gml:patches>'
        f"<gml:PolygonPatch><gml:exterior><gml:Ring>{members}</gml:Ring></gml:exterior>"
        "</gml:PolygonPatch></gml:patches></gml:Surface>"
    )


def lage_key(lage: str) -> str:
    return (
        "<adv:AX_VerschluesselteLagebezeichnung><adv:land>15</adv:land>"
        "<adv:regierungsbezirk>0</adv:regierungsbezirk><adv:kreis>88</adv:kreis>"
        f"<adv:gemeinde>235</adv:gemeinde><adv:lage>{lage}</adv:lage>"
        "</adv:AX_VerschluesselteLagebezeichnung>"
    )


def address(oid: str, lage: str, hausnummer: str) -> str:
    return (
        f'<adv:AX_LagebezeichnungMitHausnummer gml:id="{oid}">'
        f'<gml:identifier codeSpace="http://www.adv-online.de/">urn:adv:oid:{oid}</gml:identifier>'
        f"<adv:lagebezeichnung><adv:AX_Lagebezeichnung><adv:verschluesselt>{lage_key(lage)}"
        "</adv:verschluesselt></adv:AX_Lagebezeichnung></adv:lagebezeichnung>"
        f"<adv:hausnummer>{hausnummer}</adv:hausnummer></adv:AX_LagebezeichnungMitHausnummer>"
    )


# --- Flurstückskennzeichen and CRS ---------------------------------------------------


def test_kennzeichen_of_the_real_parcel_decodes_into_its_parts() -> None:
    assert decode_flurstueckskennzeichen("05432002500008______") == Flurstueckskennzeichen(
        land="05", gemarkung="4320", flur="025", zaehler="00008", nenner=None, folge=None
    )


def test_kennzeichen_with_nenner_folge_and_without_flur() -> None:
    decoded = decode_flurstueckskennzeichen("150123___00123004500")
    assert decoded == Flurstueckskennzeichen(
        land="15", gemarkung="0123", flur=None, zaehler="00123", nenner="0045", folge="00"
    )
    assert decode_flurstueckskennzeichen("15012300000012______").flur is None


@pytest.mark.parametrize(
    "value",
    [
        "05432002500008_____",
        "05432002500008_______",
        "0543200250000A______",
        "054320025_0_08______",
    ],
)
def test_malformed_kennzeichen_is_rejected(value: str) -> None:
    with pytest.raises(NasFormatError, match="Flurstückskennzeichen"):
        decode_flurstueckskennzeichen(value)


@pytest.mark.parametrize(
    ("srs_name", "crs"),
    [
        ("urn:adv:crs:ETRS89_UTM32", "EPSG:25832"),
        ("urn:adv:crs:ETRS89_UTM33", "EPSG:25833"),
        ("urn:adv:crs:ETRS89_UTM32*DE_DHHN2016_NH", "EPSG:25832"),
        ("urn:ogc:def:crs:EPSG::25833", "EPSG:25833"),
        ("http://www.opengis.net/def/crs/EPSG/0/25832", "EPSG:25832"),
        ("EPSG:4258", "EPSG:4258"),
        (None, None),
    ],
)
def test_nas_crs(srs_name: str | None, crs: str | None) -> None:
    assert nas_crs(srs_name) == crs


def test_unknown_crs_is_a_format_error() -> None:
    with pytest.raises(NasFormatError, match="Koordinatenreferenzsystem"):
        nas_crs("urn:adv:crs:NIRGENDWO")


# --- the real files ----------------------------------------------------------------


@pytest.mark.fixtures
def test_real_parcel(shared_fixtures: Path) -> None:
    source = shared_fixtures / "real/nas/AX_Flurstueck.xml"
    (parcel,) = iter_nas_features(source)
    assert (parcel.feature_type, parcel.gml_id) == ("AX_Flurstueck", "DENW36AL10000Ehc")
    assert parcel.properties == {
        "flurstueckskennzeichen": "05432002500008______",
        "land": "05",
        "gemarkungsnummer": "4320",
        "gemarkung_name": None,
        "flurnummer": 25,
        "zaehler": "8",
        "nenner": None,
        "amtliche_flaeche": 110397.0,
        "ags": "05314000",
        "lage_ids": ["DENW36AL10000H9b"],
        "zeitpunkt_der_entstehung": "1861-01-01",
    }
    assert parcel.srs_name == "urn:adv:crs:ETRS89_UTM32"
    assert nas_crs(parcel.srs_name) == "EPSG:25832"
    geometry = parcel.geometry
    assert isinstance(geometry, MultiPolygon) and geometry.is_valid
    assert len(geometry.geoms) == 2  # two surfaceMembers, not the objektkoordinaten point
    assert geometry.area == pytest.approx(110397, rel=0.02)

    (frame,) = read_nas_frames(source, "AX_Flurstueck", batch_size=100)
    assert frame.crs.to_epsg() == 25832
    assert list(frame.columns) == [
        "gml_id",
        "feature_type",
        "flurstueckskennzeichen",
        "land",
        "gemarkungsnummer",
        "gemarkung_name",
        "flurnummer",
        "zaehler",
        "nenner",
        "amtliche_flaeche",
        "ags",
        "lage_ids",
        "zeitpunkt_der_entstehung",
        "geometry",
    ]
    assert frame.loc[0, "ags"] == "05314000" and frame.loc[0, "flurnummer"] == 25


@pytest.mark.fixtures
def test_real_building(shared_fixtures: Path) -> None:
    source = shared_fixtures / "real/nas/AX_Gebaeude.xml"
    (building,) = iter_nas_features(source, ["AX_Gebaeude"])
    assert building.properties["gebaeudefunktion"] == 2500
    assert building.properties["gebaeudefunktion_name"] == "Gebäude zur Versorgung"
    assert building.properties["anzahl_der_oberirdischen_geschosse"] is None
    assert building.properties["lage_ids"] == ["DENW36AL10000AAA"]
    assert isinstance(building.geometry, Polygon) and building.geometry.is_valid
    assert 15 < building.geometry.area < 30
    assert list(iter_nas_features(source, ["AX_Flurstueck"])) == []


# --- handwritten deliveries --------------------------------------------------------


@pytest.mark.parametrize(("adv", "member"), [(ADV_71, "wfs:member"), (ADV_60, "gml:featureMember")])
def test_wrapped_features_of_both_schema_versions(tmp_path: Path, adv: str, member: str) -> None:
    text = delivery(
        '<adv:AX_Person gml:id="P1"><adv:nachnameOderFirma>Muster</adv:nachnameOderFirma>'
        "</adv:AX_Person>",
        f'<adv:AX_Gebaeude gml:id="G1"><adv:position>{square(0, 0, 10, "s1")}</adv:position>'
        "<adv:gebaeudefunktion>1010</adv:gebaeudefunktion>"
        "<adv:anzahlDerOberirdischenGeschosse>3</adv:anzahlDerOberirdischenGeschosse>"
        "<adv:name>Haus am See</adv:name></adv:AX_Gebaeude>",
        adv=adv,
        member=member,
    )
    (building,) = iter_nas_features(write(tmp_path, text))
    assert building.properties == {
        "gebaeudefunktion": 1010,
        "gebaeudefunktion_name": "Wohnhaus",
        "anzahl_der_oberirdischen_geschosse": 3,
        "name": "Haus am See",
        "lage_ids": [],
    }
    assert building.geometry is not None and building.geometry.area == pytest.approx(100)


def test_land_use_layer_holds_all_land_use_types(tmp_path: Path) -> None:
    text = delivery(
        f'<adv:AX_Wohnbauflaeche gml:id="N1"><adv:position>{square(0, 0, 10, "a")}'
        "</adv:position></adv:AX_Wohnbauflaeche>",
        f'<adv:AX_Wald gml:id="N2"><adv:position>{square(10, 0, 20, "b")}</adv:position>'
        "<adv:name>Stadtforst</adv:name></adv:AX_Wald>",
        f'<adv:AX_Gebaeude gml:id="G1"><adv:position>{square(0, 0, 5, "c")}</adv:position>'
        "<adv:gebaeudefunktion>1000</adv:gebaeudefunktion></adv:AX_Gebaeude>",
        f'<adv:AX_StehendesGewaesser gml:id="N3"><adv:position>{square(30, 0, 5, "d")}'
        "</adv:position><adv:funktion>8630</adv:funktion></adv:AX_StehendesGewaesser>",
    )
    frames = list(read_nas_frames(write(tmp_path, text), "TatsaechlicheNutzung", batch_size=2))
    assert [len(f) for f in frames] == [2, 1]
    assert all(f.crs.to_epsg() == 25832 for f in frames)
    rows = [row for f in frames for row in f.drop(columns="geometry").to_dict("records")]
    assert [(r["gml_id"], r["nutzart"], r["nutzart_name"], r["nutzart_gruppe"]) for r in rows] == [
        ("N1", "AX_Wohnbauflaeche", "Wohnbaufläche", "Siedlung"),
        ("N2", "AX_Wald", "Wald", "Vegetation"),
        ("N3", "AX_StehendesGewaesser", "Stehendes Gewässer", "Gewässer"),
    ]
    assert rows[1]["name"] == "Stadtforst" and rows[2]["funktion"] == 8630
    assert frames[1].geometry.iloc[0].area == pytest.approx(25)


def test_addresses_resolve_to_pto_building_or_parcel(tmp_path: Path) -> None:
    text = delivery(
        # With an AP_PTO of art HNR: its point is the location.
        address("DEST000000000A01", "01234", "12a"),
        '<adv:AP_PTO gml:id="DEST00000000PT01"><adv:art>HNR</adv:art>'
        '<adv:dientZurDarstellungVon xlink:href="urn:adv:oid:DEST000000000A01"/>'
        '<adv:position><gml:Point gml:id="p1" srsName="urn:adv:crs:ETRS89_UTM32">'
        "<gml:pos>700010.5 5700020.5</gml:pos></gml:Point></adv:position></adv:AP_PTO>",
        # A PTO of another art does not count: the building is used.
        '<adv:AP_PTO gml:id="DEST00000000PT02"><adv:art>BEZ</adv:art>'
        '<adv:dientZurDarstellungVon xlink:href="urn:adv:oid:DEST000000000A02"/>'
        '<adv:position><gml:Point gml:id="p2" srsName="urn:adv:crs:ETRS89_UTM32">'
        "<gml:pos>1 1</gml:pos></gml:Point></adv:position></adv:AP_PTO>",
        f'<adv:AX_Gebaeude gml:id="DEST00000000GB01"><adv:position>'
        f"{square(700100, 5700100, 10, 'g')}</adv:position>"
        "<adv:gebaeudefunktion>1010</adv:gebaeudefunktion>"
        '<adv:zeigtAuf xlink:href="urn:adv:oid:DEST000000000A02"/></adv:AX_Gebaeude>',
        # Only a parcel points to the third address (the building comes after the parcel).
        f'<adv:AX_Flurstueck gml:id="DEST00000000FS01"><adv:position>'
        f"{square(700200, 5700200, 20, 'f')}</adv:position>"
        "<adv:flurstueckskennzeichen>150123001000050000__</adv:flurstueckskennzeichen>"
        '<adv:weistAuf xlink:href="urn:adv:oid:DEST000000000A03"/>'
        '<adv:weistAuf xlink:href="urn:adv:oid:DEST000000000A02"/></adv:AX_Flurstueck>',
        address("DEST000000000A02", "01234", "14"),
        # Street name unencoded; the gml:id carries a timestamp after the OID.
        '<adv:AX_LagebezeichnungMitHausnummer gml:id="DEST000000000A0320240101T000000Z">'
        "<gml:identifier>urn:adv:oid:DEST000000000A03</gml:identifier>"
        "<adv:lagebezeichnung><adv:AX_Lagebezeichnung>"
        "<adv:unverschluesselt>Am Anger</adv:unverschluesselt>"
        "</adv:AX_Lagebezeichnung></adv:lagebezeichnung>"
        "<adv:hausnummer>3</adv:hausnummer></adv:AX_LagebezeichnungMitHausnummer>",
        address("DEST000000000A04", "09999", "1"),
        '<adv:AX_LagebezeichnungKatalogeintrag gml:id="DEST00000000KT01">'
        "<adv:schluesselGesamt>1508823501234</adv:schluesselGesamt>"
        "<adv:bezeichnung>Hauptstraße</adv:bezeichnung>"
        f"<adv:schluessel>{lage_key('01234')}</adv:schluessel>"
        "</adv:AX_LagebezeichnungKatalogeintrag>",
    )
    (frame,) = read_nas_frames(write(tmp_path, text), "Adressen", batch_size=10)
    assert list(frame.columns) == [
        "gml_id",
        "feature_type",
        "ags",
        "strasse",
        "hausnummer",
        "lage",
        "location_source",
        "geometry",
    ]
    assert frame.crs.to_epsg() == 25832
    rows = frame.drop(columns="geometry").to_dict("records")
    assert [(r["strasse"], r["hausnummer"], r["ags"], r["location_source"]) for r in rows] == [
        ("Hauptstraße", "12a", "15088235", "AP_PTO"),
        ("Hauptstraße", "14", "15088235", "Gebaeude"),
        ("Am Anger", "3", None, "Flurstueck"),
        (None, "1", "15088235", None),
    ]
    pto, building, parcel, nowhere = frame.geometry
    assert pto == Point(700010.5, 5700020.5)
    assert building.within(Polygon.from_bounds(700100, 5700100, 700110, 5700110))
    assert parcel.within(Polygon.from_bounds(700200, 5700200, 700220, 5700220))
    assert nowhere is None


def test_parcel_frames_name_the_gemarkung_from_the_catalogue(tmp_path: Path) -> None:
    text = delivery(
        f'<adv:AX_Flurstueck gml:id="F1"><adv:position>{square(0, 0, 10, "f")}</adv:position>'
        "<adv:gemarkung><adv:AX_Gemarkung_Schluessel><adv:land>15</adv:land>"
        "<adv:gemarkungsnummer>0123</adv:gemarkungsnummer></adv:AX_Gemarkung_Schluessel>"
        "</adv:gemarkung><adv:flurstueckskennzeichen>150123001000070003__"
        "</adv:flurstueckskennzeichen></adv:AX_Flurstueck>",
        '<adv:AX_Gemarkung gml:id="K1"><adv:schluesselGesamt>150123</adv:schluesselGesamt>'
        "<adv:bezeichnung>Mücheln</adv:bezeichnung><adv:schluessel>"
        "<adv:AX_Gemarkung_Schluessel><adv:land>15</adv:land>"
        "<adv:gemarkungsnummer>0123</adv:gemarkungsnummer></adv:AX_Gemarkung_Schluessel>"
        "</adv:schluessel></adv:AX_Gemarkung>",
    )
    (frame,) = read_nas_frames(write(tmp_path, text), "AX_Flurstueck", batch_size=10)
    row = frame.iloc[0]
    assert (row["gemarkung_name"], row["flurnummer"], row["zaehler"], row["nenner"]) == (
        "Mücheln",
        1,
        "7",
        "3",
    )


def test_unknown_layer_is_a_definition_error(tmp_path: Path) -> None:
    with pytest.raises(SourceDefinitionError, match="AX_Gebaude"):
        list(read_nas_frames(write(tmp_path, delivery()), "AX_Gebaude", 10))
    assert "AX_Gebaeude" in NAS_FEATURE_TYPES


# --- geometry ----------------------------------------------------------------------


def gml(text: str) -> etree._Element:
    """A GML geometry element parsed from a snippet that uses the gml: prefix."""
    return etree.fromstring(f'<wrap xmlns:gml="http://www.opengis.net/gml/3.2">{text}</wrap>')[0]


def test_polygon_with_hole_3d_coordinates_and_pos_rings() -> None:
    geometry = parse_geometry(
        gml(
            '<gml:Polygon srsDimension="3"><gml:exterior><gml:LinearRing><gml:posList>'
            "0 0 5 10 0 5 10 10 5 0 10 5 0 0 5</gml:posList></gml:LinearRing></gml:exterior>"
            "<gml:interior><gml:LinearRing><gml:pos>2 2 1</gml:pos><gml:pos>4 2 1</gml:pos>"
            "<gml:pos>4 4 1</gml:pos><gml:pos>2 2 1</gml:pos></gml:LinearRing></gml:interior>"
            "</gml:Polygon>"
        )
    )
    assert isinstance(geometry, Polygon) and not geometry.has_z
    assert geometry.area == pytest.approx(100 - 2)


def test_arc_is_densified_along_the_circle() -> None:
    # Half disc of radius 100: the arc from (100, 0) through (0, 100) to (-100, 0).
    geometry = parse_geometry(
        gml(
            "<gml:Surface><gml:patches><gml:PolygonPatch><gml:exterior><gml:Ring>"
            "<gml:curveMember><gml:Curve><gml:segments><gml:Arc><gml:posList>"
            "700100 5700000 700000 5700100 699900 5700000</gml:posList></gml:Arc>"
            "<gml:LineStringSegment><gml:posList>699900 5700000 700100 5700000"
            "</gml:posList></gml:LineStringSegment></gml:segments></gml:Curve>"
            "</gml:curveMember></gml:Ring></gml:exterior></gml:PolygonPatch></gml:patches>"
            "</gml:Surface>"
        )
    )
    assert geometry.is_valid
    assert geometry.area == pytest.approx(math.pi * 100**2 / 2, rel=1e-3)
    assert geometry.bounds[3] == pytest.approx(5700100, abs=0.02)


def test_circle_is_a_closed_ring() -> None:
    geometry = parse_geometry(
        gml(
            "<gml:Polygon><gml:exterior><gml:Ring><gml:curveMember><gml:Curve><gml:segments>"
            "<gml:Circle><gml:posList>10 0 0 10 -10 0</gml:posList></gml:Circle>"
            "</gml:segments></gml:Curve></gml:curveMember></gml:Ring></gml:exterior></gml:Polygon>"
        )
    )
    assert geometry.is_valid
    # Chords stay within ARC_TOLERANCE (1 cm) of the circle: area off by < perimeter * 1 cm.
    assert geometry.area == pytest.approx(math.pi * 10**2, abs=2 * math.pi * 10 * 0.01)
    assert geometry.area < math.pi * 10**2


def test_composite_surface_is_dissolved() -> None:
    left, right = square(0, 0, 10, "l"), square(10, 0, 10, "r")
    geometry = parse_geometry(
        gml(
            f"<gml:CompositeSurface><gml:surfaceMember>{left}</gml:surfaceMember>"
            f"<gml:surfaceMember>{right}</gml:surfaceMember></gml:CompositeSurface>"
        )
    )
    assert isinstance(geometry, Polygon) and geometry.area == pytest.approx(200)


def test_unsupported_geometry_is_reported_in_german() -> None:
    with pytest.raises(GmlGeometryError, match="nicht unterstützt"):
        parse_geometry(gml("<gml:Tin/>"))


def test_bad_geometry_names_the_feature(tmp_path: Path) -> None:
    text = delivery(
        '<adv:AX_Gebaeude gml:id="G9"><adv:position><gml:Point gml:id="p">'
        "<gml:pos>1 2 3</gml:pos></gml:Point></adv:position></adv:AX_Gebaeude>"
    )
    with pytest.raises(NasFormatError, match="AX_Gebaeude G9"):
        list(iter_nas_features(write(tmp_path, text)))


# --- safety ------------------------------------------------------------------------


def test_malformed_xml_is_a_format_error_with_line(tmp_path: Path) -> None:
    text = delivery('<adv:AX_Gebaeude gml:id="G1"><adv:name>kaputt</adv:AX_Gebaeude>')
    source = write(tmp_path, text.replace("><", ">\n<"), "kaputt.xml")
    with pytest.raises(NasFormatError) as raised:
        list(iter_nas_features(source))
    message = str(raised.value)
    assert message.startswith("NAS-Datei kaputt.xml ist kein wohlgeformtes XML (Zeile ")
    assert "Zeile None" not in message


def test_external_entities_are_not_resolved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the second line of defence: with the DOCTYPE check (test_hostile.py) out of the way,
    # the parser still resolves nothing
    monkeypatch.setattr("planungsdaten.harvest.formats.nas.refuse_dtd", lambda *_: None)
    secret = tmp_path / "secret.txt"
    secret.write_text("GEHEIM-4711", encoding="utf-8")
    text = (
        '<?xml version="1.0"?>\n'
        f'<!DOCTYPE x [<!ENTITY e SYSTEM "file://{secret}">]>\n'
        + delivery(
            '<adv:AX_Gebaeude gml:id="G1"><adv:gebaeudefunktion>1000</adv:gebaeudefunktion>'
            "<adv:name>&e;</adv:name></adv:AX_Gebaeude>"
        ).split("\n", 1)[1]
    )
    source = write(tmp_path, text)
    (building,) = iter_nas_features(source)
    assert building.properties["name"] is None
    frames = list(read_nas_frames(source, "AX_Gebaeude", 10))
    assert "GEHEIM" not in frames[0].to_json()


# --- memory ------------------------------------------------------------------------


def write_parcels(path: Path, count: int) -> Path:
    """A delivery of `count` parcels of 25 m x 25 m."""
    with path.open("w", encoding="utf-8") as out:
        head, tail = delivery("@").split("<wfs:member>@</wfs:member>")
        out.write(head)
        for i in range(count):
            x, y = 700000 + (i % 100) * 30, 5700000 + (i // 100) * 30
            out.write(
                f'<wfs:member><adv:AX_Flurstueck gml:id="DEST{i:012d}">'
                f"<gml:identifier>urn:adv:oid:DEST{i:012d}</gml:identifier>"
                f'<adv:position><gml:Polygon gml:id="s{i}" srsName="urn:adv:crs:ETRS89_UTM32">'
                "<gml:exterior><gml:LinearRing><gml:posList>"
                f"{x} {y} {x + 25} {y} {x + 25} {y + 25} {x} {y + 25} {x} {y}"
                "</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon></adv:position>"
                "<adv:gemarkung><adv:AX_Gemarkung_Schluessel><adv:land>15</adv:land>"
                "<adv:gemarkungsnummer>0123</adv:gemarkungsnummer>"
                "</adv:AX_Gemarkung_Schluessel></adv:gemarkung>"
                f"<adv:flurstueckskennzeichen>150123001{i + 1:05d}______"
                "</adv:flurstueckskennzeichen>"
                '<adv:amtlicheFlaeche uom="urn:adv:uom:m2">625</adv:amtlicheFlaeche>'
                "<adv:gemeindezugehoerigkeit><adv:AX_Gemeindekennzeichen><adv:land>15</adv:land>"
                "<adv:regierungsbezirk>0</adv:regierungsbezirk><adv:kreis>88</adv:kreis>"
                "<adv:gemeinde>235</adv:gemeinde></adv:AX_Gemeindekennzeichen>"
                "</adv:gemeindezugehoerigkeit></adv:AX_Flurstueck></wfs:member>\n"
            )
        out.write(tail)
    return path


@pytest.fixture(scope="module")
def parcel_files(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("nas-memory")
    return {n: write_parcels(folder / f"parcels-{n}.xml", n) for n in (2_000, 20_000)}


def traced_peak(source: Path) -> tuple[int, int]:
    tracemalloc.start()
    try:
        rows = sum(len(f) for f in read_nas_frames(source, "AX_Flurstueck", batch_size=1_000))
        return rows, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_python_memory_stays_flat(parcel_files: dict[int, Path]) -> None:
    small_rows, small = traced_peak(parcel_files[2_000])
    large_rows, large = traced_peak(parcel_files[20_000])
    assert (small_rows, large_rows) == (2_000, 20_000)
    assert large / small < 2, f"peak {small} B for 2,000 parcels, {large} B for 20,000"


RSS_PROBE = textwrap.dedent(
    """
    import resource, sys
    from pathlib import Path
    from planungsdaten.harvest.formats.nas import iter_nas_features
    count = sum(1 for _ in iter_nas_features(Path(sys.argv[1]), ["AX_Flurstueck"]))
    print(count, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """
)


def test_parsed_tree_does_not_grow(parcel_files: dict[int, Path]) -> None:
    # libxml2's tree is invisible to tracemalloc: compare the peak resident size instead.
    def peak_kib(source: Path) -> int:
        result = subprocess.run(
            [sys.executable, "-c", RSS_PROBE, str(source)],
            capture_output=True,
            text=True,
            check=True,
        )
        count, rss = result.stdout.split()
        assert int(count) == int(source.stem.split("-")[1])
        return int(rss)

    small, large = peak_kib(parcel_files[2_000]), peak_kib(parcel_files[20_000])
    size_mib = parcel_files[20_000].stat().st_size / 2**20
    assert (large - small) / 1024 < 0.25 * size_mib, (small, large, size_mib)
