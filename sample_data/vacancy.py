"""Deterministic sample vacancy register (Leerstandskataster) of Mücheln (Geiseltal).

There is no standard for vacancy registers: towns keep them as spreadsheets, written by hand.
This register lists 60 vacant or partly vacant buildings of the sample cadastre
(`cadastre.py`) the way municipal staff write them:

- street names abbreviated or spelt differently ("Hauptstr.", "Str. der Einheit",
  "Muehlweg", "Schlossstrasse", "HAUPTSTRASSE", extra blanks) — only variants a normaliser
  can undo (case, blanks, hyphens, "Str."/"str" for "Straße", "ß"/"ss", "ä"/"ae" …),
- house numbers with suffixes written "12a", "12 a", "12 A", ranges "12-14" (the building
  numbered 12), numbers typed as Excel numbers or as text,
- some buildings named by their parcel (Flurstückskennzeichen) instead of an address,
- four entries that match no address of the cadastre (a street that does not exist, a house
  number that does not exist), two entries for one building (shop and flats).

Files:

- `Leerstandskataster_Muecheln.xlsx`, sheet "Leerstand": a title in row 1, an empty row 2,
  the header in row 3, columns `COLUMNS`; "leer seit" holds Excel dates, "Fläche m²" numbers.
- `Leerstand_Muecheln.csv`: the same register as exported by Excel (Windows-1252, ';', CRLF,
  German dates 31.12.2019, decimal comma) with two more columns `Rechtswert;Hochwert`
  (EPSG:25832) filled for ten entries, and one row copied twice (entry `DUPLICATE_NUMBER`).

`expected_matches()` gives the ground truth for tests: entry number → (street, house number
with suffix) as the cadastre writes them, or None for the entries that must not match.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import random
import re
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.writer.excel import ExcelWriter

if __package__ in (None, ""):  # run as a script: make the `sample_data` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from sample_data.cadastre import CENTRE_E, CENTRE_N, Cadastre, build_cadastre

VACANCY_XLSX_FILE = "Leerstandskataster_Muecheln.xlsx"
VACANCY_CSV_FILE = "Leerstand_Muecheln.csv"
XLSX_FILE, CSV_FILE = VACANCY_XLSX_FILE, VACANCY_CSV_FILE  # short names
SHEET = "Leerstand"
TITLE = "Leerstandskataster Stadt Mücheln (Geiseltal), Stand 31.12.2024"
HEADER_ROW = 3
COLUMNS = (
    "Lfd. Nr.", "Straße", "Hausnr.", "Flurstück", "Nutzung", "Status", "leer seit",
    "Fläche m²", "Bemerkung",
)  # fmt: skip
CSV_COLUMNS = (*COLUMNS, "Rechtswert", "Hochwert")
USES = ("Wohnen", "Gewerbe", "gemischt")
STATUSES = ("leer", "teilweise leer", "Abriss geplant")
SEED = 20_241_231
# the workbook's own timestamps (docProps/core.xml) and those of its ZIP members
WORKBOOK_TIME = dt.datetime(2025, 1, 15, 9, 30, 0)
_ZIP_TIME = (2025, 1, 15, 9, 30, 0)

# how many entries of each kind (60 in all)
N_ADDRESS = 43  # plain house numbers
N_SUFFIX = 4  # "12a", "12 a", "12 A", "12A"
N_RANGE = 3  # "12-14"
N_PARCEL = 5  # named by Flurstückskennzeichen only
N_SAME_BUILDING = 1  # a second entry for a building already listed (shop below flats)
N_COORDINATES = 10  # entries with Rechtswert/Hochwert in the CSV
N_CENTRAL_POOL = 160  # plain entries are drawn from this many buildings nearest the centre
DUPLICATE_NUMBER = 23  # the CSV row pasted twice
# entries no address matches: (street as written, house number as written)
UNKNOWN_STREETS = (("Lutherstraße", "5"), ("Zeitzer Str.", "12"))
# real streets with a number beyond their last one: (street, how it is written, excess)
UNKNOWN_NUMBERS = (("Kirchstraße", "Kirchstr.", 31), ("Lange Straße", "Lange Str", 25))

# streets written the way this office does, at least once each
FORCED_SPELLINGS = {
    "Hauptstraße": "Hauptstr.",
    "Straße der Einheit": "Str. der Einheit",
    "Mühlweg": "Muehlweg",
    "Schloßstraße": "Schlossstrasse",
    "Weißenfelser Straße": "Weissenfelser Str.",
    "Ernst-Thälmann-Straße": "Ernst-Thaelmann-Str.",
    "Markt": " Markt ",
    "Bahnhofstraße": "BAHNHOFSTRASSE",
}

REMARKS = (
    "Eigentümer nicht erreichbar",
    "Erbengemeinschaft, Verkauf unklar",
    "zum Verkauf angeboten",
    "Sanierungsbedarf hoch",
    "Dach undicht; Fenster defekt",
    "Ortsbesichtigung 03/2024",
    "Fassade saniert, Innenausbau fehlt",
    "Zwangsversteigerung angekündigt",
    "Schaufenster verklebt",
    "Eigentümer wohnt in Leipzig",
    "Nachnutzung als Ferienwohnung geplant",
    'Hinweis "Zu verkaufen" am Fenster',
)


@dataclass(frozen=True)
class _Address:
    street: str
    number: str
    suffix: str
    east: float
    north: float
    function: int | None  # gebaeudefunktion of the main building

    @property
    def house_number(self) -> str:
        return self.number + self.suffix


@dataclass
class Entry:
    """One register entry, as written, with the address it means."""

    street: str | None
    house_number: str | int | None  # int: typed as an Excel number
    parcel: str | None
    use: str
    status: str
    vacant_since: dt.date | None
    floor_area: float | int | None
    remarks: str | None
    means: tuple[str, str] | None  # (street, house number) of the cadastre, None: no match
    east: float | None = None  # CSV only
    north: float | None = None


# ------------------------------------------------------------------------ spellings


def _abbreviate(name: str, dot: bool) -> str:
    return re.sub(r"([Ss])traße\b", r"\1tr." if dot else r"\1tr", name)


def _umlauts(name: str) -> str:
    for umlaut, pair in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("Ä", "Ae"), ("Ö", "Oe")):
        name = name.replace(umlaut, pair)
    return name.replace("Ü", "Ue")


def _blanks(name: str) -> str:
    return name.replace(" ", "  ", 1) if " " in name else f"{name} "


_SPELLINGS: tuple[Callable[[str], str], ...] = (
    lambda s: s,
    lambda s: s,
    lambda s: _abbreviate(s, dot=True),
    lambda s: _abbreviate(s, dot=True),
    lambda s: _abbreviate(s, dot=False),
    lambda s: s.replace("ß", "ss"),
    _umlauts,
    str.upper,
    str.lower,
    _blanks,
    lambda s: s.replace("-", " "),
    lambda s: _umlauts(_abbreviate(s, dot=True)),
)


def _spell(name: str, rng: random.Random) -> str:
    return rng.choice(_SPELLINGS)(name)


def _written_number(address: _Address, rng: random.Random) -> str | int:
    """A plain house number as typed: mostly a number cell, sometimes text."""
    roll = rng.random()
    if roll < 0.6:
        return int(address.number)
    return f"{address.number} " if roll < 0.7 else address.number


# --------------------------------------------------------------------------- register


def _addresses(cadastre: Cadastre) -> tuple[list[_Address], dict[str, _Address]]:
    """Addresses in cadastre order, and the address of each parcel (by Kennzeichen)."""
    function_of = {
        oid: int(function)
        for oid, function in zip(
            cadastre.buildings["address_oid"], cadastre.buildings["function"], strict=True
        )
        if isinstance(oid, str)
    }
    by_oid: dict[str, _Address] = {}
    for row in cadastre.addresses.itertuples(index=False):
        by_oid[str(row.oid)] = _Address(
            street=str(row.street),
            number=str(row.number),
            suffix=str(row.suffix or ""),
            east=float(row.east),
            north=float(row.north),
            function=function_of.get(str(row.oid)),
        )
    of_parcel = {
        str(kennz): by_oid[oids[0]]
        for kennz, oids in zip(
            cadastre.parcels["flstkennz"], cadastre.parcels["address_oids"], strict=True
        )
        if len(oids) == 1
    }
    return list(by_oid.values()), of_parcel


def _use(address: _Address | None, rng: random.Random) -> str:
    function = address.function if address else None
    if function in (2000, 2100, 2143):
        return "Gewerbe"
    if function == 1100:
        return rng.choice(("gemischt", "gemischt", "Gewerbe", "Wohnen"))
    return "Wohnen" if rng.random() < 0.9 else "gemischt"


def _area(use: str, rng: random.Random) -> float | int | None:
    if rng.random() < 0.04:
        return None  # not measured yet
    low, high = {"Wohnen": (45, 180), "gemischt": (90, 320), "Gewerbe": (60, 650)}[use]
    area = rng.uniform(low, high)
    roll = rng.random()
    if roll < 0.55:
        return round(area)
    return round(area * 2) / 2 if roll < 0.8 else round(area, 2)


def _since(rng: random.Random) -> dt.date | None:
    if rng.random() < 0.06:
        return None  # unknown
    start = dt.date(2006, 1, 1).toordinal()
    day = dt.date.fromordinal(rng.randint(start, dt.date(2024, 11, 30).toordinal()))
    return day.replace(day=1) if rng.random() < 0.4 else day  # "since March 2019"


def _entry(
    rng: random.Random,
    street: str | None,
    house_number: str | int | None,
    means: tuple[str, str] | None,
    address: _Address | None,
    parcel: str | None = None,
    use: str | None = None,
) -> Entry:
    use = use or _use(address, rng)
    roll = rng.random()
    status = "leer" if roll < 0.72 else "teilweise leer" if roll < 0.92 else "Abriss geplant"
    if use == "gemischt" and status == "leer" and rng.random() < 0.5:
        status = "teilweise leer"
    return Entry(
        street=street,
        house_number=house_number,
        parcel=parcel,
        use=use,
        status=status,
        vacant_since=_since(rng),
        floor_area=_area(use, rng),
        remarks=rng.choice(REMARKS) if rng.random() < 0.55 else None,
        means=means,
    )


def build_register(cadastre: Cadastre, seed: int = SEED) -> list[Entry]:
    """The register's entries in their final order (entry k has Lfd. Nr. k + 1)."""
    rng = random.Random(seed)
    addresses, of_parcel = _addresses(cadastre)
    known = {(a.street, a.house_number) for a in addresses}
    streets = sorted({a.street for a in addresses})
    used: set[tuple[str, str]] = set()
    entries: list[Entry] = []

    def take(pool: list[_Address], n: int) -> list[_Address]:
        free = [a for a in pool if (a.street, a.house_number) not in used]
        chosen = rng.sample(free, n)
        used.update((a.street, a.house_number) for a in chosen)
        return chosen

    def means(a: _Address) -> tuple[str, str]:
        return (a.street, a.house_number)

    # plain numbers: first the forced spellings, then any street
    plain = [a for a in addresses if not a.suffix]
    for street, written in FORCED_SPELLINGS.items():
        (a,) = take([p for p in plain if p.street == street], 1)
        entries.append(_entry(rng, written, _written_number(a, rng), means(a), a))
    # vacancy gathers in the old town: the plain entries are drawn from the buildings
    # nearest the centre, so that some 100 m cells hold enough entries to be published
    central = sorted(
        plain,
        key=lambda a: (
            math.dist((a.east, a.north), (CENTRE_E, CENTRE_N)),
            a.street,
            a.house_number,
        ),
    )[:N_CENTRAL_POOL]
    for a in take(central, N_ADDRESS - len(FORCED_SPELLINGS)):
        entries.append(_entry(rng, _spell(a.street, rng), _written_number(a, rng), means(a), a))
    # house-number suffixes, written four ways
    suffixed = [a for a in addresses if a.suffix == "a"]
    styles = ("{n}{s}", "{n} {s}", "{n} {S}", "{n}{S}")
    for a, style in zip(take(suffixed, N_SUFFIX), styles, strict=True):
        written = style.format(n=a.number, s=a.suffix, S=a.suffix.upper())
        entries.append(_entry(rng, _spell(a.street, rng), written, means(a), a))
    # ranges "12-14": the building numbered 12 (which has its neighbour 14)
    ranged = [a for a in plain if (a.street, str(int(a.number) + 2)) in known]
    for a in take(ranged, N_RANGE):
        written = f"{a.number}-{int(a.number) + 2}"
        entries.append(_entry(rng, _spell(a.street, rng), written, means(a), a))
    # parcels only
    parcels = sorted(
        (k for k, a in of_parcel.items() if (a.street, a.house_number) not in used),
    )
    for kennz in rng.sample(parcels, N_PARCEL):
        a = of_parcel[kennz]
        used.add(means(a))
        entry = _entry(rng, None, None, means(a), a, parcel=kennz)
        entry.remarks = entry.remarks or "Adresse unbekannt, Lage nach Flurstück"
        entries.append(entry)
    # entries that must not match
    for street, number in UNKNOWN_STREETS:
        assert street not in streets
        entry = _entry(rng, street, number, None, None)
        entry.remarks = "Adresse prüfen"
        entries.append(entry)
    for street, written, excess in UNKNOWN_NUMBERS:
        beyond = max(int(a.number) for a in addresses if a.street == street) + excess
        assert (street, str(beyond)) not in known
        entries.append(_entry(rng, written, beyond, None, None))
    rng.shuffle(entries)
    # one building listed twice: the shop on the ground floor besides the flats above
    listed = [e for e in entries if e.parcel is None and e.means is not None]
    for first in listed[:N_SAME_BUILDING]:
        second = _entry(rng, first.street, first.house_number, first.means, None, use="Gewerbe")
        first.use, second.remarks = "Wohnen", "Ladenlokal im EG"
        if first.status == "Abriss geplant":
            first.status = "leer"
        entries.insert(entries.index(first) + 1, second)
    # ten entries located by coordinates in the CSV export: the HK-DE house coordinate
    position = {(a.street, a.house_number): (a.east, a.north) for a in addresses}
    located = [e for e in entries if e.parcel is None and e.means is not None]
    for entry in rng.sample(located, N_COORDINATES):
        assert entry.means is not None
        entry.east, entry.north = position[entry.means]
    return entries


# ---------------------------------------------------------------------------- writers


def _deterministic_xlsx(workbook: Workbook, path: Path) -> None:
    """Save with fixed document and ZIP member timestamps: the same bytes on every run.
    (Workbook.save stamps docProps/core.xml and every ZIP member with the current time.)"""
    workbook.properties.created = WORKBOOK_TIME
    workbook.properties.modified = WORKBOOK_TIME
    buffer = io.BytesIO()
    ExcelWriter(workbook, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED)).save()
    with (
        zipfile.ZipFile(buffer) as source,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            member = zipfile.ZipInfo(info.filename, date_time=_ZIP_TIME)
            member.compress_type = zipfile.ZIP_DEFLATED
            member.external_attr = 0o644 << 16
            target.writestr(member, source.read(info))


def write_xlsx(path: Path, entries: list[Entry]) -> None:
    """The register as the town's Excel workbook."""
    workbook = Workbook()
    sheet: Any = workbook.active
    sheet.title = SHEET
    workbook.properties.creator = "Stadt Mücheln (Geiseltal), Bauamt"
    workbook.properties.lastModifiedBy = "Stadt Mücheln (Geiseltal), Bauamt"
    workbook.properties.title = TITLE
    sheet["A1"] = TITLE
    sheet["A1"].font = Font(bold=True, size=13)
    bold = Font(bold=True)
    for column, name in enumerate(COLUMNS, start=1):
        sheet.cell(row=HEADER_ROW, column=column, value=name).font = bold
    for number, e in enumerate(entries, start=1):
        row = HEADER_ROW + number
        values = (
            number, e.street, e.house_number, e.parcel, e.use, e.status, e.vacant_since,
            e.floor_area, e.remarks,
        )  # fmt: skip
        for column, value in enumerate(values, start=1):
            cell = sheet.cell(row=row, column=column, value=value)
            if isinstance(value, dt.date):
                cell.number_format = "DD.MM.YYYY"
            elif column == 8 and value is not None:
                cell.number_format = "#,##0.00"
    widths = (8, 26, 9, 24, 11, 16, 12, 11, 40)
    for column, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width
    sheet.freeze_panes = f"A{HEADER_ROW + 1}"
    _deterministic_xlsx(workbook, path)


def _german_number(value: float | int | None, decimals: int | None = None) -> str:
    if value is None:
        return ""
    if decimals is not None:
        text = f"{value:.{decimals}f}"
    elif float(value).is_integer():
        text = str(int(value))
    else:
        text = repr(float(value))
    return text.replace(".", ",")


def csv_rows(entries: list[Entry]) -> list[list[str]]:
    """The register's data rows as Excel exports them, the duplicate row included."""
    rows: list[list[str]] = []
    for number, e in enumerate(entries, start=1):
        row = [
            str(number),
            e.street or "",
            "" if e.house_number is None else str(e.house_number),
            e.parcel or "",
            e.use,
            e.status,
            e.vacant_since.strftime("%d.%m.%Y") if e.vacant_since else "",
            _german_number(e.floor_area),
            e.remarks or "",
            _german_number(e.east, 2),
            _german_number(e.north, 2),
        ]
        rows.append(row)
        if number == DUPLICATE_NUMBER:
            rows.append(list(row))  # pasted twice
    return rows


def write_csv(path: Path, entries: list[Entry]) -> None:
    """The register as a CSV export of Excel: Windows-1252, ';', CRLF, German numbers."""
    text = io.StringIO()
    writer = csv.writer(text, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_rows(entries))
    path.write_bytes(text.getvalue().encode("cp1252"))


# -------------------------------------------------------------------------------- API


@cache
def sample_cadastre() -> Cadastre:
    """The sample cadastre as `generate.py` builds it (inside Mücheln's boundary)."""
    from sample_data import generate  # generate imports this module

    boundaries = generate.boundaries()
    muecheln = boundaries.set_index("AGS").geometry[generate.SAMPLE_AGS]
    return build_cadastre(muecheln)


def generate_vacancy(out_dir: Path, cadastre: Cadastre | None = None) -> list[Path]:
    """Write the register as XLSX and CSV to `out_dir`; `cadastre` is the sample cadastre
    (built anew when not given). Returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = build_register(cadastre if cadastre is not None else sample_cadastre())
    xlsx, csv_path = out_dir / XLSX_FILE, out_dir / CSV_FILE
    write_xlsx(xlsx, entries)
    write_csv(csv_path, entries)
    return [xlsx, csv_path]


def expected_matches(cadastre: Cadastre | None = None) -> dict[int, tuple[str, str] | None]:
    """Lfd. Nr. → (street, house number with suffix) as the sample cadastre writes them, or
    None for the entries no address may match."""
    entries = build_register(cadastre if cadastre is not None else sample_cadastre())
    return {number: e.means for number, e in enumerate(entries, start=1)}


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    for written in generate_vacancy(Path(sys.argv[1]) if len(sys.argv) > 1 else here):
        print(written)
