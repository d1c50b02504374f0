"""The `bbox` of an items request as an exact search area in the storage CRS.

A box in one CRS is no box in another: a lon/lat rectangle is curved in UTM, and taking
the envelope of two transformed corners (what pygeoapi does) selects too much at the
edges. Here the box is densified before it is transformed, split at the antimeridian
when `minx > maxx` in a geographic CRS, and clipped to the collection's extent, so a box
far from the data (or at a pole) selects nothing instead of being mangled by the
transform.
"""

from __future__ import annotations

import functools

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
# densify lon/lat edges to ~100 m steps so the transformed polygon follows the curved edge
# to well under a millimetre (sagitta L²/8R with R the radius of a parallel in UTM)
MAX_SEGMENT_DEGREES = 0.001


class BboxError(ValueError):
    """A bbox that is not four (or six) numbers in a valid order."""


@functools.cache
def crs_of(uri: str) -> CRS:
    """The pyproj CRS of a URI (cached: building one costs about a millisecond)."""
    return CRS.from_user_input(uri)


@functools.cache
def srid_of(uri: str) -> int:
    """The EPSG code of a CRS URI, CRS84 as 4326 (`to_epsg` searches the PROJ database:
    tens of milliseconds, so cached)."""
    return int(crs_of(uri).to_epsg() or 4326)


@functools.cache
def northing_first(uri: str) -> bool:
    """Whether the CRS's authority axis order is latitude/northing first (EPSG:4326,
    EPSG:3035), in which order OGC API Features writes and reads its coordinates."""
    return crs_of(uri).axis_info[0].direction in ("north", "south")


@functools.cache
def _transformer(source: str, target: str) -> Transformer:
    return Transformer.from_crs(crs_of(source), crs_of(target), always_xy=True)


def parse_bbox(value: str) -> tuple[float, float, float, float]:
    """The four horizontal numbers of `bbox` (a 3D box's heights are dropped)."""
    parts = value.split(",")
    if len(parts) not in (4, 6):
        raise BboxError(
            "bbox muss aus 4 Zahlen (minx,miny,maxx,maxy) oder 6 Zahlen "
            "(minx,miny,minz,maxx,maxy,maxz) bestehen"
        )
    try:
        numbers = [float(p) for p in parts]
    except ValueError as e:
        raise BboxError(f"bbox enthält etwas anderes als Zahlen: {value!r}") from e
    if not all(map(_finite, numbers)):
        raise BboxError("bbox enthält unendliche oder ungültige Zahlen")
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    a, b, c, d = numbers
    return a, b, c, d


def _finite(x: float) -> bool:
    return x == x and abs(x) != float("inf")


def search_area(
    bbox: tuple[float, float, float, float],
    bbox_crs: str,
    storage_crs: str,
    extent_crs84: tuple[float, float, float, float] | None,
) -> BaseGeometry | None:
    """The area `bbox` (given in `bbox_crs`, in that CRS's axis order) covers, in
    `storage_crs` (east/north order), or None when it cannot touch the collection."""
    a, b, c, d = bbox
    if northing_first(bbox_crs):
        a, b, c, d = b, a, d, c  # to east/north order
    if b > d:
        raise BboxError("bbox: der untere Wert der Nord-Achse ist größer als der obere")
    geographic = crs_of(bbox_crs).is_geographic
    if a > c and not geographic:
        raise BboxError("bbox: der linke Wert ist größer als der rechte")
    if bbox_crs == storage_crs:
        box = shapely.box(a, b, c, d)
        return box if _touches_extent(box, storage_crs, extent_crs84) else None
    if geographic:
        b, d = max(b, -90.0), min(d, 90.0)
        if a > c:  # across the antimeridian: two boxes
            boxes = [shapely.box(a, b, 180.0, d), shapely.box(-180.0, b, c, d)]
        else:
            boxes = [shapely.box(a, b, c, d)]
        lonlat = shapely.union_all([_transform(x, bbox_crs, CRS84) for x in boxes])
    else:
        side = max(c - a, d - b) / 1000 or 1.0
        lonlat = _transform(shapely.segmentize(shapely.box(a, b, c, d), side), bbox_crs, CRS84)
    if extent_crs84 is not None:
        lonlat = lonlat.intersection(shapely.box(*extent_crs84).buffer(0.01, join_style="mitre"))
    if lonlat.is_empty or (lonlat.area == 0 and not _degenerate(bbox)):
        return None
    dense = shapely.segmentize(lonlat, MAX_SEGMENT_DEGREES)
    return _transform(dense, CRS84, storage_crs)


def _degenerate(bbox: tuple[float, float, float, float]) -> bool:
    """A box of zero width or height (a line or point search) is legal."""
    return bbox[0] == bbox[2] or bbox[1] == bbox[3]


def _touches_extent(
    box: BaseGeometry, storage_crs: str, extent_crs84: tuple[float, float, float, float] | None
) -> bool:
    if extent_crs84 is None:
        return True
    extent = shapely.segmentize(shapely.box(*extent_crs84).buffer(0.01, join_style="mitre"), 0.01)
    return bool(box.intersects(_transform(extent, CRS84, storage_crs)))


def _transform(geometry: BaseGeometry, source: str, target: str) -> BaseGeometry:
    """`geometry` from `source` to `target`, both in east/north order."""
    if source == target:
        return geometry
    transformer = _transformer(source, target)
    return shapely.transform(
        geometry, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))
    )
