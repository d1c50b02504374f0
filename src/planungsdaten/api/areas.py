"""/api/areas: read an uploaded area file (GeoJSON or zipped Shapefile) for the web page."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import shapely
from fastapi import APIRouter, File, Request, UploadFile
from pydantic import BaseModel, Field
from shapely.geometry import shape
from starlette.concurrency import run_in_threadpool

from planungsdaten.api.deps import PrimaryConnection, Problem
from planungsdaten.errors import PayloadTooLargeError
from planungsdaten.packages.area import resolve_area
from planungsdaten.packages.request import PackageRequest
from planungsdaten.packages.upload import read_area_file
from planungsdaten.settings import Settings

router = APIRouter(prefix="/api/areas", tags=["Datenpakete"])

_CHUNK = 1024 * 1024


class UploadedArea(BaseModel):
    """The area of the file, checked like a package request's `area`."""

    name: str
    area: dict[str, Any] = Field(description="GeoJSON Polygon/MultiPolygon in CRS84")
    area_km2: float
    vertices: int
    ags: list[str] = Field(description="Gemeinden, in denen das Gebiet liegt")
    municipalities: list[str]


@router.post(
    "",
    response_model=UploadedArea,
    summary="Gebiet aus Datei lesen",
    responses={
        400: {"model": Problem, "description": "Datei nicht lesbar"},
        413: {"model": Problem, "description": "Datei zu groß"},
        422: {"model": Problem, "description": "kein brauchbares Gebiet"},
    },
)
async def upload_area(
    request: Request,
    conn: PrimaryConnection,
    file: UploadFile = File(description="GeoJSON oder ZIP mit Shapefile (.shp, .shx, .dbf, .prj)"),
) -> UploadedArea:
    """Reads the area of an uploaded GeoJSON or zipped Shapefile, checks it (polygon, size,
    vertices, inside the municipalities with data) and returns it in CRS84 for a package
    request."""
    settings: Settings = request.app.state.settings
    limit = settings.limit.max_upload_bytes
    file_name = Path(file.filename or "Gebiet").name[:200]
    with tempfile.TemporaryDirectory(prefix="planungsdaten-area-") as folder:
        path = Path(folder) / "upload"
        written = 0
        with path.open("wb") as out:
            while chunk := await file.read(_CHUNK):
                written += len(chunk)
                if written > limit:
                    raise PayloadTooLargeError(
                        f"Die Datei {file_name} ist größer als {limit / 1e6:.0f} MB. Bitte die "
                        "Umrisslinie vereinfachen oder nur das Gebiet hochladen."
                    )
                out.write(chunk)
        geometry, name = await run_in_threadpool(read_area_file, path, file_name, settings.limit)
    package_request = PackageRequest(area=geometry, name=name)
    area = await run_in_threadpool(resolve_area, conn, package_request, settings.package)
    return UploadedArea(
        name=area.name,
        area=geometry,
        area_km2=round(area.area_m2 / 1e6, 4),
        vertices=int(shapely.get_num_coordinates(shape(geometry))),
        ags=area.ags,
        municipalities=area.municipality_names,
    )
