"""The tables of a planning package: indicators (CSV, XLSX), parcel list, licences, the ZIP."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import shutil
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.writer.excel import ExcelWriter

from planungsdaten.formatting import decimal_comma, format_date
from planungsdaten.licences import licence_name, licence_page
from planungsdaten.packages.model import Indicator, SourceUse
from planungsdaten.packages.themes import LAYERS, THEMES

DateTime = tuple[int, int, int, int, int, int]

INDICATOR_COLUMNS = (
    "thema",
    "indikator",
    "einheit",
    "wert_gebiet",
    "wert_gemeinde",
    "quelle",
    "stand",
    "methode",
    "schluessel",
)
PARCEL_COLUMNS = (
    "kennzeichen",
    "gemarkung",
    "gemarkung_name",
    "flur",
    "nummer",
    "amtliche_flaeche_m2",
    "lage",
    "anteil_im_gebiet_prozent",
    "flaeche_im_gebiet_m2",
)
CREATOR = "planungsdaten"
RESTRICTED_NOTE = (
    "Nur für den internen Gebrauch der berechtigten Stelle; "
    "personenbezogene Daten (DSGVO) – nicht weitergeben."
)
GERMAN_TIME = ZoneInfo("Europe/Berlin")
CHUNK_SIZE = 1024 * 1024
# rw-r--r-- for a regular file, so unzipped members get sane permissions everywhere
EXTERNAL_ATTR = (0o100644 & 0xFFFF) << 16
CREATE_SYSTEM_UNIX = 3


def _csv_bytes(header: Sequence[str], rows: Iterable[Sequence[str]]) -> bytes:
    """German-Excel-friendly CSV: UTF-8 with BOM, ';', CRLF."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


def _is_missing(value: Any) -> bool:
    """None, NaN and pandas' NA/NaT."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _float(value: Any) -> float | None:
    """A number as float, None if missing (None, NaN, pandas NA)."""
    return None if _is_missing(value) else float(value)


def _number(value: Any, decimals: int) -> str:
    """A rounded number with decimal comma, empty if missing."""
    number = _float(value)
    return "" if number is None else decimal_comma(round(number, decimals))


def _theme_label(theme: str) -> str:
    """The German theme label, or the text itself if it is no theme id."""
    return THEMES[theme].label if theme in THEMES else theme


def indicators_csv(indicators: Sequence[Indicator]) -> bytes:
    """The indicator table as CSV for German spreadsheets."""
    rows = (
        (
            _theme_label(ind.theme),
            ind.label,
            ind.unit,
            _number(ind.area, 6),
            _number(ind.municipality, 6),
            ind.source,
            format_date(ind.reference_date),
            ind.method,
            ind.key,
        )
        for ind in indicators
    )
    return _csv_bytes(INDICATOR_COLUMNS, rows)


def _naive_utc(timestamp: dt.datetime) -> dt.datetime:
    """UTC without tzinfo, as openpyxl writes it; naive input is taken as UTC."""
    if timestamp.tzinfo is not None:
        timestamp = timestamp.astimezone(dt.UTC).replace(tzinfo=None)
    return timestamp.replace(microsecond=0)


def _zip_date_time(timestamp: dt.datetime) -> DateTime:
    """A ZIP member date_time; ZIP cannot store years before 1980."""
    stamp = _naive_utc(timestamp)
    if stamp.year < 1980:
        return (1980, 1, 1, 0, 0, 0)
    return (stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)


def _number_format(decimals: int) -> str:
    """'#,##0' with the given decimals; Excel shows it in the reader's locale."""
    return "#,##0" if decimals <= 0 else "#,##0." + "0" * decimals


def indicators_xlsx(indicators: Sequence[Indicator], title: str, timestamp: dt.datetime) -> bytes:
    """The indicator table as an Excel workbook; same input, same bytes."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Indikatoren"
    header = (
        "Thema",
        "Indikator",
        "Einheit",
        "Gebiet",
        "Gemeinde",
        "Quelle",
        "Stand",
        "Methode",
        "Schlüssel",
    )
    widths = (28, 40, 14, 14, 14, 30, 12, 60, 28)
    sheet.append([title])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append(list(header))
    for cell in sheet[2]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(vertical="top", wrap_text=True)
    wrap = Alignment(vertical="top", wrap_text=True)
    top = Alignment(vertical="top")
    for ind in indicators:
        values: list[Any] = [
            _theme_label(ind.theme),
            ind.label,
            ind.unit,
            _float(ind.area),
            _float(ind.municipality),
            ind.source,
            format_date(ind.reference_date),
            ind.method,
            ind.key,
        ]
        sheet.append(values)
        row = sheet.max_row
        for column in range(1, len(header) + 1):
            cell = sheet.cell(row=row, column=column)
            cell.alignment = wrap if column in (2, 6, 8) else top
        for column in (4, 5):
            sheet.cell(row=row, column=column).number_format = _number_format(ind.decimals)
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A3"
    sheet.auto_filter.ref = f"A2:{get_column_letter(len(header))}{max(sheet.max_row, 2)}"

    stamp = _naive_utc(timestamp)
    properties = workbook.properties
    properties.creator = CREATOR
    properties.lastModifiedBy = CREATOR
    properties.title = title
    properties.created = stamp
    properties.modified = stamp
    buffer = io.BytesIO()
    # openpyxl's save_workbook() sets modified to now(); the writer itself leaves it alone
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        ExcelWriter(workbook, archive).write_data()
    return normalize_zip_bytes(buffer.getvalue(), _zip_date_time(timestamp))


def _text(value: Any) -> str:
    """A cell as text: empty if missing, whole floats without '.0' (pandas turns ints to floats)."""
    if _is_missing(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _without_leading_zeros(value: Any) -> str:
    """'00008' → '8', as Flurstücksnummern and Flure are written; empty if missing."""
    text = _text(value)
    return text.lstrip("0") or ("0" if text else "")


def _parcel_number(zaehler: Any, nenner: Any) -> str:
    """Flurstücksnummer: 'zaehler/nenner', or 'zaehler' when there is no Nenner."""
    number = _without_leading_zeros(zaehler)
    denominator = _without_leading_zeros(nenner)
    return f"{number}/{denominator}" if denominator else number


def parcel_list_csv(parcels: pd.DataFrame) -> bytes:
    """The Flurstücksliste: every parcel touching the area, sorted by Flurstückskennzeichen."""
    frame = parcels.sort_values("flurstueckskennzeichen", kind="stable")
    rows = (
        (
            _text(row["flurstueckskennzeichen"]),
            _text(row["gemarkung"]),
            _text(row["gemarkung_name"]),
            _without_leading_zeros(row["flur"]),
            _parcel_number(row["zaehler"], row.get("nenner")),
            decimal_comma(_float(row["amtliche_flaeche_m2"])),
            _text(row.get("lage")),
            _number(row["anteil_im_gebiet_prozent"], 2),
            _number(row["flaeche_im_gebiet_m2"], 2),
        )
        for _, row in frame.iterrows()
    )
    return _csv_bytes(PARCEL_COLUMNS, rows)


def _unique[T](values: Iterable[T]) -> list[T]:
    """Values in first-seen order, each once."""
    return list(dict.fromkeys(values))


def _layer_label(layer: str, table: str = "") -> str:
    """'Flurstücke [flurstuecke]': the title a planner reads and the table name in QGIS;
    a raster by its file in the package."""
    if table == "raster":
        return f"Raster {layer} [raster/{layer}.tif]"
    info = LAYERS.get(layer)
    return f"{info.title} [{layer}]" if info else layer


def _local_date(timestamp: dt.datetime) -> dt.date:
    """The German calendar day of a timestamp; naive timestamps are taken as they are."""
    if timestamp.tzinfo is None:
        return timestamp.date()
    return timestamp.astimezone(GERMAN_TIME).date()


def _source_block(number: int, uses: Sequence[SourceUse]) -> list[str]:
    """The lines for one source, all its versions and layers together."""
    latest = max(uses, key=lambda use: (use.published_at, use.version_id))
    lines = [f"{number}. {latest.title}", f"   Herausgeber: {latest.publisher}"]
    for licence in _unique(use.licence for use in uses):
        name = licence_name(licence)
        lines.append(f"   Lizenz: {name}")
        known = licence_page(licence)
        if known:
            lines.append(f"   Lizenz-URI: {licence.strip()}")
            lines.append(f"   Lizenztext: {known[1]}")
    for attribution in _unique(use.attribution for use in uses):
        lines.append(f"   Namensnennung (bitte genau so angeben): {attribution}")
    dates = sorted({_local_date(use.published_at) for use in uses})
    lines.append("   Stand: " + ", ".join(format_date(day) for day in dates))
    layers = _unique((use.layer, use.target_table) for use in uses)
    lines.append(
        "   Ebenen im Paket: " + ", ".join(_layer_label(layer, table) for layer, table in layers)
    )
    versions = sorted({use.version_id for use in uses})
    label = "Version im Datenbestand" if len(versions) == 1 else "Versionen im Datenbestand"
    lines.append(f"   {label}: " + ", ".join(str(version) for version in versions))
    if any(use.access == "restricted" for use in uses):
        lines.append(f"   ACHTUNG: {RESTRICTED_NOTE}")
    return lines


def licences_text(sources: Sequence[SourceUse], title: str) -> str:
    """LIZENZEN.txt: every source of the package with licence and the attribution to cite."""
    heading = f"Lizenzen und Quellenangaben – {title}"
    lines = [heading, "=" * len(heading), ""]
    grouped: dict[str, list[SourceUse]] = {}
    for use in sources:
        grouped.setdefault(use.source_id, []).append(use)
    if not grouped:
        lines += ["Dieses Paket enthält keine Daten aus externen Quellen.", ""]
    else:
        lines += [
            "Die Daten in diesem Paket stammen aus den folgenden Quellen. Wer Inhalte daraus "
            "veröffentlicht oder weitergibt (z. B. in Karten, Berichten oder Beschlussvorlagen), "
            "gibt die Namensnennung der jeweiligen Quelle an.",
            "",
        ]
        for number, uses in enumerate(grouped.values(), start=1):
            lines += [*_source_block(number, uses), ""]
    lines.append(
        "Hinweis: Das Paket selbst wird unter den Lizenzen seiner Quellen bereitgestellt; "
        "für jeden Inhalt gelten die oben genannten Lizenzbedingungen der jeweiligen Quelle."
    )
    if any(use.access == "restricted" for use in sources):
        lines.append(
            "Mit „ACHTUNG“ gekennzeichnete Quellen enthalten personenbezogene Daten und "
            "dürfen nicht weitergegeben oder veröffentlicht werden."
        )
    return "\n".join(lines) + "\n"


def _member_name(name: str) -> str:
    """A ZIP member name with forward slashes; absolute paths and '..' are refused."""
    posix = name.replace("\\", "/")
    path = PurePosixPath(posix)
    if not posix or path.is_absolute() or ".." in path.parts:
        raise ValueError(f"invalid ZIP member name: {name!r}")
    return posix


def _zip_info(name: str, date_time: DateTime, directory: bool = False) -> zipfile.ZipInfo:
    """A ZipInfo with everything fixed that would otherwise depend on the machine or clock."""
    info = zipfile.ZipInfo(_member_name(name), date_time=date_time)
    info.create_system = CREATE_SYSTEM_UNIX
    if directory:
        info.compress_type = zipfile.ZIP_STORED
        # drwxr-xr-x plus the MS-DOS directory flag, as zipfile writes directories
        info.external_attr = ((0o40755 & 0xFFFF) << 16) | 0x10
    else:
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = EXTERNAL_ATTR
    return info


def normalize_zip_bytes(data: bytes, date_time: DateTime) -> bytes:
    """The same ZIP with fixed member timestamps, attributes and compression."""
    output = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as target,
    ):
        for member in source.infolist():
            info = _zip_info(member.filename, date_time, directory=member.is_dir())
            target.writestr(info, b"" if member.is_dir() else source.read(member))
    return output.getvalue()


def _write_members(
    archive: zipfile.ZipFile, members: Sequence[tuple[str, Path | bytes]], date_time: DateTime
) -> None:
    """Members in the given order; files are streamed, never read whole."""
    seen: set[str] = set()
    for name, content in members:
        info = _zip_info(name, date_time)
        if info.filename in seen:
            raise ValueError(f"duplicate ZIP member name: {info.filename!r}")
        seen.add(info.filename)
        if isinstance(content, bytes):
            archive.writestr(info, content)
            continue
        size = content.stat().st_size
        info.file_size = size
        # zip64 has to be decided before the first byte is written
        with (
            content.open("rb") as source,
            archive.open(info, "w", force_zip64=size >= zipfile.ZIP64_LIMIT) as target,
        ):
            shutil.copyfileobj(source, target, CHUNK_SIZE)


def write_zip(out: Path, members: Sequence[tuple[str, Path | bytes]], date_time: DateTime) -> None:
    """A deterministic ZIP: members in the given order, fixed timestamps and attributes."""
    partial = out.with_name(out.name + ".part")
    try:
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
            _write_members(archive, members, date_time)
        # a reader never sees a half-written package under the final name
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
