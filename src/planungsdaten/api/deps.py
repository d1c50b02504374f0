"""Dependencies: routes get connections from the engines the lifespan owns."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request, Response
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from planungsdaten.db.errors import DatabaseUnavailableError
from planungsdaten.security.identity import Identity


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


def current_identity(request: Request, response: Response) -> Identity:
    """Who is calling. Until keys and tokens exist every caller is anonymous, recognised
    again by a random client id kept in a cookie (set on the first visit)."""
    client = request.cookies.get(CLIENT_COOKIE, "")
    if not re.fullmatch(r"[0-9a-f]{32}", client):
        client = secrets.token_hex(16)
        response.set_cookie(
            CLIENT_COOKIE, client, max_age=365 * 24 * 3600, httponly=True, samesite="lax"
        )
    return Identity.anonymous(client)


CurrentIdentity = Annotated[Identity, Depends(current_identity)]
