"""/api/municipalities: search and look up Gemeinden."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from planungsdaten.api.deps import ReadConnection
from planungsdaten.db import municipalities

router = APIRouter(prefix="/api/municipalities", tags=["Gemeinden"])


class MunicipalitySummary(BaseModel):
    """A municipality in a search result."""

    ags: str = Field(description="Amtlicher Gemeindeschlüssel, 8 Ziffern")
    ars: str | None = Field(description="Amtlicher Regionalschlüssel, 12 Ziffern")
    name: str | None
    district: str | None = Field(description="Landkreis oder kreisfreie Stadt")


class MunicipalityProperties(MunicipalitySummary):
    """Attributes of one municipality, with provenance."""

    area_ha: float = Field(description="Fläche in Hektar (aus der Geometrie, EPSG:25832)")
    source_id: str
    dataset_version_id: int
    published_at: datetime | None


class MunicipalityFeature(BaseModel):
    """GeoJSON Feature, geometry in CRS84 (longitude, latitude)."""

    type: str = "Feature"
    id: str
    bbox: list[float]
    geometry: dict[str, Any]
    properties: MunicipalityProperties


@router.get("", response_model=list[MunicipalitySummary], summary="Gemeinden suchen")
def search_municipalities(
    conn: ReadConnection,
    q: str | None = Query(
        None,
        max_length=100,
        description="Teil des Namens (Groß-/Kleinschreibung, Umlaute egal) oder AGS-Anfang",
    ),
    limit: int = Query(20, ge=1, le=500),
    offset: int = Query(0, ge=0),
) -> list[dict[str, Any]]:
    """Municipalities whose name contains `q` or whose AGS/ARS starts with `q`."""
    return municipalities.search(conn, q, limit, offset)


@router.get(
    "/{ags}",
    response_model=MunicipalityFeature,
    summary="Eine Gemeinde",
    responses={404: {"description": "AGS unbekannt"}, 422: {"description": "AGS ungültig"}},
)
def get_municipality(conn: ReadConnection, ags: str) -> dict[str, Any]:
    """One municipality as a GeoJSON Feature in CRS84."""
    data = municipalities.get(conn, ags)
    geometry = data.pop("geometry")
    bbox = [round(float(v), 6) for v in data.pop("bbox")]
    return {
        "type": "Feature",
        "id": data["ags"],
        "bbox": bbox,
        "geometry": geometry,
        "properties": data,
    }
