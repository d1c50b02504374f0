"""The area of a package: a municipality or a drawn/uploaded polygon, checked and in
EPSG:25832, with the municipalities it lies in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Connection

from planungsdaten.db.queries import query
from planungsdaten.packages.errors import InvalidPackageRequestError
from planungsdaten.packages.request import AREA_CRS, PackageRequest
from planungsdaten.settings import PackageSettings

SQL = "planungsdaten.packages"


class InvalidAreaError(InvalidPackageRequestError):
    """The area cannot be used: wrong type, invalid, too large, outside the data."""


@dataclass(frozen=True)
class ResolvedArea:
    """An area ready to build from: geometry as WKB (MultiPolygon, EPSG:25832)."""

    name: str
    wkb: bytes
    ags: list[str]
    municipality_names: list[str]
    area_m2: float

    @property
    def geometry(self) -> BaseGeometry:
        return shapely.from_wkb(self.wkb)


def _geometry_of(value: dict[str, Any]) -> dict[str, Any]:
    """The geometry of a GeoJSON geometry, Feature or one-feature FeatureCollection."""
    kind = value.get("type")
    if kind == "Feature":
        geometry = value.get("geometry")
        if not isinstance(geometry, dict):
            raise InvalidAreaError("Das Feature im Feld 'area' hat keine Geometrie.")
        return geometry
    if kind == "FeatureCollection":
        features = value.get("features") or []
        if len(features) != 1:
            raise InvalidAreaError(
                f"Die FeatureCollection im Feld 'area' enthält {len(features)} Features; "
                "erwartet wird genau eines (das Gebiet). Mehrere Teilflächen bitte als "
                "MultiPolygon angeben."
            )
        return _geometry_of(features[0])
    return value


def parse_area(value: dict[str, Any], crs: str, settings: PackageSettings) -> BaseGeometry:
    """The polygon of a GeoJSON area in its CRS; raises `InvalidAreaError` saying why not."""
    geojson = _geometry_of(value)
    kind = geojson.get("type")
    if kind not in ("Polygon", "MultiPolygon"):
        raise InvalidAreaError(
            f"Das Gebiet muss ein Polygon oder MultiPolygon sein, nicht '{kind}'."
        )
    try:
        geometry = shape(geojson)
    except (ValueError, TypeError, IndexError, KeyError, AttributeError) as e:
        raise InvalidAreaError(f"Die Geometrie des Gebiets ist nicht lesbar: {e}.") from e
    if not isinstance(geometry, Polygon | MultiPolygon) or geometry.is_empty:
        raise InvalidAreaError("Die Geometrie des Gebiets ist leer.")
    vertices = int(shapely.get_num_coordinates(geometry))
    if vertices > settings.max_vertices:
        raise InvalidAreaError(
            f"Das Gebiet hat {vertices:,} Stützpunkte; erlaubt sind höchstens "
            f"{settings.max_vertices:,}. Bitte die Umrisslinie vereinfachen.".replace(",", ".")
        )
    if not shapely.is_valid(geometry):
        reason = shapely.is_valid_reason(geometry)
        raise InvalidAreaError(
            f"Die Geometrie des Gebiets ist ungültig ({reason}). Bitte Selbstüberschneidungen "
            "und doppelte Stützpunkte entfernen (z. B. in QGIS mit „Geometrien reparieren“)."
        )
    minx, miny, maxx, maxy = geometry.bounds
    geographic = AREA_CRS[crs] in (4326, 4258)
    looks_geographic = minx >= -180 and maxx <= 180 and miny >= -90 and maxy <= 90
    if geographic and not looks_geographic:
        raise InvalidAreaError(
            f"Die Koordinaten ({minx:.0f}, {miny:.0f}) passen nicht zu {crs} "
            "(Längen-/Breitengrad). Wenn sie in UTM angegeben sind, bitte "
            '"area_crs": "EPSG:25832" setzen.'
        )
    if not geographic and looks_geographic:
        raise InvalidAreaError(
            f"Die Koordinaten ({minx}, {miny}) sehen nach Längen-/Breitengrad aus, angegeben "
            f"ist aber {crs}. Bitte area_crs weglassen (CRS84) oder die Koordinaten prüfen."
        )
    return geometry


def resolve_area(
    conn: Connection, request: PackageRequest, settings: PackageSettings
) -> ResolvedArea:
    """Check the request's area and find the municipalities it lies in."""
    if request.ags is not None:
        row = conn.execute(query("municipality_area", SQL), {"ags": request.ags}).one_or_none()
        if row is None:
            raise InvalidAreaError(
                f"Keine Gemeinde mit dem AGS {request.ags} gefunden. Die Suche unter "
                "/api/municipalities?q=… listet die geladenen Gemeinden."
            )
        return ResolvedArea(
            name=request.name or row.name or request.ags,
            wkb=bytes(row.wkb),
            ags=[request.ags],
            municipality_names=[row.name or request.ags],
            area_m2=float(row.area_m2),
        )
    assert request.area is not None
    geometry = parse_area(request.area, request.area_crs, settings)
    row = conn.execute(
        query("drawn_area", SQL),
        {"wkb": shapely.to_wkb(geometry), "srid": AREA_CRS[request.area_crs]},
    ).one()
    if not row.valid:
        raise InvalidAreaError(
            "Das Gebiet wird nach der Umrechnung in EPSG:25832 ungültig; bitte die "
            "Geometrie vereinfachen."
        )
    area_km2 = float(row.area_m2) / 1e6
    if area_km2 > settings.max_area_km2:
        raise InvalidAreaError(
            f"Das Gebiet ist {area_km2:,.0f} km² groß; erlaubt sind höchstens "
            f"{settings.max_area_km2:,.0f} km². Bitte ein kleineres Gebiet wählen oder "
            "mehrere Pakete erstellen.".replace(",", ".")
        )
    if not row.ags:
        raise InvalidAreaError(
            "Das Gebiet liegt außerhalb der Gemeinden, für die Daten vorliegen "
            "(Sachsen-Anhalt). Bitte Lage und Koordinatenreferenzsystem (area_crs) prüfen."
        )
    names = list(row.names)
    return ResolvedArea(
        name=request.name or f"Gebiet in {', '.join(names)}",
        wkb=bytes(row.wkb),
        ags=list(row.ags),
        municipality_names=names,
        area_m2=float(row.area_m2),
    )
