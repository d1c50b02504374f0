"""Canonical tables a source can load into, and the vectorised mapping of records to rows.

Mapping is pure: a batch (GeoDataFrame in EPSG:25832, source column names) goes in; out
come the columns ready for COPY, the records rejected with their reason, and the
geometries that were repaired. Work is done column-wise (pandas/shapely), so a batch of
50,000 records costs milliseconds of Python, not a loop per record.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from planungsdaten.harvest import codelists
from planungsdaten.harvest.errors import SourceFormatError
from planungsdaten.harvest.geometry import MISSING, WKB_COLUMN, geometry_ewkb

if TYPE_CHECKING:
    from planungsdaten.harvest.sources import Layer, SourceDefinition

STORAGE_SRID = 25832
_STR = pd.ArrowDtype(pa.string())

# Kreise and kreisfreie Städte of Sachsen-Anhalt (Gebietsstand 2022), by the first five AGS
# digits; used when a boundary source carries no district name (VG250 GEM does not).
DISTRICTS_SACHSEN_ANHALT = {
    "15001": "Dessau-Roßlau",
    "15002": "Halle (Saale)",
    "15003": "Magdeburg",
    "15081": "Altmarkkreis Salzwedel",
    "15082": "Anhalt-Bitterfeld",
    "15083": "Börde",
    "15084": "Burgenlandkreis",
    "15085": "Harz",
    "15086": "Jerichower Land",
    "15087": "Mansfeld-Südharz",
    "15088": "Saalekreis",
    "15089": "Salzlandkreis",
    "15090": "Stendal",
    "15091": "Wittenberg",
}


@dataclass(frozen=True)
class Rejection:
    """A source record that was not loaded, and why (German: operators read it)."""

    ref: str
    reason: str
    record: dict[str, Any]


@dataclass(frozen=True)
class Repair:
    """A geometry that was invalid and was repaired before loading."""

    ref: str
    reason: str


@dataclass
class MappedBatch:
    """Columns ready for COPY (one array per target column), plus what fell out."""

    columns: dict[str, np.ndarray[Any, Any]] = field(default_factory=dict)
    count: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    repairs: list[Repair] = field(default_factory=list)
    skipped: int = 0

    def rows(self, order: tuple[str, ...]) -> zip[tuple[Any, ...]]:
        """Row tuples in `order` (zip over column arrays: no per-row Python work)."""
        return zip(*(self.columns[c] for c in order), strict=True)


@dataclass(frozen=True)
class Column:
    """A target column a mapping may fill (or a derive step computes)."""

    name: str
    copy_type: str = "text"  # psycopg binary dumper: text, int4, int2, float8
    label: str = ""  # German name for rejection reasons


# fills derived columns of the batch in place; returns a reason per row (None = fine)
Derive = Callable[[pd.DataFrame, "SourceDefinition"], "Reasons"]


@dataclass(frozen=True)
class Target:
    """A canonical table: its columns, the fields a mapping may fill, how rows are derived."""

    table: str
    columns: tuple[Column, ...]
    required_any: frozenset[str]
    geometry: Literal["multipolygon", "point", "none"]
    derive: Derive
    key: tuple[str, ...] | None = None  # unique within a version; duplicates are rejected
    conflict_key: str | None = None  # must not be loaded by two sources at once
    ref_column: str | None = None  # what names a record in messages
    derived: frozenset[str] = frozenset()  # computed by `derive`, never mapped
    # tables filled from the new partition ({part}) into their own ({companion}) and
    # swapped in with it, e.g. the cells of a grid dataset
    companions: tuple[tuple[str, tuple[str, ...]], ...] = ()
    geometry_optional: bool = False  # records without one are located after the COPY
    locate: bool = False  # place records by parcel or address (harvest.locate)
    extent_sql: str | None = None  # the version's extent as EWKT ({part}, {version})

    @property
    def mappable(self) -> frozenset[str]:
        """Columns a source mapping may fill."""
        return frozenset(c.name for c in self.columns) - self.derived

    @property
    def column_names(self) -> tuple[str, ...]:
        geom = ("geom",) if self.geometry != "none" else ()
        return (*(c.name for c in self.columns), *geom, "dataset_version_id")

    @property
    def copy_types(self) -> tuple[str, ...]:
        geom = ("bytea",) if self.geometry != "none" else ()
        return (*(c.copy_type for c in self.columns), *geom, "int8")

    def check_mapping(self, mapping: Mapping[str, str]) -> None:
        """Raise ValueError when the mapping names unknown fields or misses a required one."""
        unknown = set(mapping) - self.mappable
        if unknown:
            raise ValueError(
                f"mapping: unknown field(s) {', '.join(sorted(unknown))} for target "
                f"{self.table!r}; allowed: {', '.join(sorted(self.mappable))}"
            )
        if self.required_any and not self.required_any & set(mapping):
            needed = ", ".join(sorted(self.required_any))
            raise ValueError(f"mapping: target {self.table!r} needs one of {needed}")


# -- helpers on columns -----------------------------------------------------------------------
# Strings are Arrow-backed (string ops run in C); masks are numpy booleans; reasons are
# numpy object arrays (None = fine), with messages built only for the rows that fail.

Mask = np.ndarray[Any, np.dtype[np.bool_]]
Reasons = np.ndarray[Any, np.dtype[np.object_]]


def _mask(values: Any) -> Mask:
    """A numpy boolean mask; missing counts as False."""
    if isinstance(values, pd.Series):
        values = values.fillna(False)
    return np.asarray(values, dtype=bool)


def _text(series: pd.Series) -> pd.Series:
    """Strings stripped; empty and missing are null."""
    out = series.astype(_STR).str.strip()
    return out.where(_mask(out != ""))


def _digits(series: pd.Series) -> pd.Series:
    """Codes that may arrive as numbers (15088235.0) as digit strings."""
    if pd.api.types.is_float_dtype(series):
        return series.round().astype("Int64").astype(_STR)
    return _text(series)


def _none(n: int) -> Reasons:
    return np.full(n, None, dtype=object)


def _reason(mask: Any, message: str | Callable[[Mask], Any]) -> Reasons:
    """`message` where mask is true, None elsewhere; a callable builds per-row messages
    from the mask (only for the failing rows)."""
    m = _mask(mask)
    out = _none(len(m))
    if m.any():
        out[m] = message(m) if callable(message) else message
    return out


def _is_none(values: Reasons) -> Mask:
    return np.asarray(pd.isna(values), dtype=bool)


def _first_reason(*reasons: Reasons) -> Reasons:
    out = reasons[0].copy()
    for r in reasons[1:]:
        empty = _is_none(out)
        out[empty] = r[empty]
    return out


def _quoted(series: pd.Series) -> Callable[[Mask], list[str]]:
    """The failing values, for messages."""
    return lambda m: [str(v) for v in series.to_numpy(dtype=object, na_value="")[m]]


def _number(
    series: pd.Series, label: str, integer: bool, german_source: bool = False
) -> tuple[pd.Series, Reasons]:
    """German or English numbers ("1.234,5" / "1234.5") → Float64/Int64, reason if unreadable.

    In a source declared German (`decimal: ","`) a dot is always a thousands separator
    ("4.820" is 4820); elsewhere only values with a comma are read the German way."""
    if pd.api.types.is_numeric_dtype(series):
        raw = series.astype("Float64")
        bad = np.zeros(len(series), dtype=bool)
    else:
        text = _text(series)
        german = (
            _mask(text.notna()) if german_source else _mask(text.str.contains(",", regex=False))
        )
        if german.any():
            text = text.where(~german, text.str.replace(".", "", regex=False).str.replace(",", "."))
        raw = pd.to_numeric(text, errors="coerce").astype("Float64")
        bad = _mask(raw.isna()) & _mask(text.notna())
    if integer:
        bad = bad | _mask(raw.notna() & (raw != raw.round()))
        values = raw.where(~bad).round().astype("Int64")
    else:
        values = raw.where(~bad)
    quoted = _quoted(series.astype(_STR))
    return values, _reason(
        bad, lambda m: [f"'{v}' ist keine gültige Zahl ({label})" for v in quoted(m)]
    )


# -- per-target derivations ---------------------------------------------------------------------

_AGS = r"^[0-9]{8}$"


def _check_ags(out: pd.DataFrame) -> Reasons:
    ags = out["ags"].astype(_STR)
    bad = _mask(ags.notna()) & ~_mask(ags.str.match(_AGS))
    return _reason(bad, lambda m: [f"AGS '{v}' hat nicht 8 Ziffern" for v in _quoted(ags)(m)])


def derive_ags(ars: str) -> str:
    """AGS from ARS: Land, Regierungsbezirk and Kreis (5 digits) + Gemeinde (last 3)."""
    return ars[:5] + ars[9:12]


def _german(source: SourceDefinition) -> bool:
    return source.format.decimal == ","


def _derive_municipality(out: pd.DataFrame, source: SourceDefinition) -> Reasons:
    ars = out["ars"].astype(_STR)
    bad_ars = _mask(ars.notna()) & ~_mask(ars.str.match(r"^[0-9]{12}$"))
    from_ars = ars.str.slice(0, 5) + ars.str.slice(9, 12)
    given = out["ags"].astype(_STR)
    missing = _mask(given.isna() & ars.isna())
    mismatch = _mask(given.notna() & ars.notna()) & ~bad_ars & _mask(given != from_ars)
    out["ags"] = given.where(_mask(given.notna()), from_ars)
    looked_up = out["ags"].str.slice(0, 5).map(DISTRICTS_SACHSEN_ANHALT).astype(_STR)
    out["district"] = out["district"].where(_mask(out["district"].notna()), looked_up)
    g, a, f = _quoted(given), _quoted(ars), _quoted(from_ars)
    return _first_reason(
        _reason(bad_ars, lambda m: [f"ARS '{v}' hat nicht 12 Ziffern" for v in a(m)]),
        _reason(missing, "AGS und ARS fehlen"),
        _reason(
            mismatch,
            lambda m: [
                f"AGS {x} passt nicht zum ARS {y} (erwartet {z})"
                for x, y, z in zip(g(m), a(m), f(m), strict=True)
            ],
        ),
        _check_ags(out),
    )


# Flurstückskennzeichen: Land 2, Gemarkung 4, Flur 3, Zähler 5, Nenner 4, Folge 2; '_' pads
_KENNZEICHEN = r"^[0-9]{2}[0-9]{4}[0-9_]{3}[0-9]{5}[0-9_]{4}[0-9_]{2}$"


def _strip_pad(series: pd.Series, zeros: bool) -> pd.Series:
    stripped = series.str.strip("_")
    if zeros:
        stripped = stripped.str.lstrip("0")
    return stripped.where(_mask(stripped != ""))


def _derive_parcel(out: pd.DataFrame, source: SourceDefinition) -> Reasons:
    kz = out["flurstueckskennzeichen"].astype(_STR)
    bad = ~_mask(kz.str.match(_KENNZEICHEN))
    out["land"] = kz.str.slice(0, 2)
    out["gemarkung"] = kz.str.slice(2, 6)
    flur = kz.str.slice(6, 9)
    out["flur"] = _strip_pad(flur.where(_mask(flur != "000")), zeros=True)
    out["zaehler"] = _strip_pad(kz.str.slice(9, 14), zeros=True)
    out["nenner"] = _strip_pad(kz.str.slice(14, 18), zeros=True)
    out["folge"] = _strip_pad(kz.str.slice(18, 20), zeros=False)
    area, area_reason = _number(
        out["amtliche_flaeche"], "amtliche Fläche", integer=False, german_source=_german(source)
    )
    out["amtliche_flaeche"] = area
    no_zaehler = ~bad & _mask(out["zaehler"].isna())
    q = _quoted(kz)
    return _first_reason(
        _reason(
            bad,
            lambda m: [
                f"Flurstückskennzeichen '{v}' hat nicht das ALKIS-Format (20 Zeichen: Land, "
                "Gemarkung, Flur, Zähler, Nenner, Folge)"
                for v in q(m)
            ],
        ),
        _reason(
            no_zaehler, lambda m: [f"Flurstückskennzeichen '{v}' hat den Zähler 0" for v in q(m)]
        ),
        area_reason,
        _check_ags(out),
    )


def _fill(given: pd.Series, fallback: pd.Series) -> pd.Series:
    return given.astype(_STR).where(_mask(given.notna()), fallback.astype(_STR))


def _derive_building(out: pd.DataFrame, source: SourceDefinition) -> Reasons:
    code, code_reason = _number(
        out["function_code"], "Gebäudefunktion", integer=True, german_source=_german(source)
    )
    out["function_code"] = code
    names = code.map(codelists.GEBAEUDEFUNKTION, na_action="ignore")
    out["function_name"] = _fill(out["function_name"], names)
    storeys, storeys_reason = _number(
        out["storeys"], "Geschosse", integer=True, german_source=_german(source)
    )
    out["storeys"] = storeys
    return _first_reason(
        _reason(out["source_object_id"].isna(), "Objektkennung fehlt"),
        code_reason,
        storeys_reason,
        _check_ags(out),
    )


# NAS names the object type (AX_Wohnbauflaeche), ALKIS-vereinfacht its German name
_LAND_USE_TYPES = {
    **codelists.TATSAECHLICHE_NUTZUNG,
    **{t.name: t for t in codelists.TATSAECHLICHE_NUTZUNG.values()},
}
_LAND_USE_NAMES = {k: t.name for k, t in _LAND_USE_TYPES.items()}
_LAND_USE_GROUPS = {k: t.group for k, t in _LAND_USE_TYPES.items()}


def _derive_land_use(out: pd.DataFrame, source: SourceDefinition) -> Reasons:
    nutzart = out["nutzart"].astype(_STR)
    out["name"] = _fill(out["name"], nutzart.map(_LAND_USE_NAMES, na_action="ignore"))
    groups = nutzart.map(_LAND_USE_GROUPS, na_action="ignore")
    out["nutzung_group"] = _fill(out["nutzung_group"], groups)
    return _reason(nutzart.isna(), "Nutzungsart fehlt")


_HOUSE_NUMBER = r"^\s*([0-9]+)\s*([A-Za-z]?)\s*$"


def _split_house_number(out: pd.DataFrame, pattern: str) -> None:
    """House number and suffix ("12a", "12 A" → "12", "a"); unparsable numbers stay as given."""
    number = out["house_number"].astype(_STR)
    parts = number.str.extract(pattern)
    parsed = _mask(parts[0].notna())
    out["house_number"] = number.where(~parsed, parts[0].astype(_STR))
    suffix = parts[1].astype(_STR)
    suffix = suffix.where(_mask(suffix != ""))
    out["house_number_suffix"] = _fill(out["house_number_suffix"], suffix).str.lower()


def _derive_address(out: pd.DataFrame, source: SourceDefinition) -> Reasons:
    _split_house_number(out, _HOUSE_NUMBER)
    postcode = out["postcode"].astype(_STR)
    bad_postcode = _mask(postcode.notna()) & ~_mask(postcode.str.match(r"^[0-9]{5}$"))
    return _first_reason(
        _reason(
            bad_postcode,
            lambda m: [f"Postleitzahl '{v}' hat nicht 5 Ziffern" for v in _quoted(postcode)(m)],
        ),
        _check_ags(out),
    )


def _date(series: pd.Series, label: str) -> tuple[pd.Series, Reasons]:
    """ISO or German dates ("2022-05-15", "15.05.2022") → datetime.date, reason if unreadable.

    Parsed once per distinct value: a batch holds few distinct dates."""
    text = _text(series)
    distinct = {v for v in text.dropna().unique()}
    parsed: dict[str, Any] = {}
    for value in distinct:
        for fmt in ("%Y-%m-%d", "%d.%m.%Y", "ISO8601"):
            stamp = pd.to_datetime(value, errors="coerce", format=fmt)
            if not pd.isna(stamp):
                parsed[value] = stamp.date()
                break
    values = text.astype(object).map(parsed)
    values = values.astype(object).where(_mask(values.notna()), None)
    bad = _mask(text.notna()) & _mask(values.isna())
    quoted = _quoted(text)
    return values, _reason(
        bad, lambda m: [f"'{v}' ist kein gültiges Datum ({label})" for v in quoted(m)]
    )


def _derive_development_plan(out: pd.DataFrame, source: SourceDefinition) -> Reasons:
    reasons = [_reason(out["source_object_id"].isna(), "Objektkennung (gml:id) fehlt")]
    for column, label in (
        ("in_force_date", "Inkrafttreten"),
        ("decision_date", "Aufstellungsbeschluss"),
        ("adoption_date", "Satzungsbeschluss"),
    ):
        out[column], reason = _date(out[column], label)
        reasons.append(reason)
    return _first_reason(
        *reasons, _reason(out["plan_type"].isna(), "Planart fehlt"), _check_ags(out)
    )


def _derive_traffic_count(out: pd.DataFrame, source: SourceDefinition) -> Reasons:
    year, year_reason = _number(out["year"], "Jahr", integer=True, german_source=_german(source))
    out["year"] = year
    reasons = [_reason(out["station_id"].isna(), "Zählstellennummer fehlt"), year_reason]
    for column, label in (
        ("dtv_kfz", "DTV Kfz"),
        ("dtv_sv", "DTV SV"),
        ("sv_share_pct", "SV-Anteil"),
    ):
        out[column], reason = _number(
            out[column], label, integer=False, german_source=_german(source)
        )
        reasons.append(reason)
    share = out["sv_share_pct"]
    computed = (out["dtv_sv"] / out["dtv_kfz"] * 100).round(2)
    out["sv_share_pct"] = share.where(_mask(share.notna()), computed)
    negative = _mask(out["dtv_kfz"] < 0) | _mask(out["dtv_sv"] < 0)
    reasons.append(_reason(negative, "negative Verkehrsstärke"))
    return _first_reason(*reasons)


def _derive_grid_value(out: pd.DataFrame, source: SourceDefinition) -> Reasons:
    resolution, resolution_reason = _number(
        out["resolution_m"], "Auflösung", integer=True, german_source=_german(source)
    )
    out["resolution_m"] = resolution
    value, value_reason = _number(
        out["value"], "Wert", integer=False, german_source=_german(source)
    )
    out["value"] = value
    date, date_reason = _date(out["reference_date"], "Stichtag")
    out["reference_date"] = date
    reasons = [resolution_reason, value_reason, date_reason]
    for column in ("x_ll", "y_ll"):
        out[column], reason = _number(
            out[column], "Gitterkoordinate", integer=False, german_source=_german(source)
        )
        reasons.append(reason)
    missing = _mask(out["cell_id"].isna()) | _mask(out["indicator"].isna())
    return _first_reason(_reason(missing, "Gitterzelle oder Merkmal fehlt"), *reasons)


_LEADING_NUMBER = r"^\s*([0-9]+)\s*([A-Za-z]?)(?![A-Za-z])"
_USES = (("wohn", "Wohnen"), ("gewerb", "Gewerbe"), ("laden", "Gewerbe"), ("misch", "gemischt"))


def _derive_vacancy(out: pd.DataFrame, source: SourceDefinition) -> Reasons:
    # registers write "12a", "12 A" or a range "12-14" for the building at number 12
    _split_house_number(out, _LEADING_NUMBER)
    use = out["use"].astype(_STR)
    folded = use.str.lower()
    for prefix, name in _USES:
        use = use.where(~_mask(folded.str.contains(prefix, regex=False)), name)
    out["use"] = use
    out["vacant_since"], since_reason = _date(out["vacant_since"], "leer seit")
    area, area_reason = _number(
        out["floor_area"], "Fläche", integer=False, german_source=_german(source)
    )
    out["floor_area"] = area
    return _first_reason(
        _reason(out["source_object_id"].isna(), "laufende Nummer fehlt"),
        since_reason,
        area_reason,
        _check_ags(out),
    )


# Hochwasserszenarien of the flood risk management directive (HWRM-RL, § 74 WHG): the
# spellings Länder and the BfG use, folded (lower case, umlauts written out, no blanks)
FLOOD_SCENARIOS = ("HQhaeufig", "HQ100", "HQextrem")
_SCENARIO_WORDS: tuple[tuple[str, str], ...] = (
    ("extrem", "HQextrem"),
    ("niedrig", "HQextrem"),  # "niedrige Wahrscheinlichkeit"
    ("low", "HQextrem"),
    ("mittler", "HQ100"),  # "mittlere Wahrscheinlichkeit"
    ("mittel", "HQ100"),
    ("medium", "HQ100"),
    ("haeufig", "HQhaeufig"),
    ("hohe", "HQhaeufig"),  # "hohe(r) Wahrscheinlichkeit" ("hoch" is in "Hochwasser")
    ("high", "HQhaeufig"),
)
# INSPIRE/BfG abbreviations of the three probabilities (Lo, Me, Hi), and a bare "hoch"
_SCENARIO_CODES = {"lo": "HQextrem", "me": "HQ100", "hi": "HQhaeufig", "hoch": "HQhaeufig"}
_FLOOD_KINDS: tuple[tuple[str, str], ...] = (
    ("vorlaeufig", "vorlaeufig"),  # vorläufig gesichertes Überschwemmungsgebiet
    ("festgesetzt", "festgesetzt"),  # durch Verordnung festgesetzt / als festgesetzt geltend
    ("gefahren", "gefahrenflaeche"),  # Hochwassergefahrenfläche
    ("hwgk", "gefahrenflaeche"),  # Hochwassergefahrenkarte
    ("ueberflutung", "gefahrenflaeche"),  # Überflutungsfläche
)


_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


def _fold(text: str) -> str:
    """Lower case, umlauts written out, blanks and punctuation dropped: "HQ 100" → "hq100"."""
    folded = text.strip().lower().translate(_UMLAUTS)
    return re.sub(r"[\s_\-.()]+", "", folded)


def flood_scenario(value: str) -> str | None:
    """The canonical scenario of a source's spelling, None when unknown or ambiguous.

    HQ with a return period: up to 50 years is HQhäufig, 100 is HQ100, 200 and more is
    HQextrem (Sachsen-Anhalt maps HQ200 as the extreme event); words name the probability
    ("mittlere Wahrscheinlichkeit") or the scenario ("HQhäufig", "HQextrem")."""
    folded = _fold(value)
    if folded in _SCENARIO_CODES:
        return _SCENARIO_CODES[folded]
    found: set[str] = set()
    for years in re.findall(r"hq(\d+)", folded):
        period = int(years)
        if period <= 50:
            found.add("HQhaeufig")
        elif period == 100:
            found.add("HQ100")
        elif period >= 200:
            found.add("HQextrem")
        else:
            return None  # HQ 51–199 other than 100 belongs to no scenario
    if folded.isdigit():  # a bare return period ("100")
        return flood_scenario(f"HQ{folded}")
    found.update(scenario for word, scenario in _SCENARIO_WORDS if word in folded)
    return found.pop() if len(found) == 1 else None


def _map_distinct(series: pd.Series, convert: Callable[[str], str | None]) -> pd.Series:
    """`convert` applied once per distinct value (a batch holds few of them)."""
    text = _text(series)
    table = {value: convert(value) for value in text.dropna().unique()}
    return text.map(table, na_action="ignore").astype(_STR)


def _flood_kind(value: str) -> str | None:
    folded = _fold(value)
    return next((kind for word, kind in _FLOOD_KINDS if word in folded), None)


def _derive_flood_zone(out: pd.DataFrame, source: SourceDefinition) -> Reasons:
    given = _text(out["scenario"])
    out["scenario"] = _map_distinct(given, flood_scenario)
    unknown = _mask(given.notna()) & _mask(out["scenario"].isna())
    kind_given = _text(out["kind"])
    kind = _map_distinct(kind_given, _flood_kind)
    bad_kind = _mask(kind_given.notna()) & _mask(kind.isna())
    out["kind"] = kind.fillna("gefahrenflaeche")
    scenarios = ", ".join(FLOOD_SCENARIOS)
    return _first_reason(
        _reason(out["source_object_id"].isna(), "Objektkennung fehlt"),
        _reason(given.isna(), "Hochwasserszenario fehlt"),
        _reason(
            unknown,
            lambda m: [
                f"Hochwasserszenario '{v}' unbekannt (erwartet z. B. HQ10, HQ100, HQ200, "
                f"HQextrem oder hohe/mittlere/niedrige Wahrscheinlichkeit; Ziel: {scenarios})"
                for v in _quoted(given)(m)
            ],
        ),
        _reason(
            bad_kind,
            lambda m: [
                f"Art des Gebiets '{v}' unbekannt (erwartet: Gefahrenfläche, festgesetzt "
                "oder vorläufig gesichert)"
                for v in _quoted(kind_given)(m)
            ],
        ),
    )


def _cols(*specs: str | tuple[str, str]) -> tuple[Column, ...]:
    return tuple(Column(s) if isinstance(s, str) else Column(s[0], s[1]) for s in specs)


# a grid dataset's cells: squares of the INSPIRE grid (EPSG:3035) stored in EPSG:25832,
# in a partition of `grid_cell` swapped in together with the values
_GRID_CELLS = (
    "INSERT INTO {companion} (cell_id, resolution_m, geom, dataset_version_id) "
    "SELECT DISTINCT ON (cell_id) cell_id, resolution_m, ST_Transform(ST_MakeEnvelope("
    "x_ll, y_ll, x_ll + resolution_m, y_ll + resolution_m, 3035), 25832), dataset_version_id "
    "FROM {part}"
)
# the open layer of a vacancy register: counts per 100 m cell (EPSG:3035 grid); a cell
# with fewer than {threshold} entries is left out, and the counts by use are shown only
# when none of them is between 1 and the threshold (else they would reveal the small one)
_VACANCY_AGGREGATE = (
    "INSERT INTO {companion} (unit, unit_id, vacant_total, vacant_residential, "
    "vacant_commercial, vacant_mixed, geom, dataset_version_id) "
    "SELECT 'grid_100m', 'CRS3035RES100mN' || y::bigint || 'E' || x::bigint, n, "
    "CASE WHEN safe THEN r END, CASE WHEN safe THEN c END, CASE WHEN safe THEN m END, "
    "ST_Transform(ST_MakeEnvelope(x, y, x + 100, y + 100, 3035), 25832), version "
    "FROM (SELECT x, y, n, r, c, m, version, "
    "  (r = 0 OR r >= {threshold}) AND (c = 0 OR c >= {threshold}) "
    "  AND (m = 0 OR m >= {threshold}) AS safe "
    "  FROM (SELECT floor(ST_X(p) / 100) * 100 AS x, floor(ST_Y(p) / 100) * 100 AS y, "
    "        count(*) AS n, count(*) FILTER (WHERE use = 'Wohnen') AS r, "
    "        count(*) FILTER (WHERE use = 'Gewerbe') AS c, "
    "        count(*) FILTER (WHERE use = 'gemischt') AS m, "
    "        min(dataset_version_id) AS version "
    "        FROM (SELECT ST_Transform(geom, 3035) AS p, use, dataset_version_id "
    "              FROM {part}) s GROUP BY 1, 2) g "
    "  WHERE n >= {threshold}) a"
)
# ... and per building block (Baublock): the areas of the municipality that streets,
# ways, squares and railways (ALKIS tatsächliche Nutzung) enclose; needs the boundary and
# the land use to be loaded, else no block counts are made
_VACANCY_BLOCKS = (
    "WITH pts AS (SELECT geom, use, ags, dataset_version_id FROM {part}), "
    "muni AS (SELECT ags, geom FROM municipality WHERE ags IN (SELECT ags FROM pts)), "
    "ways AS (SELECT mu.ags, ST_Union(l.geom) AS geom FROM muni mu JOIN land_use l "
    "  ON ST_Intersects(l.geom, mu.geom) WHERE l.nutzart IN ('AX_Strassenverkehr', "
    "  'AX_Weg', 'AX_Platz', 'AX_Bahnverkehr') OR l.name IN ('Straßenverkehr', 'Weg', "
    "  'Platz', 'Bahnverkehr') GROUP BY mu.ags), "
    "blocks AS (SELECT ags, row_number() OVER (ORDER BY ags, ST_XMin(geom), ST_YMin(geom)) "
    "  AS nr, geom FROM (SELECT mu.ags, (ST_Dump(ST_Difference(mu.geom, w.geom))).geom "
    "  FROM muni mu JOIN ways w USING (ags)) d), "
    "counted AS (SELECT b.ags, b.nr, count(*) AS n, "
    "  count(*) FILTER (WHERE p.use = 'Wohnen') AS r, "
    "  count(*) FILTER (WHERE p.use = 'Gewerbe') AS c, "
    "  count(*) FILTER (WHERE p.use = 'gemischt') AS m, min(p.dataset_version_id) AS version "
    "  FROM blocks b JOIN pts p ON ST_Contains(b.geom, p.geom) GROUP BY b.ags, b.nr) "
    "INSERT INTO {companion} (unit, unit_id, vacant_total, vacant_residential, "
    "vacant_commercial, vacant_mixed, geom, dataset_version_id) "
    "SELECT 'block', 'BLK' || c.ags || '-' || c.nr, c.n, "
    "CASE WHEN safe THEN c.r END, CASE WHEN safe THEN c.c END, CASE WHEN safe THEN c.m END, "
    "b.geom, c.version "
    "FROM (SELECT *, (r = 0 OR r >= {threshold}) AND (c = 0 OR c >= {threshold}) "
    "      AND (m = 0 OR m >= {threshold}) AS safe FROM counted) c "
    "JOIN blocks b ON b.ags = c.ags AND b.nr = c.nr "
    "WHERE c.n >= {threshold}"
)
_GRID_EXTENT = (
    "SELECT 'SRID=25832;' || ST_AsText(ST_Envelope(ST_Extent(geom)::geometry)) "
    "FROM grid_cell WHERE dataset_version_id = {version}"
)


TARGETS: dict[str, Target] = {
    "municipality": Target(
        table="municipality",
        columns=_cols("ags", "ars", "name", "district"),
        required_any=frozenset({"ags", "ars"}),
        geometry="multipolygon",
        derive=_derive_municipality,
        key=("ags",),
        conflict_key="ags",
        ref_column="ags",
    ),
    "parcel": Target(
        table="parcel",
        columns=_cols(
            "flurstueckskennzeichen",
            "land",
            "gemarkung",
            "gemarkung_name",
            "flur",
            "zaehler",
            "nenner",
            "folge",
            "ags",
            ("amtliche_flaeche", "float8"),
            "location_text",
            "source_object_id",
        ),
        required_any=frozenset({"flurstueckskennzeichen"}),
        geometry="multipolygon",
        derive=_derive_parcel,
        key=("flurstueckskennzeichen",),
        conflict_key="flurstueckskennzeichen",
        ref_column="flurstueckskennzeichen",
        derived=frozenset({"land", "gemarkung", "flur", "zaehler", "nenner", "folge"}),
    ),
    "building": Target(
        table="building",
        columns=_cols(
            "source_object_id",
            "ags",
            ("function_code", "int4"),
            "function_name",
            ("storeys", "int2"),
            "name",
            "location_text",
        ),
        required_any=frozenset({"source_object_id"}),
        geometry="multipolygon",
        derive=_derive_building,
        key=("source_object_id",),
        ref_column="source_object_id",
    ),
    "land_use": Target(
        table="land_use",
        columns=_cols("source_object_id", "nutzart", "name", "nutzung_group", "parcel_ref"),
        required_any=frozenset({"nutzart"}),
        geometry="multipolygon",
        derive=_derive_land_use,
        ref_column="source_object_id",
    ),
    "address": Target(
        table="address",
        columns=_cols(
            "source_object_id",
            "ags",
            "street",
            "street_key",
            "house_number",
            "house_number_suffix",
            "postcode",
            "place",
        ),
        required_any=frozenset({"house_number"}),
        geometry="point",
        derive=_derive_address,
        ref_column="source_object_id",
    ),
    "development_plan": Target(
        table="development_plan",
        columns=_cols(
            "source_object_id",
            "plan_type",
            "xplan_version",
            "name",
            "number",
            "plan_art",
            "plan_art_name",
            "legal_status",
            "legal_status_name",
            "ags",
            "municipality_name",
            ("in_force_date", "date"),
            ("decision_date", "date"),
            ("adoption_date", "date"),
            ("document_urls", "text[]"),
        ),
        required_any=frozenset({"source_object_id"}),
        geometry="multipolygon",
        derive=_derive_development_plan,
        key=("source_object_id",),
        ref_column="name",
    ),
    "traffic_count": Target(
        table="traffic_count",
        columns=_cols(
            "station_id",
            "name",
            "road",
            "road_class",
            ("year", "int2"),
            ("dtv_kfz", "float8"),
            ("dtv_sv", "float8"),
            ("sv_share_pct", "float8"),
            "counter",
        ),
        required_any=frozenset({"station_id"}),
        geometry="point",
        derive=_derive_traffic_count,
        key=("station_id", "year"),
        ref_column="station_id",
    ),
    "grid_value": Target(
        table="grid_value",
        columns=_cols(
            "cell_id",
            ("resolution_m", "int4"),
            "indicator",
            ("value", "float8"),
            "flag",
            ("reference_date", "date"),
            ("x_ll", "float8"),
            ("y_ll", "float8"),
        ),
        required_any=frozenset({"cell_id"}),
        geometry="none",
        derive=_derive_grid_value,
        key=("cell_id", "indicator"),
        ref_column="cell_id",
        companions=(("grid_cell", (_GRID_CELLS,)),),
        extent_sql=_GRID_EXTENT,
    ),
    "vacancy": Target(
        table="vacancy",
        columns=_cols(
            "source_object_id",
            "ags",
            "street",
            "house_number",
            "house_number_suffix",
            "parcel_ref",
            "use",
            "status",
            ("vacant_since", "date"),
            ("floor_area", "float8"),
            "remarks",
            "location_method",
            ("source_row", "int4"),
        ),
        required_any=frozenset({"source_object_id"}),
        geometry="point",
        derive=_derive_vacancy,
        key=("source_object_id",),
        ref_column="source_object_id",
        derived=frozenset({"location_method", "source_row"}),
        geometry_optional=True,
        locate=True,
        companions=(("vacancy_aggregate", (_VACANCY_AGGREGATE, _VACANCY_BLOCKS)),),
        # the extent of the published cells, not of the entries (whose corners it would be)
        extent_sql=(
            "SELECT 'SRID=25832;' || ST_AsText(ST_Envelope(ST_Extent(geom)::geometry)) "
            "FROM vacancy_aggregate WHERE dataset_version_id = {version}"
        ),
    ),
    # Hochwassergefahrenflächen (HWRM-RL) and Überschwemmungsgebiete (§ 76 WHG); the
    # scenario is normalised (HQ 100, mittlere Wahrscheinlichkeit → HQ100), a layer holding
    # one scenario only may set it with `constants: {scenario: HQ100}`
    "flood_zone": Target(
        table="flood_zone",
        columns=_cols("source_object_id", "scenario", "kind", "name", "water_body", "depth_class"),
        required_any=frozenset({"scenario"}),
        geometry="multipolygon",
        derive=_derive_flood_zone,
        key=("source_object_id",),
        ref_column="source_object_id",
    ),
}

# codes that spreadsheets and GDAL may hand over as numbers (15088235.0)
_CODE_FIELDS = frozenset({"ags", "ars", "flurstueckskennzeichen", "postcode"})


def _plain(value: Any) -> Any:
    """A JSON-friendly copy of an attribute value for rejected_record.record."""
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


def _record(frame: gpd.GeoDataFrame, i: int) -> dict[str, Any]:
    row = frame.iloc[i]
    record = {k: _plain(v) for k, v in row.items() if k != frame.geometry.name}
    geom = row[frame.geometry.name]
    if geom is not None and not geom.is_empty:
        record["geometry_wkt"] = shapely.to_wkt(geom, rounding_precision=2)[:500]
    return record


# Plausible extent of German data in EPSG:25832 (with margin): coordinates outside it mean
# a wrong or missing CRS declaration, not a place in Sachsen-Anhalt's neighbourhood.
GERMANY_25832 = (200_000.0, 5_200_000.0, 1_000_000.0, 6_150_000.0)


def _outside(
    geoms: np.ndarray[Any, Any], extent: tuple[float, float, float, float]
) -> np.ndarray[Any, Any]:
    bounds = shapely.bounds(geoms)
    with np.errstate(invalid="ignore"):
        inside = (
            (bounds[:, 0] >= extent[0])
            & (bounds[:, 1] >= extent[1])
            & (bounds[:, 2] <= extent[2])
            & (bounds[:, 3] <= extent[3])
        )
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    return np.asarray(present & ~inside)


# columns a reader may add: the source line of a record, and why it cannot be used
ROW_COLUMN = "row_number"
REASON_COLUMN = "reject_reason"
SKIPPED_ATTR = "skipped"


def map_frame(
    frame: gpd.GeoDataFrame,
    layer: Layer,
    source: SourceDefinition,
    offset: int,
    extent: tuple[float, float, float, float] = GERMANY_25832,
) -> MappedBatch:
    """Map one batch (EPSG:25832) of `layer` to rows of its target table."""
    target = TARGETS[layer.target]
    wkb = None
    if WKB_COLUMN in frame.columns:
        wkb = frame[WKB_COLUMN].to_numpy()
        frame = frame.drop(columns=WKB_COLUMN)
    missing = sorted(v for v in layer.mapping.values() if v not in frame.columns)
    if missing:
        present = ", ".join(str(c) for c in frame.columns if c != frame.geometry.name)
        raise SourceFormatError(
            f"Quelle '{source.id}', Ebene {layer.name}: Spalte(n) {', '.join(missing)} "
            f"fehlen; vorhanden sind: {present}. Die Zuordnung (mapping) anpassen."
        )
    n = len(frame)
    index = frame.index
    out = pd.DataFrame(index=index)
    for col in target.columns:
        src = layer.mapping.get(col.name)
        if col.name == "source_row":  # the record's line in the source, kept for messages
            rows_in = frame[ROW_COLUMN] if ROW_COLUMN in frame.columns else None
            out[col.name] = (
                rows_in.astype("Int64")
                if rows_in is not None
                else pd.Series(pd.NA, index=index, dtype="Int64")
            )
        elif col.name in layer.constants:
            out[col.name] = pd.Series(layer.constants[col.name], index=index, dtype=_STR)
        elif src is None:
            out[col.name] = pd.Series(pd.NA, index=index, dtype=_STR)
        elif col.name in _CODE_FIELDS:
            out[col.name] = _digits(frame[src])
        elif col.copy_type == "text":
            out[col.name] = _text(frame[src])
        else:
            out[col.name] = frame[src]
    # records are named by their key as the source gave it, before any derivation
    refs = (
        out[target.ref_column].to_numpy(dtype=object, na_value=None).copy()
        if target.ref_column
        else None
    )
    rows = frame[ROW_COLUMN].to_numpy(dtype=object) if ROW_COLUMN in frame.columns else None
    read_reasons = (
        frame[REASON_COLUMN].to_numpy(dtype=object) if REASON_COLUMN in frame.columns else _none(n)
    )
    read_reasons[pd.isna(read_reasons)] = None
    reasons = _first_reason(read_reasons, target.derive(out, source))
    geoms = frame.geometry.to_numpy()
    ewkb: list[bytes | None] = []
    repaired = np.zeros(n, dtype=bool)
    if target.geometry != "none":
        ewkb, geom_reasons, repaired = geometry_ewkb(geoms, target.geometry, STORAGE_SRID, wkb)
        if target.geometry_optional:  # placed after the COPY instead
            geom_reasons = [None if r == MISSING else r for r in geom_reasons]
        reasons = _first_reason(
            reasons,
            np.asarray(geom_reasons, dtype=object),
            _reason(
                _outside(geoms, extent),
                "Geometrie liegt außerhalb Deutschlands (nach Umprojektion nach EPSG:25832): "
                "falsches oder fehlendes Koordinatenreferenzsystem der Quelle?",
            ),
        )
    ok = _is_none(reasons)
    skip = np.zeros(n, dtype=bool)
    prefix = source.filter.ags_prefix
    if prefix:
        ags = out["ags"].astype(_STR)
        skip = _mask(ags.notna()) & ~_mask(ags.str.startswith(prefix))
    # rows a reader left out (e.g. grid cells outside the configured extent)
    skipped_by_reader = int(frame.attrs.get(SKIPPED_ATTR, 0))
    result = MappedBatch(skipped=int((skip & ok).sum()) + skipped_by_reader)

    def ref(i: int) -> str:
        name = refs[i] if refs is not None else None
        where = f"Zeile {rows[i]}" if rows is not None else f"Objekt {offset + i + 1}"
        return f"{layer.name} {where}" + (f" ({name})" if name else "")

    for i in np.flatnonzero(~ok):
        result.rejections.append(Rejection(ref(int(i)), str(reasons[i]), _record(frame, int(i))))
    keep = ok & ~skip
    for i in np.flatnonzero(repaired & keep):
        result.repairs.append(Repair(ref(int(i)), repaired_reason(geoms[i])))
    result.count = int(keep.sum())
    for col in target.columns:
        column = out[col.name]
        result.columns[col.name] = column.to_numpy(dtype=object, na_value=None)[keep]
    if target.geometry != "none":
        result.columns["geom"] = np.asarray(ewkb, dtype=object)[keep]
    return result


def repaired_reason(geom: Any) -> str:
    """Why a geometry needed repair (GEOS), in words an operator understands."""
    return f"Geometrie ungültig ({shapely.is_valid_reason(geom)}), mit make_valid repariert"
