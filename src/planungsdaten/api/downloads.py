"""/downloads: bulk downloads of every open dataset (GeoPackage, GeoJSON, CSV)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from planungsdaten.api.deps import PrimaryConnection
from planungsdaten.publish.downloads import (
    FORMATS,
    DownloadNotFoundError,
    current_download,
    current_file,
    download_path,
    downloads_index,
    open_datasets,
)
from planungsdaten.settings import Settings

router = APIRouter(prefix="/downloads", tags=["Downloads"])


class Download(BaseModel):
    """One file of an open dataset."""

    collection: str = Field(description="Kennung der Sammlung, wie unter /ogc/collections")
    title: str
    format: str = Field(description="gpkg, geojson oder csv")
    media_type: str
    url: str
    bytes: int | None = Field(description="Größe; leer, solange die Datei nicht erzeugt ist")
    sha256: str | None
    generated: datetime | None = Field(description="Zeitpunkt der Erzeugung")
    dataset_version_ids: list[int] = Field(description="enthaltene Datenstände")
    licences: list[str] = Field(description="Lizenzen der Quellen (URI)")
    attributions: list[str] = Field(description="geforderte Namensnennungen")


@router.get("/", response_model=list[Download], summary="Massendownloads")
def list_downloads(request: Request, conn: PrimaryConnection) -> list[Download]:
    """Jeder offene Datensatz als GeoPackage (EPSG:25832), GeoJSON (CRS84) und CSV (WKT in
    EPSG:25832). Eine noch nicht erzeugte Datei wird beim ersten Abruf erzeugt."""
    settings: Settings = request.app.state.settings
    index = downloads_index(settings)
    listed = []
    for dataset in open_datasets(conn):
        cid = dataset.spec.collection_id
        for extension, fmt in FORMATS.items():
            file = current_file(index, dataset, extension)
            listed.append(
                Download(
                    collection=cid,
                    title=dataset.spec.title,
                    format=extension,
                    media_type=fmt.media_type,
                    url=f"{settings.app.public_url}/downloads/{cid}.{extension}",
                    bytes=file.bytes if file else None,
                    sha256=file.sha256 if file else None,
                    generated=file.generated_at if file else None,
                    dataset_version_ids=list(dataset.version_ids),
                    licences=list(dataset.licences),
                    attributions=list(dataset.attributions),
                )
            )
    return listed


def not_modified(request: Request, sha256: str, modified_at: datetime) -> bool:
    """RFC 9110 conditional GET/HEAD of a file with ETag `"<sha256>"`: If-None-Match wins
    over If-Modified-Since."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or f'"{sha256}"' in tags
    if_modified_since = request.headers.get("if-modified-since")
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return modified_at.replace(microsecond=0) <= since
    return False


@router.get(
    "/{file_name}",
    response_class=FileResponse,
    summary="Eine Download-Datei",
    responses={
        200: {"content": {fmt.media_type: {} for fmt in FORMATS.values()}},
        304: {"description": "unverändert (If-None-Match / If-Modified-Since)"},
        404: {"description": "kein offener Datensatz oder Format unbekannt"},
    },
)
@router.head("/{file_name}", include_in_schema=False)
def download(file_name: str, request: Request) -> Response:
    """Die Datei `<Sammlung>.<gpkg|geojson|csv>`, gestreamt, mit ETag (SHA-256) und
    Last-Modified; bedingte Abrufe und Byte-Bereiche werden unterstützt."""
    settings: Settings = request.app.state.settings
    collection_id, dot, extension = file_name.rpartition(".")
    if not dot:
        raise DownloadNotFoundError(
            f"'{file_name}' ist keine Download-Datei; erwartet wird <Sammlung>.<Format>, "
            "z. B. municipalities.gpkg. Die Liste steht unter /downloads/."
        )
    for attempt in (1, 2):
        file = current_download(request.app.state.engine, settings, collection_id, extension)
        path = download_path(settings, file)
        try:
            stat = os.stat(path)
            break
        except FileNotFoundError:
            if attempt == 2:  # replaced twice while we looked: let the client retry
                raise
    headers = {
        "ETag": f'"{file.sha256}"',
        "Last-Modified": format_datetime(file.generated_at, usegmt=True),
        "Cache-Control": "public, no-cache",
    }
    if not_modified(request, file.sha256, file.generated_at):
        return Response(status_code=304, headers=headers)
    return FileResponse(
        path,
        media_type=file.media_type,
        filename=file.file_name,
        headers=headers,
        stat_result=stat,
    )
