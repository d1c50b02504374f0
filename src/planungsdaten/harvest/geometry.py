"""Geometry checks shared by the canonical targets."""

from __future__ import annotations

import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry


def as_multipolygon(geom: BaseGeometry | None) -> tuple[MultiPolygon | None, str | None]:
    """A valid MultiPolygon, or None with the reason (German, stored as the rejection reason)."""
    if geom is None or geom.is_empty:
        return None, "Geometrie fehlt oder ist leer"
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    if isinstance(geom, Polygon):
        return MultiPolygon([geom]), None
    if isinstance(geom, MultiPolygon):
        return geom, None
    polygons = [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon | MultiPolygon)]
    if not polygons:
        return None, f"Geometrie ist keine Fläche, sondern {geom.geom_type}"
    parts: list[Polygon] = []
    for g in polygons:
        parts.extend(g.geoms if isinstance(g, MultiPolygon) else [g])
    return MultiPolygon(parts), None
