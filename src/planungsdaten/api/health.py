"""/health: liveness plus a real round trip to PostGIS."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from planungsdaten import __version__
from planungsdaten.db.engine import check_connection
from planungsdaten.db.errors import DatabaseUnavailableError

router = APIRouter(tags=["Betrieb"])


@router.get("/health", summary="Betriebszustand")
def health(request: Request) -> JSONResponse:
    """200 with the PostGIS version when the database answers, 503 otherwise."""
    try:
        postgis = check_connection(request.app.state.engine)
    except DatabaseUnavailableError as e:
        return JSONResponse(
            {"status": "error", "database": str(e), "version": __version__}, status_code=503
        )
    return JSONResponse(
        {"status": "ok", "database": "ok", "postgis": postgis, "version": __version__}
    )
