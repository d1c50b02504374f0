"""/downloads/rasters: the open raster layers as the stored Cloud-Optimized GeoTIFFs."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from planungsdaten.api.deps import ReadConnection
from planungsdaten.api.downloads import not_modified
from planungsdaten.errors import NotFoundError
from planungsdaten.rasters.store import MEDIA_TYPE, RasterLayer, current_rasters
from planungsdaten.settings import Settings

router = APIRouter(prefix="/downloads/rasters", tags=["Downloads"])


class RasterDownloadNotFoundError(NotFoundError):
    """No open raster layer under this name."""


class RasterDownload(BaseModel):
    """One open raster layer as a file."""

    layer: str = Field(description="Name der Rasterebene, wie unter /ogc/collections")
    title: str
    media_type: str
    url: str
    bytes: int
    sha256: str
    resolution_m: float = Field(description="Zellgröße in Metern (EPSG:25832)")
    bands: list[dict[str, str | None]] = Field(description="Name, Bedeutung, Einheit je Band")
    published: datetime = Field(description="Zeitpunkt der Ernte")
    dataset_version_id: int
    licence: str = Field(description="Lizenz der Quelle (URI)")
    attribution: str = Field(description="geforderte Namensnennung")


def _open_rasters(request: Request, conn: ReadConnection) -> list[RasterLayer]:
    settings: Settings = request.app.state.settings
    return current_rasters(conn, settings.rasters_dir, access="open")


@router.get("/", response_model=list[RasterDownload], summary="Rasterdaten als Dateien")
def list_rasters(request: Request, conn: ReadConnection) -> list[RasterDownload]:
    """Jede offene Rasterebene als Cloud-Optimized GeoTIFF (EPSG:25832)."""
    public_url = request.app.state.settings.app.public_url
    return [
        RasterDownload(
            layer=r.layer,
            title=r.title,
            media_type=MEDIA_TYPE,
            url=f"{public_url}/downloads/rasters/{r.layer}.tif",
            bytes=r.size_bytes,
            sha256=r.sha256,
            resolution_m=r.resolution_m,
            bands=r.bands,
            published=r.published_at,
            dataset_version_id=r.version_id,
            licence=r.licence,
            attribution=r.attribution,
        )
        for r in _open_rasters(request, conn)
    ]


@router.get(
    "/{file_name}",
    response_class=FileResponse,
    summary="Eine Rasterebene als Cloud-Optimized GeoTIFF",
    responses={
        200: {"content": {MEDIA_TYPE: {}}},
        206: {"description": "Byte-Bereich (Range), wie ihn GDAL und QGIS abrufen"},
        304: {"description": "unverändert (If-None-Match / If-Modified-Since)"},
        404: {"description": "keine offene Rasterebene dieses Namens"},
    },
)
@router.head("/{file_name}", include_in_schema=False)
def download_raster(file_name: str, request: Request, conn: ReadConnection) -> Response:
    """Die Datei `<Rasterebene>.tif` mit ETag (SHA-256) und Last-Modified; bedingte Abrufe
    und Byte-Bereiche (für den Zugriff auf Ausschnitte eines COG) werden unterstützt."""
    layer = file_name.removesuffix(".tif")
    found = [r for r in _open_rasters(request, conn) if r.layer == layer]
    if not file_name.endswith(".tif") or not found or not found[0].path.is_file():
        raise RasterDownloadNotFoundError(
            f"Keine offene Rasterebene '{file_name}'; erwartet wird <Rasterebene>.tif, z. B. "
            "gelaende.tif. Die Liste steht unter /downloads/rasters/."
        )
    raster = found[0]
    headers = {
        "ETag": f'"{raster.sha256}"',
        "Last-Modified": format_datetime(raster.published_at.astimezone(UTC), usegmt=True),
        "Cache-Control": "public, no-cache",
    }
    if not_modified(request, raster.sha256, raster.published_at):
        return Response(status_code=304, headers=headers)
    return FileResponse(
        raster.path, media_type=MEDIA_TYPE, filename=f"{raster.layer}.tif", headers=headers
    )
