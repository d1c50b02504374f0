"""/api/packages: request a planning package, follow its progress, download the ZIP."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from planungsdaten.api.deps import (
    AUTH_RESPONSES,
    CurrentIdentity,
    PrimaryConnection,
    Problem,
    client_address,
)
from planungsdaten.packages import jobs
from planungsdaten.packages.errors import PackageNotReadyError, RequestTooLargeError
from planungsdaten.packages.request import PackageRequest, parse_request
from planungsdaten.security.limits import check_package_rate
from planungsdaten.settings import Settings

router = APIRouter(prefix="/api/packages", tags=["Datenpakete"])


class PackageFile(BaseModel):
    """The finished ZIP."""

    name: str
    size: int = Field(description="Bytes")
    sha256: str


class PackageStatus(BaseModel):
    """A package job: its state, progress and, when finished, its file."""

    id: str
    status: str = Field(description="queued, running, succeeded oder failed")
    progress: int = Field(description="Fortschritt in Prozent")
    step: str = Field(description="aktueller Arbeitsschritt")
    area_name: str
    ags: list[str]
    themes: list[str]
    restricted: bool = Field(description="enthält zugriffsbeschränkte Einzeldaten")
    cached: bool = Field(description="aus einem vorhandenen Paket gleichen Inhalts beantwortet")
    error: str | None
    file: PackageFile | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    links: dict[str, str]


def _status(job: jobs.Job) -> PackageStatus:
    base = f"/api/packages/{job.id}"
    links = {"self": base}
    file = None
    if job.status == "succeeded" and job.file_name:
        links["download"] = f"{base}/download"
        file = PackageFile(
            name=job.file_name, size=job.file_size or 0, sha256=job.file_sha256 or ""
        )
    return PackageStatus(
        id=job.id,
        status=job.status,
        progress=job.progress,
        step=job.step,
        area_name=job.area_name,
        ags=job.ags,
        themes=list(job.request.get("themes", [])),
        restricted=bool(job.restricted_ags),
        cached=job.cached_from is not None,
        error=job.error,
        file=file,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        links=links,
    )


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestTooLargeError(_too_large(int(declared), limit))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RequestTooLargeError(_too_large(len(body), limit))
    return bytes(body)


def _too_large(size: int, limit: int) -> str:
    return (
        f"Die Anfrage ist zu groß ({size / 1e6:.1f} MB; erlaubt sind {limit / 1e6:.1f} MB). "
        "Bitte die Geometrie des Gebiets vereinfachen."
    )


@router.post(
    "",
    status_code=202,
    response_model=PackageStatus,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": PackageRequest.model_json_schema()}},
        }
    },
    responses={
        200: {"model": PackageStatus, "description": "Paket gleichen Inhalts liegt vor"},
        **AUTH_RESPONSES,
        400: {"model": Problem, "description": "Anfrage nicht lesbar"},
        403: {"model": Problem, "description": "Einzeldaten verlangt, aber nicht berechtigt"},
        404: {"model": Problem, "description": "Gemeinde nicht gefunden"},
        413: {"model": Problem, "description": "Anfrage zu groß"},
        422: {"model": Problem, "description": "Anfrage ungültig"},
        429: {"model": Problem, "description": "zu viele Paketanfragen in der Stunde"},
    },
)
async def create_package(
    request: Request, response: Response, identity: CurrentIdentity
) -> PackageStatus:
    """Ein Datenpaket anfordern: Gemeinde (`ags`) oder Gebiet (`area`), Themen, Optionen.
    Antwort 202 mit der Adresse des Auftrags; 200, wenn ein Paket gleichen Inhalts
    (gleiche Anfrage, gleiche Datenstände) schon fertig ist."""
    settings: Settings = request.app.state.settings
    body = await _body(request, settings.package.max_request_bytes)
    package_request = parse_request(body)
    address = client_address(request)

    def submit() -> tuple[jobs.Job, bool]:
        with request.app.state.engine.connect() as conn:
            check_package_rate(conn, identity, address, settings.limit)
        return jobs.submit(request.app.state.engine, package_request, identity, settings, address)

    job, cached = await run_in_threadpool(submit)
    status = _status(job)
    # set on the injected response, so the identity's cookie goes out with it
    response.status_code = 200 if cached else 202
    response.headers["Location"] = status.links["self"]
    return status


@router.get("", response_model=list[PackageStatus])
def list_packages(conn: PrimaryConnection, identity: CurrentIdentity) -> list[PackageStatus]:
    """Die eigenen Datenpakete, neueste zuerst."""
    return [_status(job) for job in jobs.list_jobs(conn, identity)]


@router.get("/{job_id}", response_model=PackageStatus)
def package_status(
    job_id: str, conn: PrimaryConnection, identity: CurrentIdentity
) -> PackageStatus:
    """Stand eines Auftrags: Status, Fortschritt in Prozent, aktueller Schritt."""
    return _status(jobs.get(conn, job_id, identity))


@router.get(
    "/{job_id}/download",
    response_class=FileResponse,
    responses={200: {"content": {"application/zip": {}}}, 409: {"description": "nicht fertig"}},
)
def download_package(
    job_id: str, request: Request, conn: PrimaryConnection, identity: CurrentIdentity
) -> Any:
    """Das fertige Paket als ZIP (gestreamt)."""
    job = jobs.get(conn, job_id, identity)
    if job.status != "succeeded" or not job.file_name:
        if job.status == "failed":
            raise PackageNotReadyError(f"Das Paket konnte nicht erstellt werden: {job.error}")
        raise PackageNotReadyError(
            f"Das Paket ist noch nicht fertig ({job.progress} %, {job.step}). Bitte den Stand "
            f"unter /api/packages/{job.id} abfragen."
        )
    path = jobs.package_path(request.app.state.settings, job.cached_from or job.id)
    if not path.is_file():
        raise PackageNotReadyError(
            "Die Paketdatei ist nicht mehr vorhanden; bitte das Paket erneut anfordern."
        )
    return FileResponse(
        path,
        media_type="application/zip",
        filename=job.file_name,
        headers={"ETag": f'"{job.file_sha256}"', "Cache-Control": "private, max-age=86400"},
    )
