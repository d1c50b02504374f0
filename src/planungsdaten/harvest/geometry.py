"""Geometry checks shared by the canonical targets, vectorised over a batch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import MultiPoint, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

_POINT, _POLYGON, _MULTIPOINT, _MULTIPOLYGON = 0, 3, 4, 6
MISSING = "Geometrie fehlt oder ist leer"


def as_multipolygon(geom: BaseGeometry | None) -> tuple[MultiPolygon | None, str | None]:
    """A valid MultiPolygon, or None with the reason (German, stored as the rejection reason)."""
    if geom is None or geom.is_empty:
        return None, MISSING
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


def as_point(geom: BaseGeometry | None) -> tuple[Point | None, str | None]:
    """A Point (a MultiPoint of one point counts), or None with the reason."""
    if geom is None or geom.is_empty:
        return None, MISSING
    if isinstance(geom, Point):
        return geom, None
    if isinstance(geom, MultiPoint) and len(geom.geoms) == 1:
        return geom.geoms[0], None
    return None, f"Geometrie ist kein Punkt, sondern {geom.geom_type}"


def geometry_ewkb(
    geoms: npt.NDArray[np.object_], kind: Literal["multipolygon", "point"], srid: int
) -> tuple[list[bytes | None], list[str | None], npt.NDArray[np.bool_]]:
    """EWKB per input geometry in the target kind, or None and the reason; and which were
    repaired. Invalid polygons are repaired with make_valid; polygons become multipolygons;
    only the rare collections that repair produces take the per-geometry path."""
    geoms = np.array(geoms, dtype=object)
    n = len(geoms)
    reasons: list[str | None] = [None] * n
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    repaired = np.zeros(n, dtype=bool)
    types = shapely.get_type_id(geoms)
    scalar: Callable[[BaseGeometry | None], tuple[BaseGeometry | None, str | None]]
    if kind == "point":
        ok = ~missing & (types == _POINT)
        scalar = as_point
    else:
        repaired = ~missing & ~shapely.is_valid(geoms)
        if repaired.any():
            geoms[repaired] = shapely.make_valid(geoms[repaired])
            types = shapely.get_type_id(geoms)
        polygon = ~missing & (types == _POLYGON)
        if polygon.any():
            geoms[polygon] = shapely.multipolygons(
                geoms[polygon], indices=np.arange(int(polygon.sum()))
            )
        ok = ~missing & ((types == _POLYGON) | (types == _MULTIPOLYGON))
        scalar = as_multipolygon
    for i in np.flatnonzero(~missing & ~ok):
        geoms[i], reasons[i] = scalar(geoms[i])
        ok[i] = geoms[i] is not None
    for i in np.flatnonzero(missing):
        reasons[i] = MISSING
    ewkb: list[bytes | None] = [None] * n
    if ok.any():
        encoded = shapely.to_wkb(shapely.set_srid(geoms[ok], srid), include_srid=True)
        for i, value in zip(np.flatnonzero(ok), encoded, strict=True):
            ewkb[i] = value
    return ewkb, reasons, repaired
