"""Queries on the municipality table (Gemeinden)."""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import Connection

from planungsdaten.db.queries import query
from planungsdaten.errors import InvalidAGSError, MunicipalityNotFoundError

_AGS = re.compile(r"^[0-9]{8}$")


def search(conn: Connection, q: str | None, limit: int, offset: int) -> list[dict[str, Any]]:
    """Municipalities whose name contains `q` (folded) or whose AGS/ARS starts with it."""
    params: dict[str, object] = {"limit": limit, "offset": offset}
    q = (q or "").strip()
    if not q:
        rows = conn.execute(query("list_municipalities"), params)
    elif q.isdigit():
        rows = conn.execute(query("search_municipalities_by_key"), {**params, "q": q})
    else:
        rows = conn.execute(query("search_municipalities_by_name"), {**params, "q": q})
    return [dict(r._mapping) for r in rows]


def get(conn: Connection, ags: str) -> dict[str, Any]:
    """One municipality with its geometry in CRS84; typed errors for bad or unknown AGS."""
    if not _AGS.match(ags):
        raise InvalidAGSError(ags)
    row = conn.execute(query("get_municipality"), {"ags": ags}).first()
    if row is None:
        raise MunicipalityNotFoundError(ags)
    data = dict(row._mapping)
    data["geometry"] = json.loads(data["geometry"])
    return data
