"""Limits per caller: package requests per hour. Counted in the job table itself, so every
process of the service (and every worker machine) sees the same count."""

from __future__ import annotations

import math

from sqlalchemy import Connection, text

from planungsdaten.errors import RateLimitError
from planungsdaten.security.identity import Identity
from planungsdaten.settings import LimitSettings

_WINDOW = "1 hour"


def check_package_rate(
    conn: Connection, identity: Identity, client_address: str | None, limits: LimitSettings
) -> None:
    """Refuse (429) a package request above the caller's hourly allowance. Anonymous callers
    are counted by their address (a new cookie must not reset the count), planners by key or
    token; operators have no limit."""
    if identity.role == "operator":
        return
    if identity.role == "planner":
        allowance = limits.packages_per_hour_planner
        where, value = "owner = :value", identity.subject
    else:
        allowance = limits.packages_per_hour_anonymous
        if client_address is None:
            where, value = "owner = :value", identity.subject
        else:
            where, value = "client_address = CAST(:value AS inet)", client_address
    count, oldest_age_s = conn.execute(
        text(
            f"SELECT count(*), extract(epoch FROM now() - min(created_at)) FROM package_job "
            f"WHERE {where} AND created_at > now() - interval '{_WINDOW}'"
        ),
        {"value": value},
    ).one()
    if count < allowance:
        return
    retry = max(1, math.ceil(3600 - float(oldest_age_s or 0)))
    raise RateLimitError(
        f"Zu viele Paketanfragen: höchstens {allowance} je Stunde"
        f"{' ohne Schlüssel' if identity.role == 'anonymous' else ''}. Bitte in "
        f"{math.ceil(retry / 60)} Minuten erneut versuchen"
        f"{' oder mit einem Planer-Schlüssel anmelden' if identity.role == 'anonymous' else ''}.",
        retry_after_s=retry,
    )
