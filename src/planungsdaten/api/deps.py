"""Dependencies: routes get connections from the engines the lifespan owns."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

from planungsdaten.db.errors import DatabaseUnavailableError


def read_connection(request: Request) -> Iterator[Connection]:
    """A connection to the read engine (replica if configured), closed after the request."""
    try:
        conn = request.app.state.read_engine.connect()
    except OperationalError as e:
        raise DatabaseUnavailableError(
            "Die Datenbank ist nicht erreichbar; bitte später erneut versuchen."
        ) from e
    with conn:
        yield conn


ReadConnection = Annotated[Connection, Depends(read_connection)]
