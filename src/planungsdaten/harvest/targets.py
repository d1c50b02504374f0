"""Canonical tables a source can load into, and the pure mapping of source records to rows."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import shapely

from planungsdaten.harvest.geometry import multipolygons_ewkb

if TYPE_CHECKING:
    from planungsdaten.harvest.sources import SourceDefinition

STORAGE_SRID = 25832

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

_AGS = re.compile(r"^[0-9]{8}$")
_ARS = re.compile(r"^[0-9]{12}$")


@dataclass(frozen=True)
class Rejection:
    """A source record that was not loaded, and why (German: operators read it)."""

    ref: str
    reason: str
    record: dict[str, Any]


@dataclass
class MappedBatch:
    """Rows ready for COPY, plus the records rejected or skipped on the way."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    skipped: int = 0


@dataclass(frozen=True)
class Target:
    """A canonical table: the fields a mapping may fill and how records become rows."""

    table: str
    fields: frozenset[str]
    required_any: frozenset[str]
    columns: tuple[str, ...]
    copy_types: tuple[str, ...]
    key: str
    map_batch: Callable[[gpd.GeoDataFrame, SourceDefinition, int], MappedBatch]

    def check_mapping(self, mapping: Mapping[str, str]) -> None:
        """Raise ValueError when the mapping names unknown fields or misses a required one."""
        unknown = set(mapping) - self.fields
        if unknown:
            raise ValueError(
                f"mapping: unknown field(s) {', '.join(sorted(unknown))} for target "
                f"{self.table!r}; allowed: {', '.join(sorted(self.fields))}"
            )
        if not self.required_any & set(mapping):
            needed = ", ".join(sorted(self.required_any))
            raise ValueError(f"mapping: target {self.table!r} needs one of {needed}")


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _plain(value: Any) -> Any:
    """A JSON-friendly copy of an attribute value for rejected_record.record."""
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    return str(value)


def _record(row: Mapping[str, Any], geometry: Any) -> dict[str, Any]:
    record = {k: _plain(v) for k, v in row.items() if k != "geometry"}
    if geometry is not None and not geometry.is_empty:
        record["geometry_wkt"] = shapely.to_wkt(geometry, rounding_precision=2)[:500]
    return record


def derive_ags(ars: str) -> str:
    """AGS from ARS: Land, Regierungsbezirk and Kreis (5 digits) + Gemeinde (last 3)."""
    return ars[:5] + ars[9:12]


def map_municipalities(
    frame: gpd.GeoDataFrame, source: SourceDefinition, offset: int
) -> MappedBatch:
    """Boundary records (e.g. VG250 GEM) → municipality rows; frame is in EPSG:25832."""
    mapping = source.mapping
    prefix = source.filter.ags_prefix
    out = MappedBatch()
    attributes = frame.drop(columns="geometry").to_dict("records")
    ewkbs, problems = multipolygons_ewkb(frame.geometry.to_numpy(), STORAGE_SRID)
    for i, (row, geom) in enumerate(zip(attributes, frame.geometry, strict=True)):
        ref = f"Objekt {offset + i + 1}"
        ars = _text(row.get(mapping["ars"])) if "ars" in mapping else None
        ags = _text(row.get(mapping["ags"])) if "ags" in mapping else None
        if ars is not None and not _ARS.match(ars):
            out.rejections.append(
                Rejection(ref, f"ARS '{ars}' hat nicht 12 Ziffern", _record(row, geom))
            )
            continue
        if ags is None and ars is not None:
            ags = derive_ags(ars)
        if ags is None or not _AGS.match(ags):
            reason = f"AGS '{ags}' hat nicht 8 Ziffern" if ags else "AGS und ARS fehlen"
            out.rejections.append(Rejection(ref, reason, _record(row, geom)))
            continue
        if ars is not None and derive_ags(ars) != ags:
            out.rejections.append(
                Rejection(
                    f"AGS {ags}",
                    f"AGS {ags} passt nicht zum ARS {ars} (erwartet {derive_ags(ars)})",
                    _record(row, geom),
                )
            )
            continue
        if prefix and not ags.startswith(prefix):
            out.skipped += 1
            continue
        ewkb = ewkbs[i]
        if ewkb is None:
            out.rejections.append(Rejection(f"AGS {ags}", problems[i] or "", _record(row, geom)))
            continue
        name = _text(row.get(mapping["name"])) if "name" in mapping else None
        district = _text(row.get(mapping["district"])) if "district" in mapping else None
        district = district or DISTRICTS_SACHSEN_ANHALT.get(ags[:5])
        out.rows.append((ags, ars, name, district, ewkb))
        out.keys.append(ags)
    return out


TARGETS: dict[str, Target] = {
    "municipality": Target(
        table="municipality",
        fields=frozenset({"ags", "ars", "name", "district"}),
        required_any=frozenset({"ags", "ars"}),
        columns=("ags", "ars", "name", "district", "geom", "dataset_version_id"),
        copy_types=("text", "text", "text", "text", "bytea", "int8"),
        key="ags",
        map_batch=map_municipalities,
    ),
}
