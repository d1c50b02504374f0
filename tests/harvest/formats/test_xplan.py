"""XPlanGML reader: the real 5.3 file and 6.0 archive, handwritten plans, safety and memory."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tracemalloc
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import MultiPolygon, Polygon

from planungsdaten.harvest.errors import SourceDefinitionError
from planungsdaten.harvest.formats.xplan import (
    COLUMNS,
    PLAN_TYPES,
    XPlanFormatError,
    read_xplan_frames,
)

XPLAN_53 = "http://www.xplanung.de/xplangml/5/3"
XPLAN_60 = "http://www.xplanung.de/xplangml/6/0"
WUSTERMARK_URL = (
    "https://www.wustermark.de/fileadmin/user_upload/Ortsrecht/"
    "E%2027_Denkmalbereichssatzung%20Eisenbahnersiedlung%20Elstal.pdf"
)


def auszug(*features: str, ns: str = XPLAN_53, srs: str | None = "EPSG:25832") -> str:
    """An XPlanAuszug wrapping the given features (xplan: prefix) in gml:featureMember."""
    members = "\n".join(f"<gml:featureMember>{f}</gml:featureMember>" for f in features)
    bounded_by = (
        f'<gml:boundedBy><gml:Envelope srsName="{srs}"><gml:lowerCorner>0 0</gml:lowerCorner>'
        "<gml:upperCorner>1 1</gml:upperCorner></gml:Envelope></gml:boundedBy>"
        if srs
        else ""
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<xplan:XPlanAuszug xmlns:xplan="{ns}" xmlns:gml="http://www.opengis.net/gml/3.2" '
        'xmlns:xlink="http://www.w3.org/1999/xlink" gml:id="auszug">'
        f"{bounded_by}\n{members}\n</xplan:XPlanAuszug>"
    )


def polygon(x: float, y: float, size: float, srs: str | None = "EPSG:25832") -> str:
    srs_attr = f' srsName="{srs}"' if srs else ""
    coords = f"{x} {y} {x + size} {y} {x + size} {y + size} {x} {y + size} {x} {y}"
    return (
        f'<gml:Polygon gml:id="p{x}_{y}"{srs_attr}><gml:exterior><gml:LinearRing>'
        f"<gml:posList>{coords}</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon>"
    )


def plan(
    gml_id: str,
    body: str = "",
    plan_type: str = "BP_Plan",
    geometry: str | None = None,
) -> str:
    area = (
        f"<xplan:raeumlicherGeltungsbereich>{geometry}</xplan:raeumlicherGeltungsbereich>"
        if geometry
        else ""
    )
    return f'<xplan:{plan_type} gml:id="{gml_id}">{area}{body}</xplan:{plan_type}>'


def gemeinde(ags: str | None = None, rs: str | None = None, name: str | None = None) -> str:
    parts = "".join(
        f"<xplan:{tag}>{value}</xplan:{tag}>"
        for tag, value in (("ags", ags), ("rs", rs), ("gemeindeName", name))
        if value is not None
    )
    return f"<xplan:gemeinde><xplan:XP_Gemeinde>{parts}</xplan:XP_Gemeinde></xplan:gemeinde>"


def write(tmp_path: Path, text: str, name: str = "plan.gml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def read_all(source: Path, layer: str | None = None, batch_size: int = 100) -> gpd.GeoDataFrame:
    frames = list(read_xplan_frames(source, layer, batch_size))
    assert len(frames) == 1, [len(f) for f in frames]
    return frames[0]


# --- real files --------------------------------------------------------------------


@pytest.mark.fixtures
def test_real_wustermark_plan(shared_fixtures: Path) -> None:
    frame = read_all(shared_fixtures / "real/xplan/bp_plan1_wustermark.gml")
    assert list(frame.columns) == [*COLUMNS, "geometry"]
    assert frame.crs.to_epsg() == 25833
    assert len(frame) == 1
    row = frame.iloc[0]
    assert row["gml_id"] == "GML_0329f4d4-ccf6-4429-bda8-090d7c249b39"
    assert row["plan_type"] == "BP_Plan"
    assert row["xplan_version"] == "5.3"
    assert row["name"] == "Denkmalbereichssatzung Eisenbahnersiedlung"
    assert row["number"] is None
    assert (row["plan_art"], row["plan_art_name"]) == ("1000", "BPlan")
    assert (row["legal_status"], row["legal_status_name"]) == ("1000", "Aufstellungsbeschluss")
    assert (row["ags"], row["municipality_name"]) == ("12063357", "Wustermark")
    # The file has only an ausfertigungsDatum, none of the dates the reader reports.
    assert (row["in_force_date"], row["decision_date"], row["adoption_date"]) == (None,) * 3
    assert row["document_urls"] == [WUSTERMARK_URL]

    geometry = row["geometry"]
    assert isinstance(geometry, MultiPolygon)
    assert geometry.is_valid
    assert len(geometry.geoms[0].exterior.coords) == 89  # posList count="89"
    # Coordinates as in the file: the envelope of the plan is its bounding box.
    assert geometry.bounds == pytest.approx(
        (363245.85320911836, 5822955.651306625, 363915.46399956784, 5823699.63869305)
    )
    # About 27 ha: the Eisenbahnersiedlung Elstal.
    assert round(geometry.area) == 268051
    area_32 = frame.to_crs(25832).geometry.iloc[0].area
    assert abs(area_32 - geometry.area) / geometry.area < 0.005


@pytest.mark.fixtures
def test_real_xplan_archive_6_0(shared_fixtures: Path) -> None:
    frame = read_all(shared_fixtures / "real/xplan/BPlan001_6-0.zip")
    assert frame.crs.to_epsg() == 25832
    row = frame.iloc[0]
    assert row["gml_id"] == "GML_bf2168c4-c292-4340-bc50-7a2aa2cab5be"
    assert (row["plan_type"], row["xplan_version"]) == ("BP_Plan", "6.0")
    assert row["name"] == "BPlan001_6-0"
    assert (row["ags"], row["municipality_name"]) == ("02000000", "Freie und Hansestadt Hamburg")
    assert (row["plan_art"], row["plan_art_name"]) == (
        "10002",
        "BebauungsplanZurWohnraumversorgung",
    )
    assert (row["legal_status"], row["legal_status_name"]) == ("3000", "Satzung")
    assert row["document_urls"] is None
    geometry = row["geometry"]
    assert isinstance(geometry, MultiPolygon) and geometry.is_valid
    assert geometry.bounds == (564984.128, 5940442.486, 565072.441, 5940522.630)
    assert geometry.area == pytest.approx(88.313 * 80.144)


@pytest.mark.fixtures
def test_real_files_by_layer(shared_fixtures: Path) -> None:
    source = shared_fixtures / "real/xplan/bp_plan1_wustermark.gml"
    assert len(read_all(source, "BP_Plan")) == 1
    assert list(read_xplan_frames(source, "FP_Plan", 10)) == []


# --- handwritten plans -------------------------------------------------------------


def test_fp_plan_with_regionalschluessel_only(tmp_path: Path) -> None:
    body = (
        "<xplan:name>FNP Mücheln</xplan:name><xplan:nummer>F-1</xplan:nummer>"
        "<xplan:externeReferenz><xplan:XP_SpezExterneReferenz>"
        "<xplan:referenzURL>https://example.org/fnp.pdf</xplan:referenzURL>"
        "<xplan:typ>1000</xplan:typ></xplan:XP_SpezExterneReferenz></xplan:externeReferenz>"
        "<xplan:externeReferenz><xplan:XP_SpezExterneReferenz>"
        "<xplan:referenzURL>https://example.org/begruendung.pdf</xplan:referenzURL>"
        "</xplan:XP_SpezExterneReferenz></xplan:externeReferenz>"
        "<xplan:externeReferenz><xplan:XP_SpezExterneReferenz>"
        "<xplan:referenzURL>https://example.org/fnp.pdf</xplan:referenzURL>"
        "</xplan:XP_SpezExterneReferenz></xplan:externeReferenz>"
        # The planning municipality is not the municipality of the plan.
        "<xplan:planaufstellendeGemeinde><xplan:XP_Gemeinde><xplan:ags>15088999</xplan:ags>"
        "</xplan:XP_Gemeinde></xplan:planaufstellendeGemeinde>"
        + gemeinde(rs="150880235235", name="Mücheln (Geiseltal)")
        + "<xplan:planArt>1000</xplan:planArt><xplan:rechtsstand>4000</xplan:rechtsstand>"
        "<xplan:aufstellungsbeschlussDatum>2015-02-03</xplan:aufstellungsbeschlussDatum>"
        "<xplan:planbeschlussDatum>2018-06-30</xplan:planbeschlussDatum>"
        "<xplan:wirksamkeitsDatum>2019-01-15+01:00</xplan:wirksamkeitsDatum>"
    )
    xml = auszug(
        plan("fp1", body, "FP_Plan", polygon(700000, 5680000, 100)),
        ns="http://www.xplanung.de/xplangml/5/4",
    )
    frame = read_all(write(tmp_path, xml))
    row = frame.iloc[0]
    assert (row["plan_type"], row["xplan_version"]) == ("FP_Plan", "5.4")
    assert (row["name"], row["number"]) == ("FNP Mücheln", "F-1")
    assert (row["ags"], row["municipality_name"]) == ("15088235", "Mücheln (Geiseltal)")
    assert (row["plan_art"], row["plan_art_name"]) == ("1000", "FPlan")
    assert (row["legal_status"], row["legal_status_name"]) == ("4000", "Wirksamkeit")
    assert row["decision_date"] == "2015-02-03"
    assert row["adoption_date"] == "2018-06-30"
    assert row["in_force_date"] == "2019-01-15"
    assert row["document_urls"] == [
        "https://example.org/fnp.pdf",
        "https://example.org/begruendung.pdf",
    ]
    assert isinstance(row["geometry"], Polygon)
    assert row["geometry"].area == 10_000


def test_bp_dates_codes_and_versions(tmp_path: Path) -> None:
    body = (
        gemeinde(ags="15088235")
        + "<xplan:planArt>10000</xplan:planArt><xplan:planArt>3000</xplan:planArt>"
        "<xplan:rechtsstand>2000</xplan:rechtsstand>"
        "<xplan:aufstellungsbeschlussDatum>2020-05-04</xplan:aufstellungsbeschlussDatum>"
        "<xplan:satzungsbeschlussDatum>2021-03-02</xplan:satzungsbeschlussDatum>"
        "<xplan:inkrafttretensDatum>2021-04-01</xplan:inkrafttretensDatum>"
    )
    geometry = polygon(700000, 5680000, 10)
    bp60 = read_all(write(tmp_path, auszug(plan("b", body, geometry=geometry), ns=XPLAN_60)))
    row = bp60.iloc[0]
    assert row["plan_art"] == "10000; 3000"
    assert row["plan_art_name"] == "EinfacherBPlan; VorhabenbezogenerBPlan"
    assert (row["legal_status"], row["legal_status_name"]) == ("2000", "Entwurf")
    assert (row["decision_date"], row["adoption_date"], row["in_force_date"]) == (
        "2020-05-04",
        "2021-03-02",
        "2021-04-01",
    )
    # FP_Rechtsstand 2000 is called "ImVerfahren" from 6.0 on.
    fp = plan("f", "<xplan:rechtsstand>2000</xplan:rechtsstand>", "FP_Plan", geometry)
    assert read_all(write(tmp_path, auszug(fp, ns=XPLAN_60))).iloc[0]["legal_status_name"] == (
        "ImVerfahren"
    )
    assert read_all(write(tmp_path, auszug(fp))).iloc[0]["legal_status_name"] == "Entwurf"
    # A code outside the lists: the codes are kept, no half list of names.
    odd = plan("o", "<xplan:planArt>1000</xplan:planArt><xplan:planArt>12345</xplan:planArt>")
    row = read_all(write(tmp_path, auszug(odd))).iloc[0]
    assert (row["plan_art"], row["plan_art_name"]) == ("1000; 12345", None)


def test_absent_values_are_none(tmp_path: Path) -> None:
    xml = auszug(plan("so1", "<xplan:name>Sanierungsgebiet</xplan:name>", "SO_Plan"), srs=None)
    frame = read_all(write(tmp_path, xml))
    row = frame.iloc[0]
    assert frame.crs is None
    assert row["name"] == "Sanierungsgebiet"
    assert row["geometry"] is None
    for column in COLUMNS:
        if column not in ("gml_id", "plan_type", "xplan_version", "name"):
            assert row[column] is None, column


def test_xplan_4_1_references_and_file_crs(tmp_path: Path) -> None:
    body = (
        "<xplan:name>Alt</xplan:name>"
        "<xplan:refBegruendung><xplan:XP_ExterneReferenz>"
        "<xplan:referenzURL>begruendung.pdf</xplan:referenzURL>"
        "</xplan:XP_ExterneReferenz></xplan:refBegruendung>"
        "<xplan:refRechtsplan><xplan:XP_ExterneReferenz>"
        "<xplan:referenzURL>plan.tif</xplan:referenzURL>"
        "</xplan:XP_ExterneReferenz></xplan:refRechtsplan>"
    )
    # No srsName on the geometry: the CRS of the file's bounding box applies.
    geometry = (
        '<gml:MultiSurface gml:id="ms"><gml:surfaceMember>'
        f"{polygon(4_500_000, 5_700_000, 50, srs=None)}</gml:surfaceMember></gml:MultiSurface>"
    )
    xml = auszug(
        plan("alt", body, geometry=geometry),
        ns="http://www.xplanung.de/xplangml/4/1",
        srs="urn:ogc:def:crs:EPSG::31468",
    )
    frame = read_all(write(tmp_path, xml))
    assert frame.crs.to_epsg() == 31468
    row = frame.iloc[0]
    assert row["xplan_version"] == "4.1"
    assert row["document_urls"] == ["begruendung.pdf", "plan.tif"]


def test_crs_change_starts_new_frame(tmp_path: Path) -> None:
    xml = auszug(
        plan("a", "<xplan:name>A</xplan:name>", geometry=polygon(700000, 5680000, 10)),
        plan("b", "<xplan:name>B</xplan:name>", geometry=polygon(700100, 5680000, 10)),
        plan(
            "c",
            "<xplan:name>C</xplan:name>",
            geometry=polygon(300000, 5680000, 10, srs="urn:ogc:def:crs:EPSG::25833"),
        ),
        plan("d", "<xplan:name>D</xplan:name>", geometry=polygon(700200, 5680000, 10)),
    )
    source = write(tmp_path, xml)
    frames = list(read_xplan_frames(source, None, 100))
    assert [(f.crs.to_epsg(), list(f["name"])) for f in frames] == [
        (25832, ["A", "B"]),
        (25833, ["C"]),
        (25832, ["D"]),
    ]
    batches = list(read_xplan_frames(source, "BP_Plan", 1))
    assert [list(f["gml_id"]) for f in batches] == [["a"], ["b"], ["c"], ["d"]]


def test_only_plans_are_read(tmp_path: Path) -> None:
    content = (
        '<xplan:BP_BaugebietsTeilFlaeche gml:id="btf"><xplan:position>'
        f"{polygon(700000, 5680000, 5)}</xplan:position>"
        "<xplan:refTextInhalt><xplan:XP_SpezExterneReferenz>"
        "<xplan:referenzURL>nicht-vom-plan.pdf</xplan:referenzURL>"
        "</xplan:XP_SpezExterneReferenz></xplan:refTextInhalt>"
        "</xplan:BP_BaugebietsTeilFlaeche>"
    )
    xml = auszug(
        plan("bp", gemeinde(ags="15088235"), geometry=polygon(700000, 5680000, 10)),
        content,
        plan("fp", gemeinde(ags="15088235"), "FP_Plan", polygon(700000, 5680000, 100)),
    )
    source = write(tmp_path, xml)
    frame = read_all(source)
    assert list(frame["plan_type"]) == ["BP_Plan", "FP_Plan"]
    assert frame["document_urls"].isna().all()
    assert list(read_all(source, "FP_Plan")["gml_id"]) == ["fp"]


def test_wfs_member_container(tmp_path: Path) -> None:
    xml = (
        '<wfs:FeatureCollection xmlns:wfs="http://www.opengis.net/wfs/2.0" '
        f'xmlns:xplan="{XPLAN_60}" xmlns:gml="http://www.opengis.net/gml/3.2">'
        f"<wfs:member>{plan('w', gemeinde(ags='15088235'), geometry=polygon(1, 2, 3))}"
        "</wfs:member></wfs:FeatureCollection>"
    )
    row = read_all(write(tmp_path, xml)).iloc[0]
    assert (row["gml_id"], row["ags"], row["xplan_version"]) == ("w", "15088235", "6.0")


def test_unknown_layer(tmp_path: Path) -> None:
    source = write(tmp_path, auszug())
    with pytest.raises(SourceDefinitionError, match="BP_Bereich"):
        list(read_xplan_frames(source, "BP_Bereich", 10))
    with pytest.raises(ValueError, match="batch_size"):
        list(read_xplan_frames(source, None, 0))
    assert "SO_Plan" in PLAN_TYPES


# --- errors ------------------------------------------------------------------------


def test_malformed_xml_names_file_and_line(tmp_path: Path) -> None:
    text = auszug(plan("x", "<xplan:name>A</xplan:name>")).replace(
        "</xplan:BP_Plan>", "</xplan:BP_Plan2>"
    )
    source = write(tmp_path, text, "kaputt.gml")
    with pytest.raises(XPlanFormatError) as info:
        list(read_xplan_frames(source, None, 10))
    message = str(info.value)
    assert message.startswith("XPlanGML-Datei kaputt.gml ist kein wohlgeformtes XML (Zeile 3)")


def test_malformed_xml_in_archive_names_member(tmp_path: Path) -> None:
    source = write_zip(tmp_path / "plan.zip", {"xplan.gml": b"<a>\n<b></a>"})
    with pytest.raises(XPlanFormatError, match=r"xplan\.gml im XPlanArchiv plan\.zip .*Zeile 2"):
        list(read_xplan_frames(source, None, 10))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<xplan:inkrafttretensDatum>1.4.2021</xplan:inkrafttretensDatum>", "kein Datum"),
        ("<xplan:inkrafttretensDatum>2021-02-30</xplan:inkrafttretensDatum>", "kein Datum"),
        (gemeinde(ags="1508823"), "kein 8-stelliger"),
        (gemeinde(rs="15088"), "kein 12-stelliger"),
    ],
)
def test_unusable_values_name_the_plan(tmp_path: Path, body: str, message: str) -> None:
    source = write(tmp_path, auszug(plan("GML_9", body)), "p.gml")
    with pytest.raises(
        XPlanFormatError, match=rf"XPlanGML-Datei p\.gml, BP_Plan GML_9: .*{message}"
    ):
        list(read_xplan_frames(source, None, 10))


def test_unusable_geometry(tmp_path: Path) -> None:
    line = (
        '<gml:LineString gml:id="l" srsName="EPSG:25832"><gml:posList>0 0 1 1</gml:posList>'
        "</gml:LineString>"
    )
    source = write(tmp_path, auszug(plan("g", geometry=line)))
    with pytest.raises(XPlanFormatError, match="keine Fläche"):
        list(read_xplan_frames(source, None, 10))
    source = write(tmp_path, auszug(plan("g", geometry=polygon(0, 0, 1, srs="EPSG:XYZ"))))
    with pytest.raises(XPlanFormatError, match="Koordinatenreferenzsystem"):
        list(read_xplan_frames(source, None, 10))
    source = write(tmp_path, auszug(plan("g", geometry=polygon(0, 0, 1, srs=None)), srs=None))
    with pytest.raises(XPlanFormatError, match="ohne Koordinatenreferenzsystem"):
        list(read_xplan_frames(source, None, 10))


def test_archive_without_gml(tmp_path: Path) -> None:
    source = write_zip(tmp_path / "leer.zip", {"begruendung.pdf": b"%PDF-1.4", "doc/": b""})
    with pytest.raises(XPlanFormatError, match=r"^XPlanArchiv leer\.zip enthält keine GML-Datei$"):
        list(read_xplan_frames(source, None, 10))


def test_archive_member_choice(tmp_path: Path) -> None:
    xml = auszug(plan("z", geometry=polygon(1, 2, 3))).encode()
    chosen = write_zip(
        tmp_path / "a.zip", {"ordner/xplan.gml": xml, "alt.gml": b"not xml", "x.pdf": b""}
    )
    assert list(read_all(chosen)["gml_id"]) == ["z"]
    single = write_zip(tmp_path / "b.zip", {"BPlan_17.GML": xml})
    assert list(read_all(single)["gml_id"]) == ["z"]
    several = write_zip(tmp_path / "c.zip", {"eins.gml": xml, "zwei.gml": xml})
    with pytest.raises(XPlanFormatError, match="mehrere GML-Dateien"):
        list(read_xplan_frames(several, None, 10))


@pytest.mark.parametrize("name", ["../xplan.gml", "/tmp/xplan.gml", "a/../../b.pdf"])
def test_archive_refuses_unsafe_names(tmp_path: Path, name: str) -> None:
    source = write_zip(tmp_path / "evil.zip", {name: auszug().encode()})
    with pytest.raises(XPlanFormatError, match="unzulässigen Dateinamen"):
        list(read_xplan_frames(source, None, 10))


def test_truncated_archive(tmp_path: Path) -> None:
    xml = auszug(plan("z", geometry=polygon(1, 2, 3))).encode()
    data = write_zip(tmp_path / "ganz.zip", {"xplan.gml": xml}).read_bytes()
    truncated = tmp_path / "halb.zip"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(XPlanFormatError, match=r"^XPlanArchiv halb\.zip ist beschädigt"):
        list(read_xplan_frames(truncated, None, 10))
    # A ZIP recognised by its content, whatever its name.
    renamed = tmp_path / "halb.gml"
    renamed.write_bytes(data[: len(data) // 2])
    with pytest.raises(XPlanFormatError, match="beschädigt"):
        list(read_xplan_frames(renamed, None, 10))


def test_corrupt_archive_data(tmp_path: Path) -> None:
    xml = auszug(*(plan(f"z{i}", geometry=polygon(i, 2, 3)) for i in range(200))).encode()
    data = bytearray(write_zip(tmp_path / "ganz.zip", {"xplan.gml": xml}).read_bytes())
    for i in range(200, 260):  # inside the deflated data; the directory stays intact
        data[i] ^= 0xFF
    corrupt = tmp_path / "kaputt.zip"
    corrupt.write_bytes(bytes(data))
    with pytest.raises(XPlanFormatError, match=r"xplan\.gml im XPlanArchiv kaputt\.zip"):
        list(read_xplan_frames(corrupt, None, 10))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(XPlanFormatError, match="kann nicht gelesen werden"):
        list(read_xplan_frames(tmp_path / "fehlt.gml", None, 10))


# --- safety ------------------------------------------------------------------------


def test_external_entity_is_not_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the second line of defence, with the DOCTYPE check (test_hostile.py) out of the way
    monkeypatch.setattr("planungsdaten.harvest.formats.xplan.refuse_dtd", lambda *_: None)
    secret = tmp_path / "secret.txt"
    secret.write_text("GEHEIM-4711", encoding="utf-8")
    body = gemeinde(ags="15088235", name="&xxe;") + "<xplan:name>&xxe;</xplan:name>"
    xml = auszug(plan("x", body, geometry=polygon(1, 2, 3))).replace(
        "<xplan:XPlanAuszug",
        f'<!DOCTYPE xplan:XPlanAuszug [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>\n'
        "<xplan:XPlanAuszug",
        1,
    )
    for source in (
        write(tmp_path, xml),
        write_zip(tmp_path / "xxe.zip", {"xplan.gml": xml.encode()}),
    ):
        frame = read_all(source)
        row = frame.iloc[0]
        assert row["name"] is None
        assert row["municipality_name"] is None
        assert "GEHEIM" not in frame.drop(columns="geometry").to_json()


def test_entity_expansion_is_not_performed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the second line of defence, with the DOCTYPE check (test_hostile.py) out of the way
    monkeypatch.setattr("planungsdaten.harvest.formats.xplan.refuse_dtd", lambda *_: None)
    # "Billion laughs": 10^9 characters if expanded.
    entities = '<!ENTITY l0 "hahahahaha">' + "".join(
        f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 9)
    )
    xml = auszug(plan("x", "<xplan:name>&l8;</xplan:name>")).replace(
        "<xplan:XPlanAuszug", f"<!DOCTYPE xplan:XPlanAuszug [{entities}]>\n<xplan:XPlanAuszug", 1
    )
    source = write(tmp_path, xml)
    try:
        frames = list(read_xplan_frames(source, None, 10))
    except XPlanFormatError as e:  # libxml2 >= 2.11 refuses the amplification outright
        assert "kein wohlgeformtes XML" in str(e)
    else:
        assert frames[0].iloc[0]["name"] is None


# --- memory ------------------------------------------------------------------------


def write_plans(path: Path, plans: int, contents_per_plan: int) -> Path:
    """Many plans, each followed by many plan contents the reader must skip."""
    content = (
        '<xplan:BP_BaugebietsTeilFlaeche gml:id="c{i}_{j}"><xplan:rechtscharakter>1000'
        "</xplan:rechtscharakter><xplan:position>{geometry}</xplan:position>"
        "<xplan:GRZ>0.4</xplan:GRZ></xplan:BP_BaugebietsTeilFlaeche>"
    )
    head, tail = auszug("@@").split("<gml:featureMember>@@</gml:featureMember>")
    with path.open("w", encoding="utf-8") as out:
        out.write(head)
        for i in range(plans):
            x = 600_000 + (i % 100) * 500
            y = 5_700_000 + (i // 100) * 500
            body = (
                f"<xplan:name>Bebauungsplan Nr. {i}</xplan:name>"
                + gemeinde(ags="15088235", name="Mücheln (Geiseltal)")
                + "<xplan:planArt>1000</xplan:planArt><xplan:rechtsstand>4000</xplan:rechtsstand>"
            )
            out.write(f"<gml:featureMember>{plan(f'p{i}', body, geometry=polygon(x, y, 400))}")
            out.write("</gml:featureMember>\n")
            for j in range(contents_per_plan):
                geometry = polygon(x + j, y + j, 1)
                out.write(
                    f"<gml:featureMember>{content.format(i=i, j=j, geometry=geometry)}"
                    "</gml:featureMember>\n"
                )
        out.write(tail)
    return path


@pytest.fixture(scope="module")
def plan_files(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("xplan-memory")
    files = {n: write_plans(folder / f"plans-{n}.gml", n, 10) for n in (300, 3_000)}
    for n, path in list(files.items()):
        with zipfile.ZipFile(folder / f"plans-{n}.zip", "w", zipfile.ZIP_DEFLATED) as archive:
            archive.write(path, "xplan.gml")
    return files


def traced_peak(source: Path) -> tuple[int, int]:
    tracemalloc.start()
    try:
        rows = sum(len(f) for f in read_xplan_frames(source, None, batch_size=200))
        return rows, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_python_memory_stays_flat(plan_files: dict[int, Path]) -> None:
    small_rows, small = traced_peak(plan_files[300])
    large_rows, large = traced_peak(plan_files[3_000])
    assert (small_rows, large_rows) == (300, 3_000)
    assert large / small < 2, f"peak {small} B for 300 plans, {large} B for 3,000"


RSS_PROBE = textwrap.dedent(
    """
    import resource, sys
    from pathlib import Path
    from planungsdaten.harvest.formats.xplan import read_xplan_frames
    count = sum(len(f) for f in read_xplan_frames(Path(sys.argv[1]), None, 200))
    print(count, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """
)


@pytest.mark.parametrize("suffix", [".gml", ".zip"])
def test_parsed_tree_does_not_grow(plan_files: dict[int, Path], suffix: str) -> None:
    # libxml2's tree is invisible to tracemalloc: compare the peak resident size instead.
    def peak_kib(n: int) -> int:
        result = subprocess.run(
            [sys.executable, "-c", RSS_PROBE, str(plan_files[n].with_suffix(suffix))],
            capture_output=True,
            text=True,
            check=True,
        )
        count, rss = result.stdout.split()
        assert int(count) == n
        return int(rss)

    small, large = peak_kib(300), peak_kib(3_000)
    size_mib = plan_files[3_000].stat().st_size / 2**20
    assert (large - small) / 1024 < 0.25 * size_mib, (small, large, size_mib)


def test_frame_dtypes(tmp_path: Path) -> None:
    frame = read_all(write(tmp_path, auszug(plan("t", geometry=polygon(1, 2, 3)))))
    assert all(frame[c].dtype == object for c in COLUMNS)
    assert isinstance(frame, gpd.GeoDataFrame) and not isinstance(frame["ags"], pd.DataFrame)
