"""Indicator tables, parcel list, licences and deterministic ZIPs."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from planungsdaten.packages.model import Indicator, SourceUse
from planungsdaten.packages.tables import (
    INDICATOR_COLUMNS,
    PARCEL_COLUMNS,
    RESTRICTED_NOTE,
    indicators_csv,
    indicators_xlsx,
    licence_name,
    licences_text,
    normalize_zip_bytes,
    parcel_list_csv,
    write_zip,
)

STAMP = dt.datetime(2024, 6, 25, 10, 30, tzinfo=dt.UTC)
DATE_TIME = (2024, 6, 25, 0, 0, 0)


def _indicator(**changes: object) -> Indicator:
    values: dict[str, object] = {
        "key": "population.total",
        "theme": "population",
        "label": "Einwohner",
        "unit": "Personen",
        "area": 1234.5678901234,
        "municipality": 20512.0,
        "source": "Zensus 2022",
        "reference_date": "2022-05-15",
        "method": "Summe der 100-m-Gitterzellen; Zellen am Rand anteilig",
        "decimals": 0,
    }
    values.update(changes)
    return Indicator(**values)  # type: ignore[arg-type]


INDICATORS = [
    _indicator(),
    _indicator(
        key="vacancy.rate",
        theme="vacancy",
        label="Leerstandsquote",
        unit="%",
        area=0.1234567891,
        municipality=None,
        reference_date="2024-01-01",
        decimals=1,
    ),
    _indicator(key="own.value", theme="Eigenes Thema", area=None, municipality=float("nan")),
]


def _read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert "\r\n" in text and "\n" not in text.replace("\r\n", "")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))


def test_indicators_csv_parses_back_with_german_numbers() -> None:
    rows = _read_csv(indicators_csv(INDICATORS))

    assert rows[0] == list(INDICATOR_COLUMNS)
    assert len(rows) == 4
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["thema"] == "Bevölkerung und Wohnen (Zensus 2022)"
    assert first["wert_gebiet"] == "1234,56789"
    assert first["wert_gemeinde"] == "20512"
    assert first["stand"] == "15.05.2022"
    assert first["methode"] == "Summe der 100-m-Gitterzellen; Zellen am Rand anteilig"
    assert first["schluessel"] == "population.total"
    second = dict(zip(rows[0], rows[2], strict=True))
    assert second["thema"] == "Leerstand"
    assert second["wert_gebiet"] == "0,123457"
    assert second["wert_gemeinde"] == ""
    third = dict(zip(rows[0], rows[3], strict=True))
    assert third["thema"] == "Eigenes Thema"
    assert third["wert_gebiet"] == third["wert_gemeinde"] == ""


def test_indicators_xlsx_is_numeric_formatted_and_deterministic() -> None:
    data = indicators_xlsx(INDICATORS, "ISEK Altstadt", STAMP)

    assert data == indicators_xlsx(INDICATORS, "ISEK Altstadt", STAMP)
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    sheet = workbook["Indikatoren"]
    assert sheet["A1"].value == "ISEK Altstadt"
    header = [cell.value for cell in sheet[2]]
    assert header == [
        "Thema",
        "Indikator",
        "Einheit",
        "Gebiet",
        "Gemeinde",
        "Quelle",
        "Stand",
        "Methode",
        "Schlüssel",
    ]
    assert all(cell.font.bold for cell in sheet[2])
    assert sheet.freeze_panes == "A3"
    assert sheet.auto_filter.ref == "A2:I5"
    assert sheet["D3"].value == pytest.approx(1234.5678901234)
    assert isinstance(sheet["D3"].value, float)
    assert sheet["D3"].number_format == "#,##0"
    assert sheet["D4"].number_format == "#,##0.0"
    assert sheet["E4"].value is None
    assert sheet["E5"].value is None
    assert sheet["H3"].alignment.wrap_text
    assert sheet["G3"].value == "15.05.2022"
    assert workbook.properties.creator == "planungsdaten"
    assert workbook.properties.created == dt.datetime(2024, 6, 25, 10, 30)
    assert workbook.properties.modified == dt.datetime(2024, 6, 25, 10, 30)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert {info.date_time for info in archive.infolist()} == {(2024, 6, 25, 10, 30, 0)}
    assert indicators_xlsx(INDICATORS, "ISEK Altstadt", STAMP + dt.timedelta(days=1)) != data


def _parcels() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "flurstueckskennzeichen": [
                "15123400300008000200",
                "15123400300008______",
                "15123400100012______",
            ],
            "gemarkung": ["151234", "151234", "151234"],
            "gemarkung_name": ["Altstadt", "Altstadt", "Altstadt"],
            "flur": ["003", "003", "001"],
            "zaehler": ["00008", "00008", "00012"],
            "nenner": ["0002", None, np.nan],
            "amtliche_flaeche_m2": [523.0, 1200.5, 88.0],
            "lage": ["Marktstraße 3", None, np.nan],
            "anteil_im_gebiet_prozent": [100.0, 33.33333, 2.006],
            "flaeche_im_gebiet_m2": [523.0, 400.16666, 1.7649],
        }
    )


def test_parcel_list_numbers_sorting_and_areas() -> None:
    rows = _read_csv(parcel_list_csv(_parcels()))

    assert rows[0] == list(PARCEL_COLUMNS)
    records = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert [r["kennzeichen"] for r in records] == [
        "15123400100012______",
        "15123400300008000200",
        "15123400300008______",
    ]
    assert [r["nummer"] for r in records] == ["12", "8/2", "8"]
    assert [r["flur"] for r in records] == ["1", "3", "3"]
    assert [r["lage"] for r in records] == ["", "Marktstraße 3", ""]
    assert [r["amtliche_flaeche_m2"] for r in records] == ["88", "523", "1200,5"]
    assert [r["flaeche_im_gebiet_m2"] for r in records] == ["1,76", "523", "400,17"]
    assert [r["anteil_im_gebiet_prozent"] for r in records] == ["2,01", "100", "33,33"]
    assert records[0]["gemarkung"] == "151234"
    assert records[0]["gemarkung_name"] == "Altstadt"


def test_parcel_list_accepts_numeric_columns() -> None:
    frame = _parcels().assign(flur=[3, 3, 1], zaehler=[8, 8, 12], nenner=[2.0, np.nan, np.nan])

    rows = _read_csv(parcel_list_csv(frame))

    assert [row[4] for row in rows[1:]] == ["12", "8/2", "8"]
    assert [row[3] for row in rows[1:]] == ["1", "3", "3"]


def _use(**changes: object) -> SourceUse:
    values: dict[str, object] = {
        "source_id": "alkis-st",
        "title": "ALKIS Sachsen-Anhalt",
        "publisher": "Landesamt für Vermessung und Geoinformation Sachsen-Anhalt (LVermGeo)",
        "licence": "http://dcat-ap.de/def/licenses/dl-by-de/2.0",
        "attribution": "© GeoBasis-DE / LVermGeo ST 2024",
        "access": "open",
        "version_id": 12,
        "target_table": "parcel",
        "layer": "flurstuecke",
        "published_at": dt.datetime(2024, 3, 1, 8, 0, tzinfo=dt.UTC),
        "checksum_sha256": "0" * 64,
        "feature_count": 10,
    }
    values.update(changes)
    return SourceUse(**values)  # type: ignore[arg-type]


SOURCES = [
    _use(),
    _use(version_id=13, target_table="address", layer="hausnummern"),
    _use(
        source_id="zensus-2022",
        title="Zensus 2022 – Gitterzellen",
        publisher="Statistisches Bundesamt (Destatis)",
        licence="http://dcat-ap.de/def/licenses/dl-zero-de/2.0",
        attribution="Statistische Ämter des Bundes und der Länder, Zensus 2022",
        version_id=3,
        layer="zensus_gitter_100m",
        # 23:30 UTC is already the next day in Germany
        published_at=dt.datetime(2024, 6, 24, 23, 30, tzinfo=dt.UTC),
    ),
    _use(
        source_id="leerstand-musterstadt",
        title="Leerstandskataster Musterstadt",
        publisher="Stadt Musterstadt",
        licence="https://example.org/eigene-lizenz",
        attribution="Stadt Musterstadt, Leerstandskataster",
        access="restricted",
        version_id=7,
        layer="leerstand",
    ),
]


def test_licences_text_lists_each_source_once() -> None:
    text = licences_text(SOURCES, "ISEK Altstadt")

    assert text.splitlines()[0] == "Lizenzen und Quellenangaben – ISEK Altstadt"
    for use in SOURCES:
        assert text.count(f"Namensnennung (bitte genau so angeben): {use.attribution}") == 1
    assert text.count("1. ALKIS Sachsen-Anhalt") == 1
    assert "Datenlizenz Deutschland – Namensnennung – Version 2.0" in text
    assert "Datenlizenz Deutschland – Zero – Version 2.0" in text
    assert "Lizenz: https://example.org/eigene-lizenz" in text
    assert "Flurstücke [flurstuecke], Hausnummern (Adressen) [hausnummern]" in text
    assert "Versionen im Datenbestand: 12, 13" in text
    assert "Stand: 01.03.2024" in text
    assert "Stand: 25.06.2024" in text
    assert text.count(RESTRICTED_NOTE) == 1
    restricted = text[text.index("Leerstandskataster Musterstadt") :]
    assert RESTRICTED_NOTE in restricted.split("\n\n")[0]
    assert "unter den Lizenzen seiner Quellen" in text


def test_licence_names() -> None:
    assert licence_name("http://dcat-ap.de/def/licenses/cc-by/4.0") == (
        "Creative Commons Namensnennung 4.0 International (CC BY 4.0)"
    )
    assert licence_name("https://dcat-ap.de/def/licenses/cc-zero/") == "CC0 1.0"
    assert "CC BY-SA 4.0" in licence_name("http://dcat-ap.de/def/licenses/cc-by-sa/4.0")
    assert licence_name("http://example.org/x") == "http://example.org/x"


def _members(tmp_path: Path) -> list[tuple[str, Path | bytes]]:
    big = tmp_path / "daten.gpkg"
    # larger than one copy chunk, and not compressible to nothing
    rng = np.random.default_rng(1)
    big.write_bytes(rng.integers(0, 255, 3 * 1024 * 1024 + 17, dtype=np.uint8).tobytes())
    return [
        ("LIZENZEN.txt", "Lizenzen für Flurstücke\n".encode()),
        ("daten/paket.gpkg", big),
        ("tabellen\\indikatoren.csv", b"a;b\r\n1;2\r\n"),
    ]


def test_write_zip_is_deterministic_and_streams_files(tmp_path: Path) -> None:
    members = _members(tmp_path)
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"

    write_zip(first, members, DATE_TIME)
    write_zip(second, members, DATE_TIME)

    assert first.read_bytes() == second.read_bytes()
    assert not (tmp_path / "a.zip.part").exists()
    with zipfile.ZipFile(first) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == [
            "LIZENZEN.txt",
            "daten/paket.gpkg",
            "tabellen/indikatoren.csv",
        ]
        assert archive.read("daten/paket.gpkg") == (tmp_path / "daten.gpkg").read_bytes()
        for info in archive.infolist():
            assert info.date_time == DATE_TIME
            assert info.compress_type == zipfile.ZIP_DEFLATED
            assert info.external_attr >> 16 & 0o777 == 0o644
            assert info.create_system == 3


def test_write_zip_refuses_bad_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="duplicate"):
        write_zip(tmp_path / "x.zip", [("a.txt", b"1"), ("a.txt", b"2")], DATE_TIME)
    with pytest.raises(ValueError, match="invalid"):
        write_zip(tmp_path / "x.zip", [("../a.txt", b"1")], DATE_TIME)
    assert not list(tmp_path.iterdir())


def test_normalize_zip_bytes_fixes_timestamps() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("b.xml", "<b/>")
        archive.writestr("a/", "")
        archive.writestr("a/c.txt", "c" * 1000)

    data = normalize_zip_bytes(buffer.getvalue(), DATE_TIME)

    assert data == normalize_zip_bytes(buffer.getvalue(), DATE_TIME)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == ["b.xml", "a/", "a/c.txt"]
        assert archive.read("a/c.txt") == b"c" * 1000
        assert {info.date_time for info in archive.infolist()} == {DATE_TIME}
        assert archive.getinfo("a/").is_dir()
