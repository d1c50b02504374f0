"""Dependencies: routes get connections from the engines the lifespan owns."""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from pydantic import BaseModel
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from planungsdaten.db.errors import DatabaseUnavailableError
from planungsdaten.errors import AuthenticationError, ForbiddenError
from planungsdaten.security import keys, oidc
from planungsdaten.security.identity import Identity, Role
from planungsdaten.settings import Settings


def _connect(engine: Engine) -> Iterator[Connection]:
    """A connection of `engine`, closed after the request; unreachable → 503."""
    try:
        conn = engine.connect()
    except OperationalError as e:
        raise DatabaseUnavailableError(
            "Die Datenbank ist nicht erreichbar; bitte später erneut versuchen."
        ) from e
    with conn:
        yield conn


def read_connection(request: Request) -> Iterator[Connection]:
    """A connection to the read engine (replica if configured), closed after the request."""
    yield from _connect(request.app.state.read_engine)


def primary_connection(request: Request) -> Iterator[Connection]:
    """A connection to the primary, for what a replica may not have yet (e.g. job states)."""
    yield from _connect(request.app.state.engine)


ReadConnection = Annotated[Connection, Depends(read_connection)]
PrimaryConnection = Annotated[Connection, Depends(primary_connection)]


CLIENT_COOKIE = "planungsdaten_client"
_BEARER = re.compile(r"^Bearer[ ]+(?P<token>\S+)$", re.IGNORECASE)


def _anonymous(request: Request, response: Response) -> Identity:
    """Anonymous callers are recognised again by a random client id kept in a cookie."""
    client = request.cookies.get(CLIENT_COOKIE, "")
    if not re.fullmatch(r"[0-9a-f]{32}", client):
        client = secrets.token_hex(16)
        response.set_cookie(
            CLIENT_COOKIE, client, max_age=365 * 24 * 3600, httponly=True, samesite="lax"
        )
    return Identity.anonymous(client)


def _from_key(engine: Engine, token: str) -> Identity:
    try:
        with engine.connect() as conn:
            key = keys.verify(conn, token)
    except OperationalError as e:
        raise DatabaseUnavailableError(
            "Die Datenbank ist nicht erreichbar; bitte später erneut versuchen."
        ) from e
    if key is None:
        # the key itself is never repeated: messages and logs must not carry it
        raise AuthenticationError(
            "Der API-Schlüssel ist ungültig oder wurde widerrufen. Bitte einen gültigen "
            "Schlüssel angeben oder ohne Schlüssel (nur offene Daten) fortfahren."
        )
    role: Role = "operator" if key.role == "operator" else "planner"
    return Identity(subject=f"key:{key.id}", role=role, ags=frozenset(key.ags), name=key.name)


def current_identity(request: Request, response: Response) -> Identity:
    """Who is calling: `Authorization: Bearer <API key or OIDC token>`, else anonymous.
    A key or token that is given but not valid is refused (401), never taken as anonymous."""
    header = request.headers.get("authorization")
    if not header:
        return _anonymous(request, response)
    match = _BEARER.match(header.strip())
    if match is None:
        raise AuthenticationError(
            "Anmeldung nur als 'Authorization: Bearer <Schlüssel>' (API-Schlüssel oder OIDC-Token)."
        )
    token = match["token"]
    # looked up on the primary for every request: a revoked key stops at once
    if keys.looks_like_key(token):
        return _from_key(request.app.state.engine, token)
    settings: Settings = request.app.state.settings
    try:
        return oidc.identity_from_token(token, settings.auth)
    except oidc.TokenError as e:
        raise AuthenticationError(str(e)) from e


CurrentIdentity = Annotated[Identity, Depends(current_identity)]


def operator_identity(identity: CurrentIdentity) -> Identity:
    """The caller, who must be an operator: 401 without a key, 403 for anyone else."""
    if identity.role == "anonymous":
        raise AuthenticationError(
            "Nur für den Betrieb: bitte mit einem Betriebs-Schlüssel anmelden "
            "(Authorization: Bearer <Schlüssel>)."
        )
    if identity.role != "operator":
        raise ForbiddenError(
            f"Nur für den Betrieb: der Schlüssel von {identity.display_name} hat die Rolle Planer."
        )
    return identity


OperatorIdentity = Annotated[Identity, Depends(operator_identity)]


class Problem(BaseModel):
    """An error: what was wrong and, where possible, what to do (German)."""

    detail: str


AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "Schlüssel oder Token ungültig oder widerrufen"},
}
OPERATOR_ONLY: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    403: {"model": Problem, "description": "nur für den Betrieb"},
}


def client_address(request: Request) -> str | None:
    """The caller's IP address as the server sees it (behind a proxy: run uvicorn with
    --proxy-headers and --forwarded-allow-ips so this is the client's)."""
    if request.client is None:
        return None
    try:
        return str(ipaddress.ip_address(request.client.host))
    except ValueError:  # e.g. a Unix socket or a test client
        return None
