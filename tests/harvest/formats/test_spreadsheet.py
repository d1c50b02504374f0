"""XLSX sources: header search, text columns, true row numbers, coordinates, damaged files,
flat memory."""

from __future__ import annotations

import datetime as dt
import gc
import re
import tracemalloc
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import Workbook

from planungsdaten.harvest.errors import SourceFormatError
from planungsdaten.harvest.formats.spreadsheet import ROW_COLUMN, cell_text, read_xlsx
from planungsdaten.harvest.targets import ROW_COLUMN as TARGET_ROW_COLUMN
from sample_data import generate, vacancy


def _read(path: Path, batch_size: int = 1000, **kwargs: object) -> pd.DataFrame:
    options: dict[str, object] = {"sheet": None, "x": None, "y": None, "crs": None}
    options.update(kwargs)
    frames = list(read_xlsx(path, batch_size=batch_size, **options))  # type: ignore[arg-type]
    return pd.concat(frames, ignore_index=True)


def _workbook(path: Path, rows: list[list[object]], title: str = "Tabelle1") -> Path:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = title
    for number, row in enumerate(rows, start=1):
        for column, value in enumerate(row, start=1):
            if value is not None:
                sheet.cell(row=number, column=column, value=value)
    workbook.save(path)
    return path


def test_row_column_is_the_targets_one() -> None:
    assert ROW_COLUMN == TARGET_ROW_COLUMN == "row_number"


def test_sample_register(sample_dir: Path) -> None:
    path = sample_dir / generate.VACANCY_XLSX_FILE
    batches = list(read_xlsx(path, sheet=None, x=None, y=None, crs=None, batch_size=25))
    assert [len(b) for b in batches] == [25, 25, 10]
    assert all(str(b.crs) == "EPSG:25832" for b in batches)
    frame = pd.concat(batches, ignore_index=True)
    # the title in row 1 and the empty row 2 are passed over: the header is row 3
    assert list(frame.columns) == [*vacancy.COLUMNS, "row_number", "geometry"]
    assert frame["row_number"].tolist() == list(range(4, 64))
    assert frame["Lfd. Nr."].tolist() == [str(n) for n in range(1, 61)]
    for column in vacancy.COLUMNS:
        assert frame[column].dtype == "str", column
    assert frame.geometry.isna().all()
    # Excel dates → ISO dates; empty cells → NA, never None objects
    since = frame["leer seit"]
    assert since.notna().sum() >= 50
    assert since.dropna().map(lambda d: bool(re.fullmatch(r"\d{4}-\d\d-\d\d", d))).all()
    assert since.isna().any() and not any(v is None for v in since.to_numpy(dtype=object))
    # numbers: whole ones without ".0", others with a decimal point
    area = frame["Fläche m²"].dropna()
    assert area.str.fullmatch(r"\d+(\.\d+)?").all() and area.str.contains(".", regex=False).any()
    assert not frame["Hausnr."].dropna().str.endswith(".0").any()
    assert frame["Flurstück"].notna().sum() == vacancy.N_PARCEL
    assert set(frame["Nutzung"]) <= set(vacancy.USES)
    # the same with the header row named
    named = _read(path, sheet=vacancy.SHEET, header_row=3)
    assert named.drop(columns="geometry").equals(frame.drop(columns="geometry"))


def test_header_row_named_wrongly(sample_dir: Path) -> None:
    path = sample_dir / generate.VACANCY_XLSX_FILE
    with pytest.raises(SourceFormatError, match=r"Zeile 3 hat einen Wert in Spalte B"):
        _read(path, header_row=1)
    with pytest.raises(SourceFormatError, match=r"Kopfzeile in Zeile 2 ist leer"):
        _read(path, header_row=2)
    with pytest.raises(SourceFormatError, match=r"keine Kopfzeile gefunden \(gesucht in Zeile 99"):
        _read(path, header_row=99)


def test_cell_values_as_text(tmp_path: Path) -> None:
    path = _workbook(
        tmp_path / "werte.xlsx",
        [
            ["Zahl", "Komma", "Datum", "Zeitpunkt", "Uhrzeit", "Wahr", "Text"],
            [12, 87.35, dt.date(2021, 3, 1), dt.datetime(2020, 1, 2, 13, 45), dt.time(8, 30)],
            [12.0, 1e-05, None, None, None, True, "  Hauptstr. 12 a "],
            [None, None, None, None, None, None, "   "],  # blanks only: an empty row
            [-3, 693900.5, None, None, None, False, "Müller & Söhne"],
        ],
    )
    frame = _read(path)
    assert frame["Zahl"].tolist() == ["12", "12", "-3"]
    assert frame["Komma"].tolist() == ["87.35", "1e-05", "693900.5"]
    assert frame["Datum"].iloc[0] == "2021-03-01" and frame["Zeitpunkt"].iloc[0] == "2020-01-02"
    assert frame["Uhrzeit"].iloc[0] == "08:30:00"
    assert frame["Wahr"].tolist()[1:] == ["WAHR", "FALSCH"]
    assert frame["Text"].tolist()[1:] == ["  Hauptstr. 12 a ", "Müller & Söhne"]
    assert frame["row_number"].tolist() == [2, 3, 5]
    assert frame["Datum"].isna().tolist() == [False, True, True]
    assert cell_text(None) is None and cell_text("") is None and cell_text(2.5) == "2.5"


def test_empty_rows_skipped_with_true_row_numbers(tmp_path: Path) -> None:
    rows: list[list[object]] = [["Leerstand 2024"], [], [], ["Nr", "Straße"]]
    for number in range(1, 8):
        rows.append([number, f"Weg {number}"])
        rows.append([])
    frame_batches = list(
        read_xlsx(
            _workbook(tmp_path / "luecken.xlsx", rows),
            sheet=None,
            x=None,
            y=None,
            crs=None,
            batch_size=3,
        )
    )
    assert [len(b) for b in frame_batches] == [3, 3, 1]
    frame = pd.concat(frame_batches, ignore_index=True)
    assert frame["row_number"].tolist() == [5, 7, 9, 11, 13, 15, 17]
    assert frame["Nr"].tolist() == [str(n) for n in range(1, 8)]


def test_sheet_by_name(tmp_path: Path) -> None:
    workbook = Workbook()
    first = workbook.active
    assert first is not None
    first.title = "Hinweise"
    first.append(["Diese Tabelle enthält", "personenbezogene Daten"])
    second = workbook.create_sheet("Leerstand")
    second.append(["Nr", "Straße"])
    second.append([1, "Markt"])
    path = tmp_path / "mappe.xlsx"
    workbook.save(path)
    assert _read(path, sheet="Leerstand")["Straße"].tolist() == ["Markt"]
    # the first sheet by default: a header row and no data
    assert list(read_xlsx(path, sheet=None, x=None, y=None, crs=None, batch_size=10)) == []
    with pytest.raises(
        SourceFormatError, match=r"Tabellenblatt 'Daten' fehlt.*Hinweise, Leerstand"
    ):
        _read(path, sheet="Daten")


def test_coordinates_with_decimal_comma(tmp_path: Path) -> None:
    path = _workbook(
        tmp_path / "lage.xlsx",
        [
            ["Nr", "Rechtswert", "Hochwert"],
            [1, "693.900,5", "5.688.200,25"],
            [2, 693901.25, 5688201],
            [3, "693902,5", None],
            [4, "unbekannt", "5688200"],
            [5, " 693 903,0 ", "5688203.5"],
        ],
    )
    frame = _read(path, x="Rechtswert", y="Hochwert", crs="EPSG:25832")
    assert str(frame.crs) == "EPSG:25832"
    points = [None if g is None else (g.x, g.y) for g in frame.geometry]
    assert points == [
        (693900.5, 5688200.25),
        (693901.25, 5688201.0),
        None,
        None,
        (693903.0, 5688203.5),
    ]
    assert frame["Rechtswert"].iloc[0] == "693.900,5"  # the text stays as written
    with pytest.raises(SourceFormatError, match=r"Spalte\(n\) Ostwert fehlen.*Rechtswert"):
        _read(path, x="Ostwert", y="Hochwert", crs="EPSG:25832")
    with pytest.raises(SourceFormatError, match=r"Koordinatenreferenzsystem"):
        _read(path, x="Rechtswert", y="Hochwert", crs=None)
    with pytest.raises(SourceFormatError, match=r"beide Spalten x und y"):
        _read(path, x="Rechtswert", crs="EPSG:25832")


def test_duplicate_and_empty_header_names(tmp_path: Path) -> None:
    title: list[object] = ["Leerstandskataster"]
    twins = _workbook(tmp_path / "doppelt.xlsx", [title, [], ["Nr", "Straße", "Straße "], [1]])
    with pytest.raises(SourceFormatError) as caught:
        _read(twins)
    assert str(caught.value) == "doppelt.xlsx: Kopfzeile in Zeile 3 hat doppelte Spalte 'Straße'"
    gap = _workbook(tmp_path / "luecke.xlsx", [title, ["Nr", None, "Straße"], [1, "x", "y"]])
    with pytest.raises(
        SourceFormatError, match=r"Kopfzeile in Zeile 2 hat eine leere Spalte \(B\)"
    ):
        _read(gap)
    reserved = _workbook(tmp_path / "reserviert.xlsx", [["Nr", "row_number"], [1, 2]])
    with pytest.raises(SourceFormatError, match=r"'row_number' ist reserviert"):
        _read(reserved)
    stray = _workbook(tmp_path / "notiz.xlsx", [["Nr", "Straße"], [1, "Markt", None, "Notiz"]])
    with pytest.raises(SourceFormatError, match=r"Zeile 2 hat einen Wert in Spalte D"):
        _read(stray)
    lonely = _workbook(tmp_path / "einspaltig.xlsx", [["Nr"], [1], [2]])
    with pytest.raises(SourceFormatError, match=r"keine Kopfzeile gefunden"):
        _read(lonely)
    assert _read(lonely, header_row=1)["Nr"].tolist() == ["1", "2"]


def test_not_an_xlsx_file(tmp_path: Path, sample_dir: Path) -> None:
    renamed = tmp_path / "Leerstand.xlsx"
    renamed.write_bytes((sample_dir / generate.VACANCY_CSV_FILE).read_bytes())
    good = (sample_dir / generate.VACANCY_XLSX_FILE).read_bytes()
    truncated = tmp_path / "abgebrochen.xlsx"
    truncated.write_bytes(good[: len(good) // 2])
    foreign = tmp_path / "archiv.xlsx"
    with zipfile.ZipFile(foreign, "w") as archive:
        archive.writestr("liesmich.txt", "kein Excel")
    empty = tmp_path / "leer.xlsx"
    empty.write_bytes(b"")
    for path in (renamed, truncated, foreign, empty):
        with pytest.raises(SourceFormatError) as caught:
            _read(path)
        assert str(caught.value).startswith(f"{path.name} ist keine lesbare XLSX-Datei: ")


def test_damaged_sheet_inside_a_valid_zip(tmp_path: Path, sample_dir: Path) -> None:
    source = sample_dir / generate.VACANCY_XLSX_FILE
    damaged = tmp_path / "kaputt.xlsx"
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(damaged, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data[: len(data) * 2 // 3]  # the sheet's XML breaks off
            dst.writestr(info, data)
    with pytest.raises(SourceFormatError, match=r"kaputt.xlsx ist keine lesbare XLSX-Datei"):
        _read(damaged)


def test_file_name_without_xlsx_extension(tmp_path: Path, sample_dir: Path) -> None:
    download = tmp_path / "download"
    download.write_bytes((sample_dir / generate.VACANCY_XLSX_FILE).read_bytes())
    assert len(_read(download)) == 60


# ------------------------------------------------------------------------------ memory

_TYPES = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_PACKAGE = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{_TYPES}.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        f'ContentType="{_TYPES}.worksheet+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" '
        f'ContentType="{_TYPES}.sharedStrings+xml"/>'
        f'<Override PartName="/xl/styles.xml" ContentType="{_TYPES}.styles+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{_RELS}/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>"
    ),
    "xl/workbook.xml": (
        f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{_MAIN}" xmlns:r="{_RELS}">'
        '<sheets><sheet name="Leerstand" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{_RELS}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{_RELS}/sharedStrings" Target="sharedStrings.xml"/>'
        f'<Relationship Id="rId3" Type="{_RELS}/styles" Target="styles.xml"/>'
        "</Relationships>"
    ),
    "xl/styles.xml": (
        f'<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="{_MAIN}">'
        '<fonts count="1"><font/></fonts>'
        '<fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
        '<borders count="1"><border/></borders>'
        '<cellStyleXfs count="1"><xf/></cellStyleXfs>'
        '<cellXfs count="1"><xf xfId="0"/></cellXfs>'
        '<cellStyles count="1"><cellStyle name="Standard" xfId="0" builtinId="0"/></cellStyles>'
        "</styleSheet>"
    ),
}


def _large_workbook(path: Path, rows: int) -> None:
    """A sheet as Excel writes it (shared strings, <dimension>), written fast, row by row."""
    strings = ["Lfd. Nr.", "Straße", *(f"Straße {k}" for k in range(50))]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in _PACKAGE.items():
            archive.writestr(name, text)
        archive.writestr(
            "xl/sharedStrings.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{_MAIN}">'
            + "".join(f"<si><t>{s}</t></si>" for s in strings)
            + "</sst>",
        )
        with archive.open("xl/worksheets/sheet1.xml", "w") as out:
            out.write(
                f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{_MAIN}">'
                f'<dimension ref="A1:B{rows + 1}"/><sheetData>'
                '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>'.encode()
            )
            chunk: list[str] = []
            for k in range(rows):
                r = k + 2
                chunk.append(
                    f'<row r="{r}"><c r="A{r}"><v>{k + 1}</v></c>'
                    f'<c r="B{r}" t="s"><v>{2 + k % 50}</v></c></row>'
                )
                if len(chunk) == 10_000:
                    out.write("".join(chunk).encode())
                    chunk = []
            out.write("".join(chunk).encode())
            out.write(b"</sheetData></worksheet>")


def test_large_sheet_streams_in_batches(tmp_path: Path) -> None:
    rows = 100_000
    path = tmp_path / "gross.xlsx"
    _large_workbook(path, rows)
    count, first, last, sizes = 0, None, None, []
    gc.collect()
    tracemalloc.start()
    try:
        for batch in read_xlsx(path, sheet=None, x=None, y=None, crs=None, batch_size=10_000):
            sizes.append(len(batch))
            count += len(batch)
            if first is None:
                first = batch.iloc[0][["Lfd. Nr.", "Straße", "row_number"]].tolist()
            last = batch.iloc[-1][["Lfd. Nr.", "Straße", "row_number"]].tolist()
            del batch
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sizes == [10_000] * 10 and count == rows
    assert first == ["1", "Straße 0", 2] and last == ["100000", "Straße 49", 100_001]
    # one batch of Python objects is a few MB; holding all 100,000 rows takes over 30 MB
    assert peak < 22 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
