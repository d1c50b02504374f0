"""XLSX workbooks (Excel 2007+), as municipal offices keep their registers.

The sheet is streamed row by row (openpyxl read-only mode): memory stays bounded by one batch,
whatever the number of rows. Every column comes out as text, the way the CSV reader gives
it, so that the canonical mapping treats both alike:

- whole numbers as "12", other numbers with a decimal point ("87.35"),
- dates and date-times as ISO dates ("2021-03-01"), times as "08:30:00",
- empty cells as NA.

Real sheets carry a title and blank lines above the table: the header is the first row with
at least two non-empty cells (or the row named by ``header_row``). Fully empty rows are left
out; each record keeps its true sheet row in ``row_number`` for rejection reports.

A workbook is a ZIP of XML parts: each part's prolog is checked first and a DTD refused
(`xmlsafety`), on top of openpyxl's own guards (defusedxml, lxml without entities).
"""

from __future__ import annotations

import datetime as dt
import math
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any
from xml.etree.ElementTree import ParseError

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException

from planungsdaten.harvest.errors import SourceFormatError
from planungsdaten.harvest.targets import ROW_COLUMN
from planungsdaten.harvest.xmlsafety import refuse_dtd

__all__ = ["DEFAULT_CRS", "ROW_COLUMN", "cell_text", "read_xlsx"]

DEFAULT_CRS = "EPSG:25832"  # frames without coordinates still need one downstream
_GEOMETRY = "geometry"
_RESERVED = (ROW_COLUMN, _GEOMETRY)
# what openpyxl, zipfile and the XML parsers raise on damaged or foreign files
_UNREADABLE = (
    zipfile.BadZipFile,
    zlib.error,
    InvalidFileException,
    KeyError,
    ParseError,
    SyntaxError,
    ValueError,
    TypeError,
    EOFError,
    IndexError,
)


def _unreadable(path: Path, error: BaseException) -> SourceFormatError:
    detail = str(error) or type(error).__name__
    return SourceFormatError(f"{path.name} ist keine lesbare XLSX-Datei: {detail}")


def cell_text(value: Any) -> str | None:
    """A cell value as text; None for empty cells and cells holding only blanks."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, bool):
        return "WAHR" if value else "FALSCH"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _coordinate(text: str | None) -> float:
    """A coordinate written by hand or exported: "693900.5", "693.900,5", "5.688.200"."""
    if text is None:
        return math.nan
    text = text.strip().replace("\u00a0", "").replace(" ", "")
    if "," in text:
        text = text.replace(".", "").replace(",", ".")
    elif text.count(".") > 1:
        text = text.replace(".", "")
    try:
        return float(text)
    except ValueError:
        return math.nan


def _header(path: Path, row_number: int, values: Sequence[Any]) -> list[str]:
    """Column names of the header row: trailing empty cells dropped; no gaps, no twins."""
    names = [cell_text(v) for v in values]
    while names and names[-1] is None:
        names.pop()
    seen: set[str] = set()
    header: list[str] = []
    for index, name in enumerate(names, start=1):
        letter = get_column_letter(index)
        if name is None:
            raise SourceFormatError(
                f"{path.name}: Kopfzeile in Zeile {row_number} hat eine leere Spalte "
                f"({letter}); jede Spalte mit Werten braucht eine Überschrift"
            )
        name = name.strip()
        if name in seen:
            raise SourceFormatError(
                f"{path.name}: Kopfzeile in Zeile {row_number} hat doppelte Spalte '{name}'"
            )
        if name in _RESERVED:
            raise SourceFormatError(
                f"{path.name}: Kopfzeile in Zeile {row_number}: der Spaltenname '{name}' "
                "ist reserviert; die Spalte umbenennen"
            )
        seen.add(name)
        header.append(name)
    return header


def _frame(
    header: list[str],
    rows: list[list[str | None]],
    row_numbers: list[int],
    x: str | None,
    y: str | None,
    crs: str,
) -> gpd.GeoDataFrame:
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in header]
    data: dict[str, Any] = {
        name: pd.array(list(values), dtype="str")
        for name, values in zip(header, columns, strict=True)
    }
    data[ROW_COLUMN] = np.asarray(row_numbers, dtype=np.int64)
    frame = pd.DataFrame(data)
    if x and y:
        xs = np.array([_coordinate(v) for v in columns[header.index(x)]], dtype=float)
        ys = np.array([_coordinate(v) for v in columns[header.index(y)]], dtype=float)
        geometry = shapely.points(xs, ys)
        geometry[np.isnan(xs) | np.isnan(ys)] = None
    else:
        geometry = np.full(len(rows), None, dtype=object)
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=crs)


def _refuse_dtds(path: Path) -> None:
    """Refuse the workbook when any of its parts declares a DTD (XML bomb, XXE)."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return  # not a ZIP: load_workbook says so in its own words
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            try:
                with archive.open(info) as part:
                    refuse_dtd(part, f"XLSX-Datei {path.name} ({info.filename})")
            except (
                zipfile.BadZipFile,
                zlib.error,
                EOFError,
                RuntimeError,
                NotImplementedError,
            ) as e:
                raise _unreadable(path, e) from e


def _rows(path: Path, sheet: Any) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """(sheet row number, values) of every row, empty rows included, counted from row 1."""
    # the stored <dimension> is often wrong (other writers): read what is there instead
    sheet.reset_dimensions()
    cells = sheet.iter_rows(values_only=True)
    number = 0
    while True:
        try:
            values = next(cells)
        except StopIteration:
            return
        except _UNREADABLE as e:  # damage inside the sheet shows only when it is read
            raise _unreadable(path, e) from e
        number += 1
        yield number, values


def read_xlsx(
    path: Path,
    *,
    sheet: str | None,
    x: str | None,
    y: str | None,
    crs: str | None,
    batch_size: int,
    header_row: int | None = None,
) -> Iterator[gpd.GeoDataFrame]:
    """Batches of at most `batch_size` rows of one sheet (by name, else the first), every
    column as text, plus ``row_number``; points from the `x`/`y` columns when both are given."""
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    if header_row is not None and header_row < 1:
        raise SourceFormatError(f"{path.name}: header_row zählt ab 1, nicht {header_row}")
    if bool(x) != bool(y):
        raise SourceFormatError(f"{path.name}: für Punkte sind beide Spalten x und y anzugeben")
    if x and crs is None:
        raise SourceFormatError(
            f"{path.name}: die Koordinaten in {x}/{y} brauchen ein Koordinatenreferenzsystem; "
            "'crs' in der Quelldefinition angeben"
        )
    frame_crs = crs or DEFAULT_CRS
    _refuse_dtds(path)
    # a file handle, not the path: openpyxl would refuse names without .xlsx (downloads)
    handle: IO[bytes] = path.open("rb")
    workbook: Any = None
    try:
        try:
            workbook = load_workbook(handle, read_only=True, data_only=True)
        except _UNREADABLE as e:
            raise _unreadable(path, e) from e
        if sheet is None:
            if not workbook.worksheets:
                raise SourceFormatError(f"{path.name}: die Arbeitsmappe hat kein Tabellenblatt")
            worksheet = workbook.worksheets[0]
        elif sheet in workbook.sheetnames:
            worksheet = workbook[sheet]
        else:
            raise SourceFormatError(
                f"{path.name}: Tabellenblatt '{sheet}' fehlt; vorhanden sind: "
                f"{', '.join(workbook.sheetnames)}"
            )
        if not hasattr(worksheet, "iter_rows"):
            raise SourceFormatError(f"{path.name}: '{worksheet.title}' ist kein Tabellenblatt")
        yield from _batches(path, worksheet, x, y, frame_crs, batch_size, header_row)
    finally:
        if workbook is not None:
            workbook.close()
        handle.close()


def _batches(
    path: Path,
    worksheet: Any,
    x: str | None,
    y: str | None,
    crs: str,
    batch_size: int,
    header_row: int | None,
) -> Iterator[gpd.GeoDataFrame]:
    header: list[str] | None = None
    batch: list[list[str | None]] = []
    numbers: list[int] = []
    for number, values in _rows(path, worksheet):
        if header is None:
            if header_row is None:
                if sum(cell_text(v) is not None for v in values) >= 2:
                    header = _header(path, number, values)
            elif number == header_row:
                header = _header(path, number, values)
                if not header:
                    raise SourceFormatError(
                        f"{path.name}: Kopfzeile in Zeile {header_row} ist leer"
                    )
            if header is not None:
                absent = [c for c in (x, y) if c and c not in header]
                if absent:
                    raise SourceFormatError(
                        f"{path.name}: Spalte(n) {', '.join(absent)} fehlen; vorhanden "
                        f"sind: {', '.join(header)}"
                    )
            continue
        texts = [cell_text(v) for v in values]
        if texts.count(None) == len(texts):
            continue
        width = len(header)
        if len(texts) > width:
            extra = next(
                (i for i, t in enumerate(texts[width:], start=width) if t is not None), None
            )
            if extra is not None:
                raise SourceFormatError(
                    f"{path.name}: Zeile {number} hat einen Wert in Spalte "
                    f"{get_column_letter(extra + 1)}, die keine Überschrift hat"
                )
            texts = texts[:width]
        elif len(texts) < width:
            texts.extend([None] * (width - len(texts)))
        batch.append(texts)
        numbers.append(number)
        if len(batch) >= batch_size:
            yield _frame(header, batch, numbers, x, y, crs)
            batch, numbers = [], []
    if header is None:
        where = f"Zeile {header_row}" if header_row else "einer Zeile mit zwei gefüllten Zellen"
        raise SourceFormatError(
            f"{path.name}: keine Kopfzeile gefunden (gesucht in {where}) im Tabellenblatt "
            f"'{worksheet.title}'"
        )
    if batch:
        yield _frame(header, batch, numbers, x, y, crs)
