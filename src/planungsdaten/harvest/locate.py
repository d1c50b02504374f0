"""Locating vacancy register entries: by coordinates, parcel, or their address in ALKIS.

Runs in SQL on the freshly loaded partition, against the current `parcel` and `address`
tables: entries keep their coordinates where the register has them; else they take a
point on their parcel; else the ALKIS house coordinate of their address, matched on the
normalised street (`street_key`: case, umlauts, ß/ss, Straße/Str.) and house number with
suffix, falling back to the most similar street (pg_trgm) with the same number. What
stays without a location is removed and returned for the rejected records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

_BY_COORDINATES = """
UPDATE {part} SET location_method = 'Koordinaten' WHERE geom IS NOT NULL
"""

# coordinates that fall outside the register's own municipality are a typing or CRS error
_OUTSIDE_MUNICIPALITY = """
DELETE FROM {part} v
WHERE v.geom IS NOT NULL AND v.ags IS NOT NULL
  AND EXISTS (SELECT 1 FROM municipality m WHERE m.ags = v.ags)
  AND NOT EXISTS (
      SELECT 1 FROM municipality m WHERE m.ags = v.ags AND ST_Intersects(m.geom, v.geom)
  )
RETURNING source_object_id, source_row, ags, ST_X(geom), ST_Y(geom), street, house_number
"""

_BY_PARCEL = """
UPDATE {part} v SET geom = ST_PointOnSurface(p.geom), location_method = 'Flurstück'
FROM parcel p
WHERE v.geom IS NULL AND v.parcel_ref IS NOT NULL
  AND p.flurstueckskennzeichen = rpad(replace(v.parcel_ref, ' ', ''), 20, '_')
"""

_BY_ADDRESS = """
UPDATE {part} v SET geom = a.geom, location_method = 'Adresse'
FROM address a
WHERE v.geom IS NULL AND v.street IS NOT NULL AND v.house_number IS NOT NULL
  AND street_key(a.street) = street_key(v.street)
  AND a.house_number = v.house_number
  AND coalesce(a.house_number_suffix, '') = coalesce(v.house_number_suffix, '')
  AND (v.ags IS NULL OR a.ags IS NULL OR a.ags = v.ags)
"""

_BY_SIMILAR_ADDRESS = """
UPDATE {part} v SET geom = m.geom, location_method = 'Adresse (ähnlicher Straßenname)'
FROM (
    SELECT DISTINCT ON (v.source_object_id) v.source_object_id, a.geom
    FROM {part} v
    JOIN address a
      ON a.house_number = v.house_number
     AND coalesce(a.house_number_suffix, '') = coalesce(v.house_number_suffix, '')
     AND similarity(street_key(a.street), street_key(v.street)) >= %(similarity)s
    WHERE v.geom IS NULL AND v.street IS NOT NULL
    ORDER BY v.source_object_id, similarity(street_key(a.street), street_key(v.street)) DESC
) m
WHERE v.source_object_id = m.source_object_id AND v.geom IS NULL
"""

_UNLOCATED = """
DELETE FROM {part} WHERE geom IS NULL
RETURNING source_object_id, source_row, street, house_number, house_number_suffix, parcel_ref
"""


@dataclass(frozen=True)
class Unlocated:
    """An entry no coordinate, parcel or address placed."""

    source_object_id: str
    reason: str
    record: dict[str, Any]
    row: int | None = None

    @property
    def ref(self) -> str:
        """Names the entry: its line in the source and its number in the register."""
        where = f"Zeile {self.row} " if self.row is not None else ""
        return f"{where}(Nr. {self.source_object_id})"


def _reason(street: str | None, number: str | None, suffix: str | None, parcel: str | None) -> str:
    if parcel and not street:
        return f"Flurstück '{parcel}' nicht im Liegenschaftskataster gefunden"
    if street and number:
        return f"Adresse '{street} {number}{suffix or ''}' nicht im Liegenschaftskataster gefunden"
    return "weder Koordinaten noch Flurstück noch vollständige Adresse angegeben"


def locate(
    raw: psycopg.Connection[Any], part: sql.Identifier, similarity: float = 0.5
) -> list[Unlocated]:
    """Give every entry of the partition a point, or remove it and say why."""
    outside = [
        Unlocated(
            str(oid),
            f"Koordinaten ({x:.1f}, {y:.1f}) liegen außerhalb der Gemeinde {ags}",
            {"Straße": street, "Hausnummer": number, "Rechtswert": x, "Hochwert": y},
            row,
        )
        for oid, row, ags, x, y, street, number in raw.execute(
            sql.SQL(_OUTSIDE_MUNICIPALITY).format(part=part)
        ).fetchall()
    ]
    for statement in (_BY_COORDINATES, _BY_PARCEL, _BY_ADDRESS):
        raw.execute(sql.SQL(statement).format(part=part))
    raw.execute(sql.SQL(_BY_SIMILAR_ADDRESS).format(part=part), {"similarity": similarity})
    rows = raw.execute(sql.SQL(_UNLOCATED).format(part=part)).fetchall()
    return outside + [
        Unlocated(
            str(oid),
            _reason(street, number, suffix, parcel),
            {"Straße": street, "Hausnummer": number, "Zusatz": suffix, "Flurstück": parcel},
            row,
        )
        for oid, row, street, number, suffix, parcel in rows
    ]


def location_summary(raw: psycopg.Connection[Any], part: sql.Identifier) -> dict[str, int]:
    """How many entries were placed by which method."""
    rows = raw.execute(
        sql.SQL("SELECT location_method, count(*) FROM {} GROUP BY 1 ORDER BY 1").format(part)
    ).fetchall()
    return {str(method): int(count) for method, count in rows}
