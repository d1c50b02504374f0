"""API keys: `pdk_<id>_<secret>`. Only a salted hash of the secret is stored; the plain key
is shown once, when it is created. Every request looks its key up, so a revoked key stops at
once."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from planungsdaten.errors import InvalidRequestError, NotFoundError

PREFIX = "pdk_"
_ID_ALPHABET = string.ascii_lowercase + string.digits
_KEY = re.compile(r"^pdk_(?P<id>[a-z0-9]{10})_(?P<secret>[A-Za-z0-9_-]{43})$")
ROLES = ("planner", "operator")


class KeyNotFoundError(NotFoundError):
    """No key with this id."""


@dataclass(frozen=True)
class ApiKey:
    """A key as the operator sees it: never the secret."""

    id: str
    name: str
    role: str
    ags: list[str]
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> ApiKey:
        return cls(
            id=row["id"],
            name=row["name"],
            role=row["role"],
            ags=list(row["ags"]),
            created_at=row["created_at"],
            revoked_at=row["revoked_at"],
        )


def _digest(salt: bytes, secret: str) -> bytes:
    # the secret has 256 random bits: a salted SHA-256 cannot be brute-forced, and it keeps
    # the per-request check cheap (a slow password hash would cost every API call)
    return hashlib.sha256(salt + secret.encode("ascii")).digest()


def looks_like_key(token: str) -> bool:
    """Whether `token` has the form of one of our keys (as opposed to an OIDC token)."""
    return token.startswith(PREFIX)


def create_key(conn: Connection, name: str, role: str, ags: Sequence[str] = ()) -> str:
    """Store a new key and return it in plain text: the only time it is ever seen."""
    if role not in ROLES:
        raise InvalidRequestError(f"Rolle '{role}' unbekannt; möglich: {', '.join(ROLES)}")
    bad = [a for a in ags if not re.fullmatch(r"\d{8}", a)]
    if bad:
        raise InvalidRequestError(
            f"kein gültiger Amtlicher Gemeindeschlüssel: {', '.join(bad)} (8 Ziffern erwartet)"
        )
    if role == "planner" and not ags:
        raise InvalidRequestError("ein Schlüssel für Planer braucht mindestens eine Gemeinde")
    if not name.strip():
        raise InvalidRequestError("der Schlüssel braucht einen Namen (wem er gehört)")
    key_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    conn.execute(
        text(
            "INSERT INTO api_key (id, name, role, ags, salt, hash) "
            "VALUES (:id, :name, :role, :ags, :salt, :hash)"
        ),
        {
            "id": key_id,
            "name": name.strip(),
            "role": role,
            "ags": sorted(set(ags)),
            "salt": salt,
            "hash": _digest(salt, secret),
        },
    )
    return f"{PREFIX}{key_id}_{secret}"


def verify(conn: Connection, token: str) -> ApiKey | None:
    """The active key `token` is, or None (malformed, unknown, wrong secret or revoked)."""
    match = _KEY.match(token)
    if match is None:
        return None
    row = (
        conn.execute(
            text(
                "SELECT id, name, role, ags, salt, hash, created_at, revoked_at "
                "FROM api_key WHERE id = :id"
            ),
            {"id": match["id"]},
        )
        .mappings()
        .one_or_none()
    )
    if row is None or row["revoked_at"] is not None:
        return None
    if not hmac.compare_digest(bytes(row["hash"]), _digest(bytes(row["salt"]), match["secret"])):
        return None
    return ApiKey.from_row(row)


def list_keys(conn: Connection) -> list[ApiKey]:
    """Every key, newest first (revoked ones included)."""
    rows = conn.execute(
        text(
            "SELECT id, name, role, ags, created_at, revoked_at FROM api_key "
            "ORDER BY created_at DESC, id"
        )
    ).mappings()
    return [ApiKey.from_row(row) for row in rows]


def revoke(conn: Connection, key_id: str) -> ApiKey:
    """Revoke a key (effective with the next request); revoking twice keeps the first time."""
    row = (
        conn.execute(
            text(
                "UPDATE api_key SET revoked_at = coalesce(revoked_at, now()) WHERE id = :id "
                "RETURNING id, name, role, ags, created_at, revoked_at"
            ),
            {"id": key_id.removeprefix(PREFIX).split("_")[0]},
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise KeyNotFoundError(f"Kein Schlüssel mit der Kennung '{key_id}'.")
    return ApiKey.from_row(row)
