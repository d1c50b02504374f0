"""Geometry checks shared by the canonical targets, vectorised over a batch."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

_POLYGON = 3
_MULTIPOLYGON = 6
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


def multipolygons_ewkb(
    geoms: npt.NDArray[np.object_], srid: int
) -> tuple[list[bytes | None], list[str | None]]:
    """EWKB of a valid MultiPolygon per input geometry, or None and the reason.

    Invalid geometries are repaired (make_valid), polygons promoted; only the rare
    collections that repair produces take the per-geometry path.
    """
    geoms = np.array(geoms, dtype=object)
    reasons: list[str | None] = [None] * len(geoms)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    invalid = ~missing & ~shapely.is_valid(geoms)
    if invalid.any():
        geoms[invalid] = shapely.make_valid(geoms[invalid])
    types = shapely.get_type_id(geoms)
    polygon = ~missing & (types == _POLYGON)
    if polygon.any():
        geoms[polygon] = shapely.multipolygons(
            geoms[polygon], indices=np.arange(int(polygon.sum()))
        )
    ok = ~missing & ((types == _POLYGON) | (types == _MULTIPOLYGON))
    for i in np.flatnonzero(~missing & ~ok):
        geoms[i], reasons[i] = as_multipolygon(geoms[i])
        ok[i] = geoms[i] is not None
    for i in np.flatnonzero(missing):
        reasons[i] = MISSING
    ewkb: list[bytes | None] = [None] * len(geoms)
    if ok.any():
        encoded = shapely.to_wkb(shapely.set_srid(geoms[ok], srid), include_srid=True)
        for i, value in zip(np.flatnonzero(ok), encoded, strict=True):
            ewkb[i] = value
    return ewkb, reasons
