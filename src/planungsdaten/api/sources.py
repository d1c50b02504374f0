"""/api/sources and /api/runs: source definitions, harvest runs, rejected records."""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from planungsdaten.api.deps import (
    AUTH_RESPONSES,
    OPERATOR_ONLY,
    CurrentIdentity,
    OperatorIdentity,
    ReadConnection,
)
from planungsdaten.errors import NotFoundError, PlanungsdatenError
from planungsdaten.harvest.errors import HarvestError
from planungsdaten.harvest.run import harvest, latest_runs, run_details, versions
from planungsdaten.harvest.sources import SourceDefinition, load_sources
from planungsdaten.publish.downloads import refresh_downloads
from planungsdaten.settings import Settings

log = logging.getLogger(__name__)

router = APIRouter(tags=["Quellen und Ernten"])


class SourceNotFoundError(NotFoundError):
    """No definition with this id."""


class RunNotFoundError(NotFoundError):
    """No harvest run with this id."""


class SourceSummary(BaseModel):
    """A source definition and the state of its last run."""

    id: str
    title: str
    description: str
    publisher: str
    licence: str
    attribution: str
    access: str
    protocol: str
    format: str
    targets: list[str]
    schedule: str | None
    hvd_category: str | None
    enabled: bool
    last_run: dict[str, Any] | None = None


class Run(BaseModel):
    """One harvest run with its counts (read = loaded + rejected + skipped)."""

    id: int
    source_id: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    records_read: int
    records_loaded: int
    records_rejected: int
    records_repaired: int
    records_skipped: int
    dataset_version_ids: list[int]
    message: str | None


class RunDetails(Run):
    """A run with the records that were rejected or repaired."""

    rejected_records: list[dict[str, Any]] = Field(default_factory=list)
    repaired_records: list[dict[str, Any]] = Field(default_factory=list)
    records_withheld: bool = Field(
        False, description="Einzelsätze einer zugriffsbeschränkten Quelle nicht gezeigt"
    )


def _definitions(request: Request) -> dict[str, SourceDefinition]:
    settings: Settings = request.app.state.settings
    return load_sources(settings.app.harvesters_dir)


def _definition(request: Request, source_id: str) -> SourceDefinition:
    sources = _definitions(request)
    if source_id not in sources:
        raise SourceNotFoundError(f"Keine Quelle mit der Kennung '{source_id}'.")
    return sources[source_id]


def _summary(source: SourceDefinition, last: dict[str, Any] | None) -> SourceSummary:
    return SourceSummary(
        id=source.id,
        title=source.title,
        description=source.description,
        publisher=source.publisher,
        licence=source.licence,
        attribution=source.attribution,
        access=source.access,
        protocol=source.protocol.type,
        format=source.format.type,
        targets=source.targets,
        schedule=source.schedule,
        hvd_category=source.hvd_category,
        enabled=source.enabled,
        last_run=last,
    )


@router.get("/api/sources", response_model=list[SourceSummary], summary="Quellen")
def list_sources(request: Request, conn: ReadConnection) -> list[SourceSummary]:
    """Every source definition with its last run."""
    last = {r["source_id"]: r for r in reversed(latest_runs(conn, None, 10_000))}
    return [_summary(s, last.get(s.id)) for s in _definitions(request).values()]


@router.get("/api/sources/{source_id}", response_model=SourceSummary, summary="Eine Quelle")
def get_source(request: Request, conn: ReadConnection, source_id: str) -> SourceSummary:
    """One source definition with its last run."""
    source = _definition(request, source_id)
    runs = latest_runs(conn, source_id, 1)
    return _summary(source, runs[0] if runs else None)


@router.get("/api/sources/{source_id}/runs", response_model=list[Run], summary="Läufe einer Quelle")
def source_runs(
    request: Request,
    conn: ReadConnection,
    source_id: str,
    limit: int = Query(20, ge=1, le=1000),
) -> list[dict[str, Any]]:
    """The latest runs of a source, newest first."""
    _definition(request, source_id)
    return latest_runs(conn, source_id, limit)


@router.get("/api/sources/{source_id}/versions", summary="Versionen einer Quelle")
def source_versions(request: Request, conn: ReadConnection, source_id: str) -> list[dict[str, Any]]:
    """Every dataset version of a source, newest first."""
    _definition(request, source_id)
    return versions(conn, source_id)


@router.get(
    "/api/runs/{run_id}", response_model=RunDetails, summary="Ein Lauf", responses=AUTH_RESPONSES
)
def get_run(
    conn: ReadConnection,
    identity: CurrentIdentity,
    run_id: int,
    limit: int = Query(1000, ge=1, le=100_000),
) -> dict[str, Any]:
    """One run with its rejected and repaired records; those of a restricted source (personal
    data) only for operators."""
    details = run_details(conn, run_id, limit, include_restricted=identity.role == "operator")
    if details is None:
        raise RunNotFoundError(f"Kein Lauf mit der Nummer {run_id}.")
    return details


@router.post(
    "/api/sources/{source_id}/harvest",
    status_code=202,
    summary="Ernte starten (Betrieb)",
    responses=OPERATOR_ONLY,
)
def start_harvest(
    request: Request, source_id: str, operator: OperatorIdentity, force: bool = False
) -> JSONResponse:
    """Start a harvest in the background; answers with the run's URL at once. Operators only."""
    settings: Settings = request.app.state.settings
    log.info("harvest of %s started by %s", source_id, operator.subject)
    source = _definition(request, source_id)
    started = threading.Event()
    run: dict[str, int] = {}
    failure: list[BaseException] = []

    def on_start(run_id: int) -> None:
        run["id"] = run_id
        started.set()

    def work() -> None:
        try:
            harvest(request.app.state.engine, source, settings, force=force, on_start=on_start)
        except HarvestError:
            return  # recorded on the run
        except BaseException as e:
            failure.append(e)
            return
        finally:
            started.set()
        # bulk downloads follow the harvest; their failure is logged, the run stays succeeded
        try:
            refresh_downloads(request.app.state.engine, settings)
        except Exception:
            log.exception("bulk downloads after harvesting %s could not be generated", source_id)

    threading.Thread(target=work, name=f"harvest-{source_id}", daemon=True).start()
    started.wait(timeout=60)
    if "id" not in run:
        log.error("harvest of %s could not start: %r", source_id, failure)
        raise PlanungsdatenError(
            f"Die Ernte von '{source_id}' konnte nicht starten; Einzelheiten im Betriebsprotokoll."
        )
    return JSONResponse(
        {"run_id": run["id"], "url": f"{settings.app.public_url}/api/runs/{run['id']}"},
        status_code=202,
        headers={"Location": f"/api/runs/{run['id']}"},
    )
