"""The one place that decides who may receive restricted (personal) data."""

from __future__ import annotations

from collections.abc import Iterable

from planungsdaten.security.identity import Identity


def may_receive_restricted(identity: Identity, ags: str) -> bool:
    """Whether `identity` may get the restricted layers (vacancy register) of municipality
    `ags`: operators always, planners for the municipalities they are bound to, others never."""
    if identity.role == "operator":
        return True
    return identity.role == "planner" and ags in identity.ags


def restricted_municipalities(identity: Identity, ags: Iterable[str]) -> list[str]:
    """Those of `ags` whose restricted layers `identity` may receive, sorted."""
    return sorted(a for a in set(ags) if may_receive_restricted(identity, a))
