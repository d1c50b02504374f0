"""/api/me, and for operators /api/keys (API keys) and /api/audit (who received restricted
data)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import text

from planungsdaten.api.deps import (
    AUTH_RESPONSES,
    OPERATOR_ONLY,
    CurrentIdentity,
    OperatorIdentity,
    PrimaryConnection,
    Problem,
)
from planungsdaten.security import keys

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api", tags=["Zugang"])


class Me(BaseModel):
    """Who the service takes the caller for."""

    role: str = Field(description="anonymous, planner oder operator")
    name: str
    ags: list[str] = Field(description="Gemeinden, deren Einzeldaten der Aufrufer erhält")


class KeyInfo(BaseModel):
    """An API key as the operator sees it: never the secret."""

    id: str
    name: str
    role: str
    ags: list[str]
    created_at: datetime
    revoked_at: datetime | None


class NewKey(BaseModel):
    """`POST /api/keys`: whom the key is for, its role and municipalities."""

    name: str = Field(min_length=1, max_length=200, description="wem der Schlüssel gehört")
    role: str = Field("planner", pattern="^(planner|operator)$")
    ags: list[str] = Field(default_factory=list, max_length=1000)


class CreatedKey(KeyInfo):
    """The new key: `key` is shown this once and stored only as a salted hash."""

    key: str


class AccessRecord(BaseModel):
    """One package with restricted data: who, when, which municipalities, which layers."""

    at: datetime
    subject: str
    role: str
    package_id: str
    ags: list[str]
    layers: list[str]
    area_name: str
    client_address: str | None


def _info(key: keys.ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "role": key.role,
        "ags": key.ags,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
    }


@router.get("/me", response_model=Me, summary="Wer bin ich?", responses=AUTH_RESPONSES)
def me(identity: CurrentIdentity) -> Me:
    """Role, name and municipalities of the caller (anonymous without a key)."""
    return Me(role=identity.role, name=identity.display_name, ags=sorted(identity.ags))


@router.get(
    "/keys",
    response_model=list[KeyInfo],
    summary="API-Schlüssel (Betrieb)",
    responses=OPERATOR_ONLY,
)
def list_keys(conn: PrimaryConnection, operator: OperatorIdentity) -> list[dict[str, Any]]:
    """Every API key, newest first; revoked ones with their time of revocation."""
    return [_info(k) for k in keys.list_keys(conn)]


@router.post(
    "/keys",
    response_model=CreatedKey,
    status_code=201,
    summary="API-Schlüssel anlegen (Betrieb)",
    responses={**OPERATOR_ONLY, 422: {"model": Problem}},
)
def create_key(body: NewKey, conn: PrimaryConnection, operator: OperatorIdentity) -> dict[str, Any]:
    """A new key; the answer is the only place it is ever shown."""
    plain = keys.create_key(conn, body.name, body.role, body.ags)
    conn.commit()
    created = keys.verify(conn, plain)
    assert created is not None
    log.info("API key %s (%s) created by %s", created.id, created.role, operator.subject)
    return {**_info(created), "key": plain}


@router.delete(
    "/keys/{key_id}",
    response_model=KeyInfo,
    summary="API-Schlüssel widerrufen (Betrieb)",
    responses={**OPERATOR_ONLY, 404: {"model": Problem}},
)
def revoke_key(key_id: str, conn: PrimaryConnection, operator: OperatorIdentity) -> dict[str, Any]:
    """Revoke a key: the next request with it is refused."""
    revoked = keys.revoke(conn, key_id)
    conn.commit()
    log.info("API key %s revoked by %s", revoked.id, operator.subject)
    return _info(revoked)


@router.get(
    "/audit",
    response_model=list[AccessRecord],
    summary="Protokoll der Einzeldaten (Betrieb)",
    responses=OPERATOR_ONLY,
)
def audit(
    conn: PrimaryConnection,
    operator: OperatorIdentity,
    ags: str | None = Query(None, pattern=r"^\d{8}$", description="nur diese Gemeinde"),
    limit: int = Query(100, ge=1, le=10_000),
) -> list[dict[str, Any]]:
    """Every package that contained restricted (personal) data, newest first."""
    rows = conn.execute(
        text(
            "SELECT at, subject, role, package_job_id::text AS package_id, ags, layers, "
            "area_name, host(client_address) AS client_address FROM restricted_access_log "
            "WHERE CAST(:ags AS text) IS NULL OR CAST(:ags AS text) = ANY (ags) "
            "ORDER BY at DESC, id DESC LIMIT :limit"
        ),
        {"ags": ags, "limit": limit},
    ).mappings()
    return [dict(row) for row in rows]
