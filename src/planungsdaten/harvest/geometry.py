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


# column readers may add with the source's own WKB (dropped when they reproject)
WKB_COLUMN = "__planungsdaten_wkb"
_SRID_FLAG = 0x20000000
_MULTIPOLYGON_EWKB_TYPE = (_MULTIPOLYGON | _SRID_FLAG).to_bytes(4, "little")
_ONE_PART = (1).to_bytes(4, "little")


def _patched_ewkb(wkb: bytes, srid: bytes, multi: bool) -> bytes | None:
    """EWKB from little-endian 2D ISO WKB by splicing in the SRID (and promoting a polygon
    to a one-part multipolygon) — no parsing; None where the shortcut does not apply."""
    if not wkb or wkb[0] != 1:
        return None
    kind = int.from_bytes(wkb[1:5], "little")
    if multi and kind == _POLYGON:
        return b"\x01" + _MULTIPOLYGON_EWKB_TYPE + srid + _ONE_PART + wkb
    if kind == (_MULTIPOLYGON if multi else 1):
        return b"\x01" + (kind | _SRID_FLAG).to_bytes(4, "little") + srid + wkb[5:]
    return None


def geometry_ewkb(
    geoms: npt.NDArray[np.object_],
    kind: Literal["multipolygon", "point"],
    srid: int,
    wkb: npt.NDArray[np.object_] | None = None,
) -> tuple[list[bytes | None], list[str | None], npt.NDArray[np.bool_]]:
    """EWKB per input geometry in the target kind, or None and the reason; and which were
    repaired. Invalid polygons are repaired with make_valid, polygons become multipolygons.

    `wkb` is the source's own WKB of the same geometries (same coordinates, no
    reprojection): where a geometry is valid as it stands, its EWKB is spliced from those
    bytes instead of being encoded again — the common case of a bulk load."""
    geoms = np.array(geoms, dtype=object)
    n = len(geoms)
    reasons: list[str | None] = [None] * n
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    changed = np.zeros(n, dtype=bool)
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
            changed |= repaired
        ok = ~missing & ((types == _POLYGON) | (types == _MULTIPOLYGON))
        scalar = as_multipolygon
    for i in np.flatnonzero(~missing & ~ok):
        geoms[i], reasons[i] = scalar(geoms[i])
        ok[i] = geoms[i] is not None
        changed[i] = True
    for i in np.flatnonzero(missing):
        reasons[i] = MISSING
    ewkb: list[bytes | None] = [None] * n
    srid_bytes = srid.to_bytes(4, "little")
    multi = kind == "multipolygon"
    source = wkb if wkb is not None else np.full(n, None, dtype=object)
    unchanged = ok & ~changed
    if wkb is None:
        unchanged[:] = False
    for i in np.flatnonzero(unchanged):
        ewkb[i] = _patched_ewkb(source[i], srid_bytes, multi)
    encode = np.flatnonzero(ok & np.asarray([e is None for e in ewkb], dtype=bool))
    if len(encode):
        fresh = shapely.to_wkb(geoms[encode], output_dimension=2, flavor="iso")
        for i, value in zip(encode, fresh, strict=True):
            ewkb[i] = _patched_ewkb(value, srid_bytes, multi)
            if ewkb[i] is None:  # big-endian or an unexpected type after repair
                reasons[i] = f"Geometrie nicht übertragbar ({shapely.get_type_id(geoms[i])})"
    return ewkb, reasons, repaired
