"""The sample vacancy register: deterministic files, messy but matchable, known ground truth."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest

from planungsdaten.harvest.formats.delimited import read_delimited
from sample_data import generate, vacancy
from sample_data.cadastre import Cadastre


@pytest.fixture(scope="module")
def cadastre() -> Cadastre:
    return vacancy.sample_cadastre()


@pytest.fixture(scope="module")
def register_dir(tmp_path_factory: pytest.TempPathFactory, cadastre: Cadastre) -> Path:
    directory = tmp_path_factory.mktemp("vacancy")
    vacancy.generate_vacancy(directory, cadastre)
    return directory


# the normalisers of migration 0004 (fold_german, street_key), in Python
def fold_german(value: str) -> str:
    value = value.translate(str.maketrans("ÄÖÜẞÉÈ", "äöüßéè")).lower()
    value = value.translate(str.maketrans("äöüéè", "aouee")).replace("ß", "ss")
    return value.replace("ae", "a").replace("oe", "o").replace("ue", "u")


def street_key(value: str) -> str:
    return re.sub(r"[^a-z0-9]", "", re.sub(r"str(asse|\.|\b)", "str", fold_german(value)))


def house_number_key(value: str) -> str:
    """'12 A' → '12a'; a range '12-14' is the building numbered 12."""
    value = re.sub(r"\s+", "", value).lower()
    return re.sub(r"^(\d+[a-z]?)-\d+[a-z]?$", r"\1", value)


def _data_rows(path: Path) -> list[tuple[object, ...]]:
    workbook = openpyxl.load_workbook(path)
    sheet = workbook[vacancy.SHEET]
    return list(sheet.iter_rows(min_row=vacancy.HEADER_ROW + 1, values_only=True))


def test_generation_is_deterministic_and_fast(tmp_path: Path, cadastre: Cadastre) -> None:
    started = time.perf_counter()
    first = vacancy.generate_vacancy(tmp_path / "a", cadastre)
    assert time.perf_counter() - started < 5.0
    second = vacancy.generate_vacancy(tmp_path / "b", cadastre)
    assert [p.name for p in first] == [vacancy.XLSX_FILE, vacancy.CSV_FILE]
    assert [p.name for p in second] == [p.name for p in first]
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    # the clock leaves no trace: ZIP member times and document properties are pinned
    with zipfile.ZipFile(first[0]) as archive:
        assert {info.date_time for info in archive.infolist()} == {(2025, 1, 15, 9, 30, 0)}
        core = archive.read("docProps/core.xml").decode()
    assert core.count("2025-01-15T09:30:00Z") == 2
    properties = openpyxl.load_workbook(first[0], read_only=True).properties
    assert properties.created == properties.modified == vacancy.WORKBOOK_TIME


def test_hooked_into_the_generator() -> None:
    assert vacancy.VACANCY_XLSX_FILE == vacancy.XLSX_FILE == generate.VACANCY_XLSX_FILE
    assert vacancy.VACANCY_CSV_FILE == vacancy.CSV_FILE == generate.VACANCY_CSV_FILE
    assert generate.VACANCY_XLSX_FILE == "Leerstandskataster_Muecheln.xlsx"
    assert generate.VACANCY_CSV_FILE == "Leerstand_Muecheln.csv"
    assert generate.VACANCY_XLSX_FILE in (generate.__doc__ or "")
    assert generate.VACANCY_CSV_FILE in (generate.__doc__ or "")


def test_xlsx_layout(register_dir: Path) -> None:
    workbook = openpyxl.load_workbook(register_dir / vacancy.XLSX_FILE)
    assert workbook.sheetnames == ["Leerstand"]
    sheet = workbook["Leerstand"]
    assert sheet["A1"].value == "Leerstandskataster Stadt Mücheln (Geiseltal), Stand 31.12.2024"
    assert all(cell.value is None for cell in sheet[2])
    assert [c.value for c in sheet[3]] == list(vacancy.COLUMNS)
    assert vacancy.COLUMNS == (
        "Lfd. Nr.", "Straße", "Hausnr.", "Flurstück", "Nutzung", "Status", "leer seit",
        "Fläche m²", "Bemerkung",
    )  # fmt: skip
    rows = list(sheet.iter_rows(min_row=4))
    assert len(rows) == 60
    assert [r[0].value for r in rows] == list(range(1, 61))
    dates = [r[6] for r in rows if r[6].value is not None]
    assert len(dates) >= 50
    assert all(c.is_date and isinstance(c.value, dt.datetime) for c in dates)
    areas = [r[7].value for r in rows if r[7].value is not None]
    assert all(isinstance(a, int | float) for a in areas)
    assert any(isinstance(a, float) and not a.is_integer() for a in areas)
    assert {r[4].value for r in rows} <= set(vacancy.USES)
    assert {r[5].value for r in rows} == set(vacancy.STATUSES)
    numbers = [r[2].value for r in rows]
    assert any(isinstance(n, int) for n in numbers) and any(isinstance(n, str) for n in numbers)
    parcels = [r[3].value for r in rows if r[3].value is not None]
    assert len(parcels) == vacancy.N_PARCEL
    assert all(re.fullmatch(r"15\d{4}\d{3}\d{5}[\d_]{4}__", p) for p in parcels)
    # parcel entries carry no address, and the other way round
    assert all((r[3].value is None) == (r[1].value is not None) for r in rows)


def test_messy_writing(register_dir: Path) -> None:
    rows = _data_rows(register_dir / vacancy.XLSX_FILE)
    streets = {r[1] for r in rows if r[1]}
    assert {"Hauptstr.", "Str. der Einheit", "Muehlweg", "Schlossstrasse", " Markt "} <= streets
    numbers = [str(r[2]) for r in rows if r[2] is not None]
    assert any(re.fullmatch(r"\d+a", n) for n in numbers)
    assert any(re.fullmatch(r"\d+ a", n) for n in numbers)
    assert any(re.fullmatch(r"\d+ ?A", n) for n in numbers)
    assert sum(bool(re.fullmatch(r"\d+-\d+", n)) for n in numbers) == vacancy.N_RANGE


def test_ground_truth_is_matchable(register_dir: Path, cadastre: Cadastre) -> None:
    expected = vacancy.expected_matches(cadastre)
    assert expected == vacancy.expected_matches()  # the default is the generator's cadastre
    assert sorted(expected) == list(range(1, 61))
    assert sum(v is None for v in expected.values()) == 4
    addresses = {
        (street_key(s), n): (s, n)
        for s, n in zip(
            cadastre.addresses["street"], cadastre.addresses["house_number"], strict=True
        )
    }
    canonical = set(addresses.values())
    lage = dict(zip(cadastre.parcels["flstkennz"], cadastre.parcels["lagebeztxt"], strict=True))
    for number, street, house_number, parcel, *_ in _data_rows(register_dir / vacancy.XLSX_FILE):
        assert isinstance(number, int)
        truth = expected[number]
        if parcel is not None:
            assert truth is not None and lage[parcel] == f"{truth[0]} {truth[1]}"
            continue
        assert isinstance(street, str) and house_number is not None
        found = addresses.get((street_key(street), house_number_key(str(house_number))))
        assert found == truth, (number, street, house_number)
        assert truth is None or truth in canonical


def test_csv_export(register_dir: Path, cadastre: Cadastre) -> None:
    raw = (register_dir / vacancy.CSV_FILE).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert "Straße".encode("cp1252") in raw and "Fläche m²".encode("cp1252") in raw
    text = raw.decode("cp1252")
    lines = text.split("\r\n")
    assert lines[-1] == "" and all("\n" not in line for line in lines)
    assert lines[0] == ";".join(vacancy.CSV_COLUMNS)
    assert lines[0].endswith(";Rechtswert;Hochwert")
    records = list(csv.reader(io.StringIO(text), delimiter=";"))
    header, data = records[0], records[1:]
    assert all(len(r) == len(header) == 11 for r in data)
    assert len(data) == 61
    # one row pasted twice, right below itself
    twins = [k for k in range(1, len(data)) if data[k] == data[k - 1]]
    assert twins and [data[k][0] for k in twins] == [str(vacancy.DUPLICATE_NUMBER)]
    assert len({tuple(r) for r in data}) == 60
    assert [int(r[0]) for r in data if r is not data[twins[0]]] == list(range(1, 61))
    # German dates and decimals, like the sheet's values
    dates = [r[6] for r in data if r[6]]
    assert dates and all(re.fullmatch(r"\d\d\.\d\d\.\d{4}", d) for d in dates)
    assert any("," in r[7] for r in data) and not any("." in r[7] for r in data)
    assert any(";" in r[8] for r in data)  # a quoted remark
    sheet = {r[0]: r for r in _data_rows(register_dir / vacancy.XLSX_FILE)}
    for r in data:
        row = sheet[int(r[0])]
        since = row[6]
        assert r[6] == (since.strftime("%d.%m.%Y") if isinstance(since, dt.datetime) else "")
        assert r[1] == (row[1] or "") and r[2] == ("" if row[2] is None else str(row[2]))
        area = row[7]
        assert (float(r[7].replace(",", ".")) if r[7] else None) == area
    # ten entries located by their house coordinate
    located = [r for r in data if r[9]]
    assert len(located) == vacancy.N_COORDINATES
    assert all(
        re.fullmatch(r"\d{6},\d\d", r[9]) and re.fullmatch(r"\d{7},\d\d", r[10]) for r in located
    )
    (frame,) = read_delimited(
        register_dir / vacancy.CSV_FILE,
        x="Rechtswert",
        y="Hochwert",
        wkt=None,
        encoding=None,
        delimiter=None,
        decimal=",",
        crs="EPSG:25832",
        batch_size=1000,
    )
    assert len(frame) == 61 and frame.geometry.notna().sum() == vacancy.N_COORDINATES
    points = {
        (s, n): (e, no)
        for s, n, e, no in zip(
            cadastre.addresses["street"],
            cadastre.addresses["house_number"],
            cadastre.addresses["east"],
            cadastre.addresses["north"],
            strict=True,
        )
    }
    expected = vacancy.expected_matches(cadastre)
    for number, point in zip(frame["Lfd. Nr."], frame.geometry, strict=True):
        if point is not None:
            truth = expected[int(number)]
            assert truth is not None
            assert (point.x, point.y) == pytest.approx(points[truth], abs=0.006)
