"""GML 3.2 geometry elements (as used by ALKIS NAS) to shapely geometries."""

from __future__ import annotations

import math
from collections.abc import Iterator

import shapely
from lxml import etree
from shapely.geometry import (
    GeometryCollection,
    LinearRing,
    LineString,
    MultiLineString,
    MultiPoint,
    MultiPolygon,
    Point,
    Polygon,
)
from shapely.geometry.base import BaseGeometry

GML_NS = "http://www.opengis.net/gml/3.2"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"

# Arcs are densified so that the chord stays within this distance of the true arc
# (in CRS units: 1 cm for the projected ALKIS CRSs) and no step exceeds 5 degrees.
ARC_TOLERANCE = 0.01
_MAX_ARC_STEP = math.radians(5.0)
_MAX_ARC_POINTS = 3600

Coords = list[tuple[float, float]]


class GmlGeometryError(ValueError):
    """A GML geometry element cannot be converted; the message is German."""


_LOCAL_NAMES: dict[object, str] = {}


def local_name(elem: etree._Element) -> str:
    """Tag without namespace ('' for comments and processing instructions)."""
    tag = elem.tag
    try:
        return _LOCAL_NAMES[tag]
    except KeyError:
        name = tag.rpartition("}")[2] if isinstance(tag, str) else ""
        if len(_LOCAL_NAMES) < 10_000:  # tags repeat: a handful of distinct names per file
            _LOCAL_NAMES[tag] = name
        return name


def children(elem: etree._Element) -> list[etree._Element]:
    """Child elements, skipping comments, processing instructions and entity references."""
    # A plain loop: iterchildren(tag) builds a tag matcher per call, slower for 1–5 children.
    return [child for child in elem if isinstance(child.tag, str)]


def first_child(elem: etree._Element) -> etree._Element | None:
    """The first child element, or None."""
    for child in elem:
        if isinstance(child.tag, str):
            return child
    return None


def _dimension(elem: etree._Element, inherited: int) -> int:
    value = elem.get("srsDimension")
    if value is None:
        return inherited
    try:
        dim = int(value)
    except ValueError as e:
        raise GmlGeometryError(f"srsDimension {value!r} ist keine Zahl") from e
    if dim not in (2, 3):
        raise GmlGeometryError(f"srsDimension {dim} wird nicht unterstützt (nur 2 oder 3)")
    return dim


def _numbers(elem: etree._Element) -> list[float]:
    text = elem.text or ""
    try:
        return [float(v) for v in text.split()]
    except ValueError as e:
        raise GmlGeometryError(f"{local_name(elem)} enthält keine Zahlenfolge: {e}") from e


def _pairs(values: list[float], dim: int, elem: etree._Element) -> Coords:
    if len(values) % dim:
        raise GmlGeometryError(
            f"{local_name(elem)}: {len(values)} Werte passen nicht zu srsDimension {dim}"
        )
    # srsDimension 3: the height is dropped.
    return list(zip(values[0::dim], values[1::dim], strict=True))


def _point_coords(elem: etree._Element, dim: int) -> tuple[float, float]:
    """Coordinates of a gml:Point (or of a pointProperty's Point)."""
    dim = _dimension(elem, dim)
    for child in children(elem):
        if local_name(child) == "pos":
            coords = _pairs(_numbers(child), _dimension(child, dim), child)
            if len(coords) != 1:
                raise GmlGeometryError("gml:pos muss genau eine Koordinate enthalten")
            return coords[0]
    raise GmlGeometryError("gml:Point ohne gml:pos")


def _direct_coords(elem: etree._Element, dim: int) -> Coords:
    """Coordinates of an element holding posList, pos or pointProperty children."""
    dim = _dimension(elem, dim)
    coords: Coords = []
    for child in elem:
        name = local_name(child)
        if name in ("posList", "pos"):
            coords.extend(_pairs(_numbers(child), _dimension(child, dim), child))
        elif name in ("pointProperty", "pointRep"):
            point = first_child(child)
            if point is None:
                raise GmlGeometryError(f"gml:{name} ohne Punkt (Verweise werden nicht aufgelöst)")
            coords.append(_point_coords(point, dim))
    return coords


def _join(coords: Coords, part: Coords) -> None:
    """Append a curve part, dropping the joint point the parts share."""
    if coords and part and coords[-1] == part[0]:
        coords.extend(part[1:])
    else:
        coords.extend(part)


def _circumcircle(
    p0: tuple[float, float], p1: tuple[float, float], p2: tuple[float, float]
) -> tuple[float, float, float, bool] | None:
    """Centre, radius and counter-clockwise flag of the circle through three points."""
    # Work relative to p0: UTM coordinates (~5e6) would cost precision in the squares.
    bx, by = p1[0] - p0[0], p1[1] - p0[1]
    cx, cy = p2[0] - p0[0], p2[1] - p0[1]
    cross = bx * cy - by * cx
    b2, c2 = bx * bx + by * by, cx * cx + cy * cy
    if b2 == 0 or c2 == 0 or cross * cross <= 1e-18 * b2 * c2:  # collinear
        return None
    ux = (cy * b2 - by * c2) / (2 * cross)
    uy = (bx * c2 - cx * b2) / (2 * cross)
    return p0[0] + ux, p0[1] + uy, math.hypot(ux, uy), cross > 0


def _arc_points(
    centre: tuple[float, float],
    radius: float,
    start: tuple[float, float],
    end: tuple[float, float],
    sweep: float,
) -> Coords:
    """Points from start to end along a circle, turning by sweep radians (+ = ccw)."""
    step = _MAX_ARC_STEP
    if radius > ARC_TOLERANCE:
        step = min(step, 2 * math.acos(1 - ARC_TOLERANCE / radius))
    n = min(_MAX_ARC_POINTS, max(2, math.ceil(abs(sweep) / step)))
    a0 = math.atan2(start[1] - centre[1], start[0] - centre[0])
    inner = [
        (
            centre[0] + radius * math.cos(a0 + sweep * i / n),
            centre[1] + radius * math.sin(a0 + sweep * i / n),
        )
        for i in range(1, n)
    ]
    # The end points are taken from the file so that joints with neighbours match exactly.
    return [start, *inner, end]


def _arc(p0: tuple[float, float], p1: tuple[float, float], p2: tuple[float, float]) -> Coords:
    """Points along the circular arc from p0 through p1 to p2 (p0 == p2: full circle)."""
    if p0 == p2:
        centre = ((p0[0] + p1[0]) / 2, (p0[1] + p1[1]) / 2)
        radius = math.dist(p0, centre)
        if radius == 0:
            return [p0]
        return _arc_points(centre, radius, p0, p0, 2 * math.pi)
    circle = _circumcircle(p0, p1, p2)
    if circle is None:  # collinear: a straight line
        return [p0, p1, p2]
    cx, cy, radius, ccw = circle
    a0 = math.atan2(p0[1] - cy, p0[0] - cx)
    a2 = math.atan2(p2[1] - cy, p2[0] - cx)
    sweep = (a2 - a0) % (2 * math.pi) if ccw else -((a0 - a2) % (2 * math.pi))
    return _arc_points((cx, cy), radius, p0, p2, sweep)


def _circle(coords: Coords) -> Coords:
    """A closed ring along the circle through three points, starting at the first."""
    if len(coords) != 3:
        raise GmlGeometryError("gml:Circle braucht genau 3 Punkte")
    circle = _circumcircle(*coords)
    if circle is None:
        raise GmlGeometryError("gml:Circle: die drei Punkte liegen auf einer Geraden")
    cx, cy, radius, ccw = circle
    sweep = 2 * math.pi if ccw else -2 * math.pi
    return _arc_points((cx, cy), radius, coords[0], coords[0], sweep)


def _arc_string(coords: Coords, name: str) -> Coords:
    if len(coords) < 3 or len(coords) % 2 == 0:
        raise GmlGeometryError(f"gml:{name} braucht 3, 5, 7 … Punkte, nicht {len(coords)}")
    result: Coords = []
    for i in range(0, len(coords) - 2, 2):
        _join(result, _arc(coords[i], coords[i + 1], coords[i + 2]))
    return result


def _segment_coords(segment: etree._Element, dim: int) -> Coords:
    name = local_name(segment)
    coords = _direct_coords(segment, dim)
    if name == "LineStringSegment":
        return coords
    # Arcs are densified into chords (see ARC_TOLERANCE), not kept as curves.
    if name in ("Arc", "ArcString"):
        return _arc_string(coords, name)
    if name == "Circle":
        return _circle(coords)
    raise GmlGeometryError(f"Kurvensegment gml:{name} wird nicht unterstützt")


def _curve_coords(elem: etree._Element, dim: int) -> Coords:
    """Coordinates of any 1-D GML geometry: LineString, Curve, CompositeCurve, …"""
    dim = _dimension(elem, dim)
    name = local_name(elem)
    if name in ("LineString", "LinearRing"):
        return _direct_coords(elem, dim)
    if name == "Curve":
        coords: Coords = []
        for segments in elem:
            if local_name(segments) == "segments":
                for segment in segments:
                    if local_name(segment):
                        _join(coords, _segment_coords(segment, dim))
        return coords
    if name == "OrientableCurve":
        base = _member(elem, "baseCurve")
        coords = _curve_coords(base, dim)
        return coords[::-1] if elem.get("orientation") == "-" else coords
    if name in ("CompositeCurve", "Ring"):
        coords = []
        for member in elem:
            if local_name(member) == "curveMember":
                _join(coords, _curve_coords(_member_geometry(member), dim))
        return coords
    raise GmlGeometryError(f"gml:{name} ist keine Linie")


def _member_geometry(prop: etree._Element) -> etree._Element:
    geometry = first_child(prop)
    if geometry is None:
        if prop.get(XLINK_HREF):
            raise GmlGeometryError(
                f"gml:{local_name(prop)} verweist per xlink:href; Verweise werden nicht aufgelöst"
            )
        raise GmlGeometryError(f"gml:{local_name(prop)} ist leer")
    return geometry


def _member(elem: etree._Element, name: str) -> etree._Element:
    for child in children(elem):
        if local_name(child) == name:
            return _member_geometry(child)
    raise GmlGeometryError(f"gml:{local_name(elem)} ohne gml:{name}")


def _ring(boundary: etree._Element, dim: int) -> Coords:
    coords = _curve_coords(_member_geometry(boundary), dim)
    if len(coords) >= 3 and coords[0] != coords[-1]:
        coords.append(coords[0])
    if len(coords) < 4:
        raise GmlGeometryError(f"Ring mit {len(coords)} Punkten ist keine Fläche")
    return coords


def _polygon(elem: etree._Element, dim: int) -> Polygon:
    """gml:Polygon or gml:PolygonPatch."""
    dim = _dimension(elem, dim)
    shell: Coords | None = None
    holes: list[Coords] = []
    for child in children(elem):
        name = local_name(child)
        if name == "exterior":
            shell = _ring(child, dim)
        elif name == "interior":
            holes.append(_ring(child, dim))
    if shell is None:
        return Polygon()
    # shapely.polygons is several times faster than the Polygon constructor.
    polygon: Polygon = shapely.polygons(shell, holes=holes or None)
    return polygon


def _polygons(elem: etree._Element, dim: int) -> list[Polygon]:
    """The polygons of any 2-D GML geometry."""
    dim = _dimension(elem, dim)
    name = local_name(elem)
    if name in ("Polygon", "PolygonPatch"):
        return [_polygon(elem, dim)]
    if name == "Surface":
        patches: list[Polygon] = []
        for child in children(elem):
            if local_name(child) == "patches":
                for patch in children(child):
                    if local_name(patch) != "PolygonPatch":
                        raise GmlGeometryError(
                            f"Flächenstück gml:{local_name(patch)} wird nicht unterstützt"
                        )
                    patches.append(_polygon(patch, _dimension(child, dim)))
        return patches
    if name == "OrientableSurface":
        return _polygons(_member(elem, "baseSurface"), dim)
    if name in ("MultiSurface", "CompositeSurface", "Shell"):
        polygons: list[Polygon] = []
        for child in children(elem):
            child_name = local_name(child)
            if child_name == "surfaceMember":
                polygons.extend(_polygons(_member_geometry(child), dim))
            elif child_name == "surfaceMembers":
                for member in children(child):
                    polygons.extend(_polygons(member, dim))
        return polygons
    raise GmlGeometryError(f"gml:{name} ist keine Fläche")


def _as_polygonal(polygons: list[Polygon], multi: bool) -> BaseGeometry:
    polygons = [p for p in polygons if not p.is_empty]
    if not multi and len(polygons) == 1:
        return polygons[0]
    if multi:
        return MultiPolygon(polygons)
    # Patches of one Surface (members of a CompositeSurface) share edges: dissolve them.
    merged = shapely.unary_union(polygons)
    if isinstance(merged, Polygon | MultiPolygon):
        return merged
    return MultiPolygon([g for g in getattr(merged, "geoms", []) if isinstance(g, Polygon)])


_SURFACES = frozenset({"Polygon", "Surface", "OrientableSurface", "CompositeSurface"})
_CURVES = frozenset(
    {"LineString", "Curve", "OrientableCurve", "CompositeCurve", "LinearRing", "Ring"}
)


def parse_geometry(elem: etree._Element, dim: int = 2) -> BaseGeometry:
    """Shapely geometry of a GML 3.2 geometry element, Z dropped, axis order as in the file."""
    dim = _dimension(elem, dim)
    name = local_name(elem)
    if name == "Point":
        return Point(_point_coords(elem, dim))
    if name in _CURVES:
        coords = _curve_coords(elem, dim)
        if name in ("LinearRing", "Ring"):
            return LinearRing(coords)
        return LineString(coords)
    if name in _SURFACES:
        return _as_polygonal(_polygons(elem, dim), multi=False)
    if name == "MultiSurface":
        return _as_polygonal(_polygons(elem, dim), multi=True)
    if name == "MultiPoint":
        points = [
            Point(_point_coords(p, dim)) for p in _members(elem, "pointMember", "pointMembers")
        ]
        return MultiPoint(points)
    if name == "MultiCurve":
        lines = [
            LineString(_curve_coords(c, dim)) for c in _members(elem, "curveMember", "curveMembers")
        ]
        return MultiLineString(lines)
    if name == "MultiGeometry":
        return GeometryCollection(
            [parse_geometry(g, dim) for g in _members(elem, "geometryMember", "geometryMembers")]
        )
    raise GmlGeometryError(f"Geometrietyp gml:{name} wird nicht unterstützt")


def _members(elem: etree._Element, single: str, plural: str) -> Iterator[etree._Element]:
    for child in children(elem):
        name = local_name(child)
        if name == single:
            yield _member_geometry(child)
        elif name == plural:
            yield from children(child)


def srs_name(elem: etree._Element) -> str | None:
    """srsName of a geometry element, or of the first descendant that declares one."""
    value = elem.get("srsName")
    if value:
        return value
    for child in elem.iter():
        if isinstance(child.tag, str):
            value = child.get("srsName")
            if value:
                return value
    return None


def release_element(elem: etree._Element) -> None:
    """Free a finished element and everything before it, up to the root (flat memory in
    iterparse loops over large GML files)."""
    elem.clear(keep_tail=False)
    node: etree._Element | None = elem
    while node is not None:
        parent = node.getparent()
        if parent is None:
            break
        while node.getprevious() is not None:
            del parent[0]
        node = parent
