"""Deterministic sample cadastre (ALKIS) for Mücheln (Geiseltal), AGS 15088235.

The cadastre covers a rectangle of 5.5 km x 3.6 km ("the sample area") inside the synthetic
municipal boundary of Mücheln: a small town of street blocks around the real centre, fields
and woods around it, and the western part of the Geiseltalsee to the east. Parcels
(Flurstücke) and land-use areas (tatsächliche Nutzung) each tile the sample area without
gaps or overlaps. Everything derives from one seeded `random.Random`; nothing depends on the
clock, so the same code writes the same bytes.

`build_cadastre()` makes the data as GeoDataFrames (EPSG:25832); the writers put them into
the real source formats:

- `write_nas`: ALKIS NAS (GeoInfoDok 7.1 `AX_Bestandsdatenauszug`),
- `write_ave_zip`: ALKIS-vereinfacht as zipped Shapefiles,
- `write_ave_gml`: ALKIS-vereinfacht parcels as a WFS 2.0 GetFeature response,
- `write_house_coordinates`: "Hauskoordinaten Deutschland" (HK-DE) CSV.

The writers take iterables of rows and write object by object, so they would write a million
parcels with flat memory.
"""

from __future__ import annotations

import math
import random
import tempfile
import zipfile
from collections import namedtuple
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon

SEED = 15_088_235
CRS = "EPSG:25832"
CENTRE_E, CENTRE_N = 693_900.0, 5_688_200.0
# sample area in metres relative to the centre: west, south, east, north
EXTENT = (-2_000.0, -1_800.0, 3_500.0, 1_800.0)
TOWN_AXES = (1_150.0, 850.0)  # the town: blocks whose centre lies in this ellipse
LAKE_CENTRE, LAKE_RADII = (2_950.0, 0.0), (1_350.0, 1_500.0)  # Geiseltalsee, east of town
MARINA_X = (1_450.0, 1_900.0)
PRECISION = 0.01  # coordinates on a centimetre grid

LAND, REGBEZ, KREIS, GEMEINDE = "15", "0", "88", "235"
AGS = LAND + REGBEZ + KREIS + GEMEINDE
LAND_NAME, KREIS_NAME, GEMEINDE_NAME = "Sachsen-Anhalt", "Saalekreis", "Mücheln (Geiseltal)"
POSTCODE, POSTAL_PLACE, ORTSTEIL = "06249", "Mücheln (Geiseltal)", "0001"
GEMARKUNGEN = {4711: "Mücheln", 4712: "Stöbnitz", 4713: "Branderoda"}
TIMESTAMP = "2026-01-01T00:00:00Z"
HK_DATE = "2025-12-31"

NAS_SRS = "urn:adv:crs:ETRS89_UTM32"
AVE_SRS = "http://www.opengis.net/def/crs/EPSG/0/25832"
NS_ADV = "http://www.adv-online.de/namespaces/adv/gid/7.1"
NS_GML = "http://www.opengis.net/gml/3.2"
NS_WFS = "http://www.opengis.net/wfs/2.0"
NS_XLINK = "http://www.w3.org/1999/xlink"
NS_AVE = "http://repository.gdi-de.org/schemas/adv/produkt/alkis-vereinfacht/2.0"

# land-use class -> (NAS object type, ALKIS-vereinfacht `nutzart`)
LAND_USE: dict[str, tuple[str, str]] = {
    "residential": ("AX_Wohnbauflaeche", "Wohnbaufläche"),
    "mixed": ("AX_FlaecheGemischterNutzung", "Fläche gemischter Nutzung"),
    "industrial": ("AX_IndustrieUndGewerbeflaeche", "Industrie- und Gewerbefläche"),
    "road": ("AX_Strassenverkehr", "Straßenverkehr"),
    "agriculture": ("AX_Landwirtschaft", "Landwirtschaft"),
    "forest": ("AX_Wald", "Wald"),
    "lake": ("AX_StehendesGewaesser", "Stehendes Gewässer"),
    "leisure": ("AX_SportFreizeitUndErholungsflaeche", "Sport-, Freizeit- und Erholungsfläche"),
    "cemetery": ("AX_Friedhof", "Friedhof"),
}
# NAS attribute (element, code) and ALKIS-vereinfacht `bez` of some land-use variants
LAND_USE_DETAIL: dict[str, tuple[str, str, str]] = {
    "open": ("artDerBebauung", "1000", "Offen"),
    "closed": ("artDerBebauung", "2000", "Geschlossen"),
    "arable": ("vegetationsmerkmal", "1010", "Ackerland"),
    "grassland": ("vegetationsmerkmal", "1020", "Grünland"),
    "broadleaf": ("vegetationsmerkmal", "1100", "Laubholz"),
    "conifer": ("vegetationsmerkmal", "1200", "Nadelholz"),
    "mixedwood": ("vegetationsmerkmal", "1300", "Laub- und Nadelholz"),
}
# AX_Gebaeude.gebaeudefunktion (AdV code list)
BUILDING_FUNCTIONS: dict[int, str] = {
    1000: "Wohngebäude",
    1010: "Wohnhaus",
    1100: "Gemischt genutztes Gebäude mit Wohnen",
    1313: "Gartenhaus",
    2000: "Gebäude für Wirtschaft oder Gewerbe",
    2100: "Gebäude für Gewerbe und Industrie",
    2143: "Lagerhalle, Lagerschuppen, Lagerhaus",
    2444: "Bootshaus",
    2463: "Garage",
    2500: "Gebäude zur Versorgung",
    3012: "Rathaus",
    3021: "Allgemein bildende Schule",
    3041: "Kirche",
    3081: "Trauerhalle",
    3212: "Gebäude zum Sportplatz",
}

# street names: the central east-west and north-south streets, then outward from the centre
EW_CENTRAL, NS_CENTRAL = "Hauptstraße", "Geiseltalstraße"
EW_NORTH = (
    "Kirchstraße", "Lindenstraße", "Goethestraße", "Schillerstraße", "Am Anger", "Rosenweg",
    "Feldstraße", "Nordstraße", "Am Hohlweg", "Wiesenweg", "Am Windmühlenberg", "Ackerweg",
)  # fmt: skip
EW_SOUTH = (
    "Lange Straße", "Straße der Einheit", "Bahnhofstraße", "Gartenstraße",
    "Weißenfelser Straße", "Mühlweg", "Südstraße", "Am Bahndamm", "Grüner Weg", "Am Teich",
    "Pappelweg", "Im Grund",
)  # fmt: skip
NS_WEST = (
    "Schloßstraße", "Ernst-Thälmann-Straße", "Friedensstraße", "Am Stadtgraben",
    "Lessingstraße", "Heinrich-Heine-Straße", "Eichendorffstraße", "Ringstraße",
    "Querfurter Tor", "Westweg", "Birkenweg", "Ahornweg",
)  # fmt: skip
NS_EAST = (
    "Brückenstraße", "Thomas-Müntzer-Straße", "Seestraße", "Fontanestraße", "Bergstraße",
    "Weinbergstraße", "Uhlandstraße", "Ostring", "Am Kellerberg", "Kastanienweg", "Erlenweg",
    "Ulmenweg",
)  # fmt: skip
MARKET, CHURCH_SQUARE = "Markt", "Kirchplatz"
ROAD_WEST, ROAD_EAST = "Querfurter Straße", "Am Geiseltalsee"
ROAD_NORTH, ROAD_SOUTH = "Merseburger Straße", "Freyburger Straße"

Interval = tuple[float, float]


# ----------------------------------------------------------------------------- helpers


def _abs(x: float, y: float) -> tuple[float, float]:
    """Local metres around the centre -> EPSG:25832, on the centimetre grid."""
    return round(CENTRE_E + x, 2), round(CENTRE_N + y, 2)


def _poly(points: Sequence[tuple[float, float]]) -> Polygon:
    return Polygon([_abs(x, y) for x, y in points])


def _rect(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    return _poly([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])


def _materialise(items: Sequence[Any]) -> None:
    """Turn the corner lists of many quadrilaterals into polygons in one go (fast)."""
    pending = [item for item in items if isinstance(item.geom, list)]
    if pending:
        polys = shapely.polygons(np.array([item.geom for item in pending], dtype=float))
        for item, poly in zip(pending, polys, strict=True):
            item.geom = poly


def _polygons(geom: Any) -> list[Polygon]:
    """The polygons of any geometry, in a stable order; lines and points dropped."""
    if geom is None or geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    if isinstance(geom, MultiPolygon):
        return list(geom.geoms)
    if hasattr(geom, "geoms"):
        return [p for g in geom.geoms for p in _polygons(g)]
    return []


_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]


class _Ids:
    """ALKIS object identifiers: "DEST" + 12 alphanumerics, scrambled from a counter."""

    def __init__(self) -> None:
        self.count = 0

    def next(self) -> str:
        self.count += 1
        n = (self.count * 0x5DEECE66D + 0xB) % (62**10)
        chunks = []
        for _ in range(5):
            n, r = divmod(n, 3844)
            chunks.append(_PAIRS[r])
        return "DESTAL" + "".join(reversed(chunks))


def _timestamp(rng: random.Random) -> str:
    """A plausible time of the last update, between the ALKIS migration (2013) and 2025."""
    n = rng.randrange(13 * 12 * 28 * 13 * 3600)
    n, seconds = divmod(n, 3600)
    n, hour = divmod(n, 13)
    n, day = divmod(n, 28)
    year, month = divmod(n, 12)
    minute, second = divmod(seconds, 60)
    return f"{2013 + year}-{month + 1:02d}-{day + 1:02d}T{6 + hour:02d}:{minute:02d}:{second:02d}Z"


# ------------------------------------------------------------------------ town layout


@dataclass
class _Block:
    i: int
    j: int
    x0: float
    x1: float
    y0: float
    y1: float
    kind: str = "residential"

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2


@dataclass
class _Row:
    """One row of parcels along a street: u runs along the street, v from the front back."""

    axis: str  # "x": u = x, the depth runs along y; "y": u = y, the depth runs along x
    front: float
    back: float
    street: tuple[str, int]  # ("ew", j) or ("ns", i)
    side: int  # 1: odd house numbers, 2: even
    across: tuple[int, int]  # the block on the other side of the street

    @property
    def depth(self) -> float:
        return abs(self.back - self.front)

    def point(self, u: float, v: float) -> tuple[float, float]:
        c = self.front + math.copysign(v, self.back - self.front)
        return (u, c) if self.axis == "x" else (c, u)

    def ring(self, corners: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
        """Absolute corners; `_materialise` makes the polygon later."""
        return [_abs(*self.point(u, v)) for u, v in corners]


@dataclass
class _Building:
    geom: Any  # a Polygon, or its corners until `_materialise`
    function: int
    storeys: int
    name: str | None = None
    main: bool = False  # carries the parcel's address
    label: tuple[float, float] | None = None  # where the house number is drawn (AP_PTO)


@dataclass
class _Parcel:
    geom: Any  # a Polygon, or its corners until `_materialise`
    kind: str
    unit: int  # parcels of one unit share the Zähler (a split parcel: 12/1, 12/2)
    zone: str = "town"
    street: str | None = None  # the street it is addressed from
    side: int = 0
    along: float = 0.0
    buildings: list[_Building] = field(default_factory=list)


@dataclass
class _Town:
    blocks: dict[tuple[int, int], _Block]
    ew: list[Interval]  # y ranges of the east-west streets
    ns: list[Interval]  # x ranges of the north-south streets
    cols: list[Interval]  # x ranges of the block columns
    rows: list[Interval]  # y ranges of the block rows
    ew_names: list[str]
    ns_names: list[str]


def _axis(
    rng: random.Random, half: float, p_long: float, long: Interval, short: Interval
) -> tuple[list[Interval], list[Interval]]:
    """Alternating streets and blocks across [-half, half], starting and ending with a street."""
    pos = round(-half - 60.0, 1)
    streets: list[Interval] = []
    blocks: list[Interval] = []
    while True:
        width = rng.choice((10.0, 12.0, 12.0, 14.0))
        streets.append((pos, pos + width))
        pos = round(pos + width, 1)
        if pos > half + 60.0:
            return streets, blocks
        size = round(rng.uniform(*(long if rng.random() < p_long else short)), 1)
        blocks.append((pos, round(pos + size, 1)))
        pos = round(pos + size, 1)


def _names(
    streets: list[Interval], central: str, low: Sequence[str], high: Sequence[str]
) -> list[str]:
    mids = [abs((a + b) / 2) for a, b in streets]
    c = mids.index(min(mids))
    names = []
    for k in range(len(streets)):
        if k == c:
            names.append(central)
        elif k < c:
            names.append(low[c - k - 1])
        else:
            names.append(high[k - c - 1])
    return names


def _nearest(blocks: Iterable[_Block], x: float, y: float) -> _Block:
    return min(blocks, key=lambda b: (math.dist(b.centre, (x, y)), b.i, b.j))


def _layout(rng: random.Random) -> _Town:
    a, b = TOWN_AXES
    ns, cols = _axis(rng, a, 0.55, (150.0, 215.0), (76.0, 100.0))
    ew, rows = _axis(rng, b, 0.25, (150.0, 190.0), (74.0, 98.0))
    blocks: dict[tuple[int, int], _Block] = {}
    for i, (x0, x1) in enumerate(cols):
        for j, (y0, y1) in enumerate(rows):
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            if (cx / a) ** 2 + (cy / b) ** 2 <= 1.0:
                blocks[i, j] = _Block(i, j, x0, x1, y0, y1)
    all_blocks = list(blocks.values())
    _nearest(all_blocks, 0, 0).kind = "market"
    _nearest([k for k in all_blocks if k.kind != "market"], -220, 160).kind = "church"
    for blk in all_blocks:
        if blk.kind == "residential" and math.dist(blk.centre, (0, 0)) < 380:
            blk.kind = "mixed"
        elif blk.kind == "residential" and math.dist(blk.centre, (-650, -480)) < 330:
            blk.kind = "industrial"
    for kind, (x, y) in (("cemetery", (650, 520)), ("sport", (700, -420)), ("school", (-260, 560))):
        _nearest([k for k in all_blocks if k.kind == "residential"], x, y).kind = kind
    ew_names = _names(ew, EW_CENTRAL, EW_SOUTH, EW_NORTH)
    ns_names = _names(ns, NS_CENTRAL, NS_WEST, NS_EAST)
    return _Town(blocks, ew, ns, cols, rows, ew_names, ns_names)


# ---------------------------------------------------------------------- town parcels


WIDTHS = {"residential": (14.0, 26.0), "mixed": (10.0, 16.0), "industrial": (45.0, 90.0)}
SPLIT_SHARE = {"residential": 0.07, "mixed": 0.05, "industrial": 0.0}


def _fronts(rng: random.Random, a0: float, a1: float, kind: str) -> list[tuple[float, bool]]:
    """Cut positions along a row: (position, whether the parcel starting here is the second half
    of a split parcel)."""
    lo, hi = WIDTHS[kind]
    cuts: list[tuple[float, bool]] = [(a0, False)]
    pos = a0
    while a1 - pos > hi * 1.5:
        if rng.random() < SPLIT_SHARE[kind] and a1 - pos > 2 * hi:
            first = round(rng.uniform(8.5, 12.5), 1)
            second = round(rng.uniform(8.5, 12.5), 1)
            cuts.append((round(pos + first, 1), True))
            pos = round(pos + first + second, 1)
            cuts.append((pos, False))
        else:
            pos = round(pos + rng.uniform(lo, hi), 1)
            cuts.append((pos, False))
    if a1 - pos > hi:
        cuts.append((round((pos + a1) / 2, 1), False))
    cuts.append((a1, False))
    return cuts


def _backs(rng: random.Random, cuts: list[tuple[float, bool]]) -> list[float]:
    """Back ends of the dividing lines: the fronts, jittered, kept in order."""
    backs = [cuts[0][0]]
    for k in range(1, len(cuts) - 1):
        front, split = cuts[k]
        back = front if split else round(front + rng.uniform(-2.5, 2.5), 1)
        if back < backs[-1] + 6.0 or back > cuts[k + 1][0] - 6.0:
            back = front
        backs.append(back)
    backs.append(cuts[-1][0])
    return backs


def _rows_of(blk: _Block, rng: random.Random) -> list[tuple[_Row, float, float]]:
    """The two rows of a block along its long side, with their extent along the street."""
    if blk.x1 - blk.x0 >= blk.y1 - blk.y0:
        mid = round((blk.y0 + blk.y1) / 2 + rng.uniform(-3, 3), 1)
        south = _Row("x", blk.y0, mid, ("ew", blk.j), 1, (blk.i, blk.j - 1))
        north = _Row("x", blk.y1, mid, ("ew", blk.j + 1), 2, (blk.i, blk.j + 1))
        return [(south, blk.x0, blk.x1), (north, blk.x0, blk.x1)]
    mid = round((blk.x0 + blk.x1) / 2 + rng.uniform(-3, 3), 1)
    west = _Row("y", blk.x0, mid, ("ns", blk.i), 2, (blk.i - 1, blk.j))
    east = _Row("y", blk.x1, mid, ("ns", blk.i + 1), 1, (blk.i + 1, blk.j))
    return [(west, blk.y0, blk.y1), (east, blk.y0, blk.y1)]


def _fit(
    row: _Row, f: tuple[float, float, float, float], v0: float, v1: float, gaps: tuple[float, float]
) -> tuple[float, float]:
    """The free stretch along the street between the parcel's sides at depths v0..v1."""
    f0, f1, b0, b1 = f
    d = row.depth

    def left(v: float) -> float:
        return f0 + (b0 - f0) * v / d

    def right(v: float) -> float:
        return f1 + (b1 - f1) * v / d

    return max(left(v0), left(v1)) + gaps[0], min(right(v0), right(v1)) - gaps[1]


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]


def _row_buildings(
    rng: random.Random, row: _Row, f: tuple[float, float, float, float], kind: str
) -> list[_Building]:
    """Main building (and outbuildings) of one row parcel; rectangles in the (u, v) frame."""
    d = row.depth
    rects: list[tuple[float, float, float, float]] = []  # u0, u1, v0, v1
    out: list[_Building] = []

    def add(
        rect: tuple[float, float, float, float], function: int, storeys: int, main: bool
    ) -> None:
        u0, u1, v0, v1 = (round(c, 2) for c in rect)
        label = _abs(*row.point((u0 + u1) / 2, v0 + min(2.5, (v1 - v0) / 2))) if main else None
        geom = row.ring([(u0, v0), (u1, v0), (u1, v1), (u0, v1)])
        rects.append((u0, u1, v0, v1))
        out.append(_Building(geom, function, storeys, main=main, label=label))

    if kind == "industrial":
        v0, v1 = rng.uniform(8, 15), d - rng.uniform(8, 12)
        lo, hi = _fit(row, f, v0, v1, (rng.uniform(6, 10), rng.uniform(6, 10)))
        if hi - lo > 12 and v1 - v0 > 12:
            add((lo, hi, v0, v1), rng.choice((2100, 2100, 2143)), rng.choice((1, 1, 2)), True)
            if rng.random() < 0.15:
                _, hi2 = _fit(row, f, 1.0, 4.0, (1.0, 1.0))
                add((hi2 - 3.5, hi2, 1.0, 4.0), 2500, 1, False)
        return out
    if kind == "mixed":
        v0, depth, gaps, storeys = 0.0, rng.uniform(11, 15), (0.0, 0.0), rng.choice((2, 2, 3))
        function = rng.choices((1100, 1010, 2000), (0.65, 0.25, 0.10))[0]
        max_width = 99.0
    else:
        if rng.random() < 0.05:  # a vacant lot
            return out
        v0, depth, storeys = rng.uniform(3, 7), rng.uniform(9, 13), rng.choice((1, 2, 2, 2))
        gaps = (0.0, rng.uniform(2.5, 4.0)) if rng.random() < 0.3 else (2.5, 2.5)
        function = 1010 if rng.random() < 0.93 else 1000
        max_width = rng.uniform(9, 14)
    v1 = min(v0 + depth, d - 4.0)
    lo, hi = _fit(row, f, v0, v1, gaps)
    if hi - lo < 5.0 or v1 - v0 < 6.0:
        return out
    if hi - lo > max_width:
        lo = lo if gaps[0] == 0.0 else (lo + hi - max_width) / 2
        hi = lo + max_width
    add((lo, hi, v0, v1), function, storeys, True)
    if rng.random() < (0.35 if kind == "residential" else 0.2):  # garage on the side boundary
        for g0, g1, side in ((v0 + 1.0, v0 + 7.0, "right"), (v1 + 1.5, v1 + 7.5, "left")):
            if g1 > d - 1.0:
                continue
            plo, phi = _fit(row, f, g0, g1, (0.0, 0.0))
            rect = (phi - 3.2, phi, g0, g1) if side == "right" else (plo, plo + 3.2, g0, g1)
            if rect[0] >= plo and rect[1] <= phi and not any(_overlap(rect, r) for r in rects):
                add(rect, 2463, 1, False)
                break
    if kind == "residential" and rng.random() < 0.18 and d > 24:  # garden house at the back
        g0, g1 = d - 7.0, d - 3.0
        plo, phi = _fit(row, f, g0, g1, (1.0, 1.0))
        width = rng.uniform(3.0, 4.0)
        mid = (plo + phi) / 2
        rect = (mid - width / 2, mid + width / 2, g0, g1)
        if phi - plo > width and not any(_overlap(rect, r) for r in rects):
            add(rect, 1313, 1, False)
    return out


def _centred(blk: _Block, width: float, depth: float, setback: float) -> tuple[Polygon, Point]:
    cx = (blk.x0 + blk.x1) / 2
    x0, x1 = round(cx - width / 2, 2), round(cx + width / 2, 2)
    y0, y1 = blk.y0 + setback, blk.y0 + setback + depth
    return _rect(x0, y0, x1, y1), Point(_abs(cx, y0 + depth / 2))


def _town_parcels(rng: random.Random, town: _Town, units: Iterator[int]) -> list[_Parcel]:
    parcels: list[_Parcel] = []
    blocks = town.blocks

    # streets: north-south ones one parcel per block row; east-west ones one parcel per
    # crossing and the block column east of it
    def add_street(geom: Polygon, name: str) -> None:
        parcels.append(_Parcel(geom, "street", next(units), street=name))

    for i, (xa, xb) in enumerate(town.ns):
        for j, (ya, yb) in enumerate(town.rows):
            if (i - 1, j) in blocks or (i, j) in blocks:
                add_street(_rect(xa, ya, xb, yb), town.ns_names[i])
    for j, (ya, yb) in enumerate(town.ew):
        for i, (xa, xb) in enumerate(town.ns):
            if i < len(town.cols) and ((i, j - 1) in blocks or (i, j) in blocks):
                add_street(_rect(xa, ya, town.cols[i][1], yb), town.ew_names[j])
            elif any(k in blocks for k in ((i - 1, j - 1), (i, j - 1), (i - 1, j), (i, j))):
                add_street(_rect(xa, ya, xb, yb), town.ew_names[j])

    for key in sorted(blocks):
        blk = blocks[key]
        if blk.kind == "market":
            parcels.append(
                _Parcel(_rect(blk.x0, blk.y0, blk.x1, blk.y1), "street", next(units), street=MARKET)
            )
            continue
        if blk.kind == "church":
            cx, cy = blk.centre
            hw, hh = min(22.0, (blk.x1 - blk.x0) / 2 - 8), min(14.0, (blk.y1 - blk.y0) / 2 - 8)
            church = _rect(cx - hw, cy - hh, cx + hw, cy + hh)
            square = _rect(blk.x0, blk.y0, blk.x1, blk.y1).difference(church)
            parcels.append(_Parcel(square, "street", next(units), street=CHURCH_SQUARE))
            building = _Building(
                _rect(cx - hw + 5, cy - 6, cx + hw - 5, cy + 6),
                3041,
                1,
                name="Stadtkirche St. Jacobi",
                main=True,
                label=_abs(cx, cy),
            )
            parcels.append(
                _Parcel(church, "church", next(units), street=CHURCH_SQUARE, buildings=[building])
            )
            continue
        if blk.kind in ("cemetery", "sport", "school"):
            function, width, depth, storeys, name = {
                "cemetery": (3081, 16.0, 10.0, 1, "Trauerhalle"),
                "sport": (3212, 20.0, 10.0, 1, None),
                "school": (3021, 56.0, 14.0, 2, "Grundschule Mücheln"),
            }[blk.kind]
            geom, label = _centred(blk, width, depth, 8.0)
            building = _Building(
                geom, function, storeys, name=name, main=True, label=(label.x, label.y)
            )
            parcels.append(
                _Parcel(
                    _rect(blk.x0, blk.y0, blk.x1, blk.y1),
                    blk.kind,
                    next(units),
                    street=town.ew_names[blk.j],
                    side=1,
                    along=blk.centre[0],
                    buildings=[building],
                )
            )
            continue
        for row, a0, a1 in _rows_of(blk, rng):
            cuts = _fronts(rng, a0, a1, blk.kind)
            backs = _backs(rng, cuts)
            across = blocks.get(row.across)
            if across is not None and across.kind == "market":
                street = MARKET
            elif across is not None and across.kind == "church":
                street = CHURCH_SQUARE
            else:
                kind_, index = row.street
                street = town.ew_names[index] if kind_ == "ew" else town.ns_names[index]
            unit = 0
            for k in range(len(cuts) - 1):
                f0, f1 = cuts[k][0], cuts[k + 1][0]
                b0, b1 = backs[k], backs[k + 1]
                if not cuts[k][1]:
                    unit = next(units)
                geom = row.ring([(f0, 0.0), (f1, 0.0), (b1, row.depth), (b0, row.depth)])
                parcel = _Parcel(
                    geom, blk.kind, unit, street=street, side=row.side, along=(f0 + f1) / 2
                )
                parcel.buildings = _row_buildings(rng, row, (f0, f1, b0, b1), blk.kind)
                parcels.append(parcel)
    _materialise(parcels)
    _materialise([b for p in parcels for b in p.buildings])
    return parcels


# --------------------------------------------------------------------- rural parcels


def _blob(rng: random.Random, cx: float, cy: float, rx: float, ry: float, n: int = 40) -> Polygon:
    """A smooth irregular outline: an ellipse with a few low-frequency waves on its radius."""
    waves = [(k, rng.uniform(0.02, 0.07), rng.uniform(0, 2 * math.pi)) for k in (2, 3, 4, 5)]
    points = []
    for m in range(n):
        t = 2 * math.pi * m / n
        r = 1 + sum(a * math.sin(k * t + phase) for k, a, phase in waves)
        points.append((round(cx + rx * r * math.cos(t), 1), round(cy + ry * r * math.sin(t), 1)))
    return _poly(points)


def _rural_cells(rng: random.Random) -> list[Polygon]:
    west, south, east, north = EXTENT
    nx, ny = 14, 11
    dx, dy = (east - west) / nx, (north - south) / ny
    nodes: dict[tuple[int, int], tuple[float, float]] = {}
    for i in range(nx + 1):
        for j in range(ny + 1):
            x = west + i * dx + (0 if i in (0, nx) else rng.uniform(-60, 60))
            y = south + j * dy + (0 if j in (0, ny) else rng.uniform(-50, 50))
            nodes[i, j] = (round(x, 1), round(y, 1))
    return [
        _poly([nodes[i, j], nodes[i + 1, j], nodes[i + 1, j + 1], nodes[i, j + 1]])
        for i in range(nx)
        for j in range(ny)
    ]


def _pieces(zone: Any, cells: list[Polygon]) -> list[Polygon]:
    """The zone cut by the rural cells; pieces under 150 m² go to their largest neighbour."""
    cut = shapely.intersection(np.asarray(cells, dtype=object), zone, grid_size=PRECISION)
    pieces = [p for g in cut for p in _polygons(g) if p.area > 0]
    small = [p for p in pieces if p.area < 150.0]
    pieces = [p for p in pieces if p.area >= 150.0]
    for sliver in small:
        touching = [k for k, p in enumerate(pieces) if p.intersection(sliver).length > 0]
        if not touching:
            pieces.append(sliver)
            continue
        best = max(
            touching, key=lambda k: (pieces[k].boundary.intersection(sliver.boundary).length, -k)
        )
        merged = _polygons(shapely.union(pieces[best], sliver, grid_size=PRECISION))
        pieces[best] = merged[0] if len(merged) == 1 else pieces[best]
        if len(merged) != 1:
            pieces.append(sliver)
    return pieces


def _extent_polygon() -> Polygon:
    return _rect(*EXTENT)


def _rural_parcels(
    rng: random.Random, town: _Town, town_area: Any, units: Iterator[int]
) -> tuple[list[_Parcel], Any]:
    """Parcels outside the town; returns them and the forest."""
    west, south, _, north = EXTENT
    j_main = town.ew_names.index(EW_CENTRAL)
    i_main = town.ns_names.index(NS_CENTRAL)
    ya, yb = town.ew[j_main]
    xa, xb = town.ns[i_main]
    # the country roads continue the central streets from the town's edge to the sample edge
    cols_on_main = [i for (i, j) in town.blocks if j in (j_main - 1, j_main)]
    x_w, x_e = town.ns[min(cols_on_main)][0], town.ns[max(cols_on_main) + 1][1]
    rows_on_main = [j for (i, j) in town.blocks if i in (i_main - 1, i_main)]
    y_s, y_n = town.ew[min(rows_on_main)][0], town.ew[max(rows_on_main) + 1][1]
    if not x_e < MARINA_X[0]:
        raise ValueError("the town reaches the marina")
    roads = [
        (ROAD_WEST, _rect(west, ya, x_w, yb)),
        (ROAD_EAST, _rect(x_e, ya, MARINA_X[0], yb)),
        (ROAD_NORTH, _rect(xa, y_n, xb, north)),
        (ROAD_SOUTH, _rect(xa, south, xb, y_s)),
    ]
    roads = [(n, shapely.difference(g, town_area, grid_size=PRECISION)) for n, g in roads]
    lake_shape = _blob(rng, *LAKE_CENTRE, *LAKE_RADII, n=64)
    marina = _rect(MARINA_X[0], ya - 90, MARINA_X[1], yb + 90).difference(lake_shape)
    marina = shapely.set_precision(marina, PRECISION)
    built = shapely.union_all([town_area, marina, *(g for _, g in roads)], grid_size=PRECISION)
    extent = _extent_polygon()
    lake = shapely.difference(shapely.intersection(lake_shape, extent), built, grid_size=PRECISION)
    land = shapely.difference(extent, shapely.union(built, lake), grid_size=PRECISION)
    forest_blobs = [
        _blob(rng, -1_650, 1_250, 260, 200),
        _blob(rng, -1_550, -1_350, 300, 230),
        _blob(rng, 650, -1_450, 240, 180),
        _blob(rng, -450, 1_500, 200, 170),
        _blob(rng, 2_100, 1_550, 280, 150),
    ]
    forest = shapely.intersection(shapely.union_all(forest_blobs), land, grid_size=PRECISION)

    cells = _rural_cells(rng)
    parcels: list[_Parcel] = []
    for name, road in roads:
        for piece in _pieces(road, cells):
            parcels.append(_Parcel(piece, "street", next(units), zone="rural", street=name))
    for piece in _pieces(lake, cells):
        parcels.append(_Parcel(piece, "lake", next(units), zone="lake"))
    for piece in _pieces(land, cells):
        parcels.append(_Parcel(piece, "rural", next(units), zone="rural"))
    cx = MARINA_X[0] + 20
    boathouse = _Building(
        _rect(cx - 9, ya - 40, cx + 9, ya - 31),
        2444,
        1,
        name="Marina Mücheln",
        main=True,
        label=_abs(cx, ya - 35.5),
    )
    parcels.append(
        _Parcel(
            marina,
            "marina",
            next(units),
            zone="lake",
            street=ROAD_EAST,
            side=1,
            buildings=[boathouse],
        )
    )
    return parcels, forest


# -------------------------------------------------------------------------- assembly


@dataclass(frozen=True)
class Cadastre:
    """The sample cadastre: one GeoDataFrame per kind of object, EPSG:25832."""

    gemarkungen: pd.DataFrame  # oid, number, name, begins
    streets: pd.DataFrame  # oid, key, name, begins
    addresses: gpd.GeoDataFrame  # oid, key, street, number, suffix, house_number, pto_oid,
    #                              east, north (HK coordinate), begins; geometry = AP_PTO point
    parcels: gpd.GeoDataFrame  # oid, flstkennz, gemarkung, flur, zaehler, nenner, flaeche,
    #                            address_oids, lagebeztxt, tntxt, begins, aktualit
    buildings: gpd.GeoDataFrame  # oid, function, storeys, name, address_oid, lagebeztxt, ...
    land_use: gpd.GeoDataFrame  # oid, use, detail, begins
    parcel_land_use: gpd.GeoDataFrame  # flstkennz, nutzart, bez (ALKIS-vereinfacht Nutzung)


def _number(parcels: list[_Parcel], rng: random.Random) -> dict[int, tuple[str, str]]:
    """House numbers: per street odd on one side, even on the other; squares go round."""
    numbers: dict[int, tuple[str, str]] = {}
    by_street: dict[str, list[int]] = {}
    for k, p in enumerate(parcels):
        if p.street and any(b.main for b in p.buildings):
            by_street.setdefault(p.street, []).append(k)
    for street, ks in sorted(by_street.items()):
        if street in (MARKET, CHURCH_SQUARE):
            ref = shapely.union_all([parcels[k].geom for k in ks]).centroid
            ks = sorted(
                ks,
                key=lambda k: (
                    parcels[k].kind != "church",
                    math.atan2(
                        parcels[k].geom.centroid.y - ref.y, parcels[k].geom.centroid.x - ref.x
                    ),
                ),
            )
            sequences = [(ks, 1, 1)]
        else:
            odd = sorted((k for k in ks if parcels[k].side != 2), key=lambda k: parcels[k].along)
            even = sorted((k for k in ks if parcels[k].side == 2), key=lambda k: parcels[k].along)
            sequences = [(odd, 1, 2), (even, 2, 2)]
        for seq, start, step in sequences:
            number, previous_unit, suffix = start - step, -1, ""
            for k in seq:
                if parcels[k].unit == previous_unit:
                    suffix = chr(ord(suffix or "`") + 1)
                else:
                    number, suffix = number + step, ""
                    if rng.random() < 0.02:  # a number left out, as happens
                        number += step
                previous_unit = parcels[k].unit
                numbers[k] = (str(number), suffix)
    return numbers


def _cadastral_numbers(
    parcels: list[_Parcel], rng: random.Random
) -> list[tuple[int, int, int, int | None]]:
    """Gemarkung, Flur, Zähler, Nenner of every parcel."""
    gem = []
    for p in parcels:
        c = p.geom.centroid
        if p.zone in ("town", "lake") or (p.street == ROAD_EAST):
            gem.append(4711)
        else:
            gem.append(4712 if c.y >= CENTRE_N else 4713)
    cents = np.array([(p.geom.centroid.x, p.geom.centroid.y) for p in parcels])
    flur = np.zeros(len(parcels), dtype=int)
    for g, (nx, ny) in ((4711, (3, 3)), (4712, (4, 1)), (4713, (3, 1))):
        mask = np.array([x == g for x in gem])
        xs, ys = cents[mask, 0], cents[mask, 1]
        col = np.minimum(((xs - xs.min()) / (np.ptp(xs) + 1e-9) * nx).astype(int), nx - 1)
        row = np.minimum(((ys.max() - ys) / (np.ptp(ys) + 1e-9) * ny).astype(int), ny - 1)
        flur[mask] = 1 + col + nx * row
    # units in serpentine order (bands of 150 m from north), numbered per Flur
    units: dict[tuple[int, int, int], list[int]] = {}
    for k, p in enumerate(parcels):
        units.setdefault((gem[k], int(flur[k]), p.unit), []).append(k)
    keyed: dict[tuple[int, int], list[tuple[tuple[int, float], list[int]]]] = {}
    top = cents[:, 1].max()
    for (g, f, _), ks in units.items():
        x, y = cents[ks[0]]
        band = int((top - y) // 150)
        keyed.setdefault((g, f), []).append(((band, x if band % 2 == 0 else -x), ks))
    result: list[tuple[int, int, int, int | None]] = [(0, 0, 0, None)] * len(parcels)
    for (g, f), items in sorted(keyed.items()):
        zaehler = 0
        for _, ks in sorted(items, key=lambda item: (item[0], item[1][0])):
            zaehler += 1 + (rng.randint(1, 3) if rng.random() < 0.04 else 0)
            if len(ks) > 1:
                for n, k in enumerate(sorted(ks, key=lambda k: parcels[k].along), start=1):
                    result[k] = (g, f, zaehler, n)
            else:
                nenner = rng.choice((1, 2, 3, 4, 5, 6, 8, 11)) if rng.random() < 0.04 else None
                result[ks[0]] = (g, f, zaehler, nenner)
    return result


def kennzeichen(gemarkung: int, flur: int, zaehler: int, nenner: int | None) -> str:
    """Flurstückskennzeichen as in ALKIS: 20 characters, `_` for the absent parts."""
    tail = f"{nenner:04d}" if nenner is not None else "____"
    return f"{LAND}{gemarkung:04d}{flur:03d}{zaehler:05d}{tail}__"


def _land_use(
    town: _Town, parcels: list[_Parcel], forest: Any, rng: random.Random
) -> list[tuple[str, str | None, Polygon]]:
    """Land-use areas (class, detail, polygon) tiling the sample area. Built from the parcels'
    own geometry where they coincide, so that both tile the area alike."""
    out: list[tuple[str, str | None, Polygon]] = []
    lake: list[Polygon] = []
    woods: list[Polygon] = []
    block_use = {
        "residential": "residential",
        "mixed": "mixed",
        "industrial": "industrial",
        "cemetery": "cemetery",
        "sport": "leisure",
        "school": "mixed",
    }
    for key in sorted(town.blocks):
        blk = town.blocks[key]
        if blk.kind in block_use:
            use = block_use[blk.kind]
            detail = {"residential": "open", "mixed": "closed"}.get(use)
            out.append((use, detail, _rect(blk.x0, blk.y0, blk.x1, blk.y1)))
    roads: dict[str, list[Polygon]] = {}
    for p in parcels:
        if p.kind == "street":
            roads.setdefault(p.street or "", []).append(p.geom)
        elif p.kind == "church":
            out.append(("mixed", "closed", p.geom))
        elif p.kind == "marina":
            out.append(("leisure", None, p.geom))
        elif p.kind == "lake":
            lake.append(p.geom)
        elif p.kind == "rural":
            rest = shapely.difference(p.geom, forest, grid_size=PRECISION)
            woods.extend(_polygons(shapely.intersection(p.geom, forest, grid_size=PRECISION)))
            detail = "grassland" if rng.random() < 0.25 else "arable"
            out.extend(("agriculture", detail, g) for g in _polygons(rest))
    for name in sorted(roads):
        for g in _polygons(shapely.union_all(roads[name], grid_size=PRECISION)):
            out.append(("road", None, g))
    out.extend(("lake", None, g) for g in _polygons(shapely.union_all(lake, grid_size=PRECISION)))
    for g in _polygons(shapely.union_all(woods, grid_size=PRECISION)):
        out.append(("forest", rng.choice(("broadleaf", "conifer", "mixedwood")), g))
    return out


def _split_area(total: int, parts: list[float]) -> list[int]:
    """Round the parts so that they add up to the total (largest remainder)."""
    scale = total / sum(parts)
    raw = [p * scale for p in parts]
    floors = [math.floor(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda k: (floors[k] - raw[k], k))
    for k in order[: total - sum(floors)]:
        floors[k] += 1
    return floors


def build_cadastre(boundary: Any | None = None, seed: int = SEED) -> Cadastre:
    """The sample cadastre; `boundary` (Mücheln's polygon) must contain the sample area."""
    rng = random.Random(seed)
    ids = _Ids()
    extent = _extent_polygon()
    if boundary is not None and not extent.within(boundary):
        raise ValueError("the sample area must lie inside the municipal boundary")
    unit_counter = iter(range(1, 10_000_000))
    town = _layout(rng)
    parcels = _town_parcels(rng, town, unit_counter)
    town_area = shapely.union_all(
        [_rect(b.x0, b.y0, b.x1, b.y1) for b in town.blocks.values()]
        + [p.geom for p in parcels if p.kind == "street"],
        grid_size=PRECISION,
    )
    rural, forest = _rural_parcels(rng, town, town_area, unit_counter)
    parcels.extend(rural)
    geoms = _clean(np.array([p.geom for p in parcels], dtype=object))
    for p, g in zip(parcels, geoms, strict=True):
        p.geom = g

    # Rathaus: the widest building on the Markt
    on_market = [p for p in parcels if p.street == MARKET and p.kind == "mixed" and p.buildings]
    town_hall = max(on_market, key=lambda p: (p.buildings[0].geom.area, p.along)).buildings[0]
    town_hall.function, town_hall.storeys, town_hall.name = 3012, 3, "Rathaus"

    gemarkungen = pd.DataFrame(
        {
            "oid": [ids.next() for _ in GEMARKUNGEN],
            "number": list(GEMARKUNGEN),
            "name": list(GEMARKUNGEN.values()),
            "begins": [_timestamp(rng) for _ in GEMARKUNGEN],
        }
    )
    # streets and their keys (Straßenschlüssel)
    names = sorted({p.street for p in parcels if p.street})
    streets = pd.DataFrame(
        {
            "oid": [ids.next() for _ in names],
            "key": [f"{(k + 1) * 10:05d}" for k in range(len(names))],
            "name": names,
            "begins": [_timestamp(rng) for _ in names],
        }
    )
    key_of = dict(zip(streets["name"], streets["key"], strict=True))

    numbers = _number(parcels, rng)
    cadastral = _cadastral_numbers(parcels, rng)

    # addresses, with an AP_PTO for about nine in ten of them
    address_rows: list[dict[str, Any]] = []
    address_of_parcel: dict[int, str] = {}
    address_of_building: dict[int, str] = {}
    for k in sorted(
        numbers, key=lambda k: (parcels[k].street or "", int(numbers[k][0]), numbers[k][1])
    ):
        p = parcels[k]
        main = next(b for b in p.buildings if b.main)
        number, suffix = numbers[k]
        oid = ids.next()
        has_pto = rng.random() >= 0.1
        label = main.label or (main.geom.centroid.x, main.geom.centroid.y)
        hk = label if has_pto else (main.geom.centroid.x, main.geom.centroid.y)
        address_rows.append(
            {
                "oid": oid,
                "key": key_of[p.street or ""],
                "street": p.street,
                "number": number,
                "suffix": suffix,
                "house_number": number + suffix,
                "pto_oid": ids.next() if has_pto else None,
                "east": round(hk[0], 2),
                "north": round(hk[1], 2),
                "begins": _timestamp(rng),
                "geometry": Point(round(label[0], 2), round(label[1], 2)) if has_pto else None,
            }
        )
        address_of_parcel[k] = oid
        address_of_building[id(main)] = oid
    addresses = gpd.GeoDataFrame(address_rows, geometry="geometry", crs=CRS)
    label_of = {r["oid"]: f"{r['street']} {r['house_number']}" for r in address_rows}

    # parcels
    parcel_rows: list[dict[str, Any]] = []
    for k, p in enumerate(parcels):
        g, f, z, n = cadastral[k]
        begins = _timestamp(rng)
        address = address_of_parcel.get(k)
        parcel_rows.append(
            {
                "oid": ids.next(),
                "flstkennz": kennzeichen(g, f, z, n),
                "gemarkung": g,
                "flur": f,
                "zaehler": z,
                "nenner": n,
                "flaeche": round(p.geom.area),
                "address_oids": (address,) if address else (),
                "lagebeztxt": label_of[address] if address else None,
                "begins": begins,
                "aktualit": begins[:10],
                "kind": p.kind,
                "geometry": p.geom,
            }
        )
    parcel_frame = gpd.GeoDataFrame(parcel_rows, geometry="geometry", crs=CRS)
    parcel_frame["nenner"] = pd.Series([r["nenner"] for r in parcel_rows], dtype=object)
    parcel_frame = parcel_frame.sort_values("flstkennz", ignore_index=True)

    # buildings
    building_rows: list[dict[str, Any]] = []
    for p in parcels:
        for b in p.buildings:
            address = address_of_building.get(id(b))
            begins = _timestamp(rng)
            building_rows.append(
                {
                    "oid": ids.next(),
                    "function": b.function,
                    "storeys": b.storeys,
                    "name": b.name,
                    "address_oid": address,
                    "lagebeztxt": label_of[address] if address else None,
                    "begins": begins,
                    "aktualit": begins[:10],
                    "geometry": b.geom,
                }
            )
    building_frame = gpd.GeoDataFrame(building_rows, geometry="geometry", crs=CRS)
    building_frame.geometry = _clean(building_frame.geometry.to_numpy())

    # land use, and its pieces per parcel (ALKIS-vereinfacht Nutzung, tntxt)
    uses = _land_use(town, parcels, forest, rng)
    land_use = gpd.GeoDataFrame(
        {
            "oid": [ids.next() for _ in uses],
            "use": [u for u, _, _ in uses],
            "detail": [d for _, d, _ in uses],
            "begins": [_timestamp(rng) for _ in uses],
        },
        geometry=_clean(np.array([g for _, _, g in uses], dtype=object)),
        crs=CRS,
    )
    parcel_geoms = parcel_frame.geometry.to_numpy()
    use_geoms = land_use.geometry.to_numpy()
    tree = shapely.STRtree(use_geoms)
    # most parcels lie within one land-use area; only the others need cutting
    left_in, right_in = tree.query(parcel_geoms, predicate="within")
    rest = np.setdiff1d(np.arange(len(parcel_geoms)), left_in)
    left_cut, right_cut = tree.query(parcel_geoms[rest], predicate="intersects")
    left_cut = rest[left_cut]
    cut = shapely.intersection(parcel_geoms[left_cut], use_geoms[right_cut], grid_size=PRECISION)
    left = np.concatenate([left_in, left_cut])
    right = np.concatenate([right_in, right_cut])
    pieces = np.concatenate([parcel_geoms[left_in], cut])
    areas = shapely.area(pieces)
    keep = areas > 0.5
    left, right, pieces, areas = left[keep], right[keep], pieces[keep], areas[keep]
    order = np.lexsort((right, left))
    left, right, pieces, areas = left[order], right[order], pieces[order], areas[order]
    uses_col = land_use["use"].to_numpy()
    details = land_use["detail"].to_numpy()
    nutzart = [LAND_USE[uses_col[r]][1] for r in right]
    bez = [LAND_USE_DETAIL[details[r]][2] if _present(details[r]) else None for r in right]
    kennz = parcel_frame["flstkennz"].to_numpy()
    parcel_land_use = gpd.GeoDataFrame(
        {"flstkennz": kennz[left], "nutzart": nutzart, "bez": bez},
        geometry=[shapely.orient_polygons(g) for g in _single_polygons(pieces)],
        crs=CRS,
    )
    tntxt: list[str | None] = [None] * len(parcel_frame)
    starts = np.flatnonzero(np.r_[True, left[1:] != left[:-1]])
    ends = np.r_[starts[1:], len(left)]
    flaeche = parcel_frame["flaeche"].to_numpy()
    for s, e in zip(starts, ends, strict=True):
        # several pieces of the same use (e.g. two fields) are summed, as ALKIS does
        sums: dict[str, float] = {}
        for m in range(s, e):
            sums[nutzart[m]] = sums.get(nutzart[m], 0.0) + float(areas[m])
        parts = sorted(sums.items(), key=lambda item: -item[1])
        rounded = _split_area(int(flaeche[left[s]]), [a for _, a in parts])
        tntxt[left[s]] = "|".join(
            f"{name};{a}" for (name, _), a in zip(parts, rounded, strict=True)
        )
    parcel_frame["tntxt"] = tntxt
    return Cadastre(
        gemarkungen, streets, addresses, parcel_frame, building_frame, land_use, parcel_land_use
    )


def _clean(geoms: np.ndarray) -> np.ndarray:
    """Polygons on the centimetre grid, exteriors counter-clockwise, holes clockwise."""
    return shapely.orient_polygons(shapely.set_precision(geoms, PRECISION))


def _single_polygons(geoms: np.ndarray) -> list[Any]:
    """Intersection results as (Multi)Polygons only: stray lines and points dropped."""
    out = []
    for g in geoms:
        polys = _polygons(g)
        out.append(polys[0] if len(polys) == 1 else MultiPolygon(polys))
    return out


# ------------------------------------------------------------------------ NAS writer


def _coords(coords: Iterable[Sequence[float]]) -> str:
    return " ".join(f"{x:.3f} {y:.3f}" for x, y, *_ in coords)


class _GmlIds:
    def __init__(self, oid: str) -> None:
        self.oid, self.n = oid, 0

    def __call__(self) -> str:
        self.n += 1
        return f"{self.oid}.g{self.n}"


def _nas_ring(ring: Any, gid: _GmlIds, per_edge: bool) -> str:
    coords = list(ring.coords)
    chains = [coords[k : k + 2] for k in range(len(coords) - 1)] if per_edge else [coords]
    members = "".join(
        f'<gml:curveMember>\n<gml:Curve gml:id="{gid()}">\n<gml:segments>\n'
        f"<gml:LineStringSegment>\n<gml:posList>{_coords(chain)}</gml:posList>\n"
        "</gml:LineStringSegment>\n</gml:segments>\n</gml:Curve>\n</gml:curveMember>\n"
        for chain in chains
    )
    return f"<gml:Ring>\n{members}</gml:Ring>\n"


def _nas_surface(poly: Polygon, gid: _GmlIds, per_edge: bool, srs: bool) -> str:
    srs_attr = f' srsName="{NAS_SRS}"' if srs else ""
    interiors = "".join(
        f"<gml:interior>\n{_nas_ring(r, gid, per_edge)}</gml:interior>\n" for r in poly.interiors
    )
    return (
        f'<gml:Surface gml:id="{gid()}"{srs_attr}>\n<gml:patches>\n<gml:PolygonPatch>\n'
        f"<gml:exterior>\n{_nas_ring(poly.exterior, gid, per_edge)}</gml:exterior>\n{interiors}"
        "</gml:PolygonPatch>\n</gml:patches>\n</gml:Surface>\n"
    )


def _nas_position(geom: Any, oid: str, multi: bool, per_edge: bool) -> str:
    gid = _GmlIds(oid)
    polys = _polygons(geom)
    if not multi and len(polys) == 1:
        return f"<adv:position>\n{_nas_surface(polys[0], gid, per_edge, True)}</adv:position>\n"
    ms_id = gid()
    members = "".join(
        f"<gml:surfaceMember>\n{_nas_surface(p, gid, per_edge, False)}</gml:surfaceMember>\n"
        for p in polys
    )
    return (
        f'<adv:position>\n<gml:MultiSurface gml:id="{ms_id}" srsName="{NAS_SRS}">\n'
        f"{members}</gml:MultiSurface>\n</adv:position>\n"
    )


def _nas_head(kind: str, oid: str, begins: str, model: str = "DLKM") -> str:
    return (
        f'<adv:{kind} gml:id="{oid}">\n'
        f'<gml:identifier codeSpace="http://www.adv-online.de/">urn:adv:oid:{oid}</gml:identifier>\n'
        "<adv:lebenszeitintervall>\n<adv:AA_Lebenszeitintervall>\n"
        f"<adv:beginnt>{begins}</adv:beginnt>\n"
        "</adv:AA_Lebenszeitintervall>\n</adv:lebenszeitintervall>\n"
        "<adv:modellart>\n<adv:AA_Modellart>\n"
        f"<adv:advStandardModell>{model}</adv:advStandardModell>\n"
        "</adv:AA_Modellart>\n</adv:modellart>\n"
    )


def _lage_key(key: str) -> str:
    return (
        "<adv:AX_VerschluesselteLagebezeichnung>\n"
        f"<adv:land>{LAND}</adv:land>\n<adv:regierungsbezirk>{REGBEZ}</adv:regierungsbezirk>\n"
        f"<adv:kreis>{KREIS}</adv:kreis>\n<adv:gemeinde>{GEMEINDE}</adv:gemeinde>\n"
        f"<adv:lage>{key}</adv:lage>\n</adv:AX_VerschluesselteLagebezeichnung>\n"
    )


def _href(element: str, oid: str) -> str:
    return f'<adv:{element} xlink:href="urn:adv:oid:{oid}"/>\n'


def nas_gemarkung(row: Any) -> str:
    return (
        _nas_head("AX_Gemarkung", row.oid, row.begins)
        + f"<adv:schluesselGesamt>{LAND}{row.number:04d}</adv:schluesselGesamt>\n"
        + f"<adv:bezeichnung>{escape(row.name)}</adv:bezeichnung>\n"
        + "<adv:schluessel>\n<adv:AX_Gemarkung_Schluessel>\n"
        + f"<adv:land>{LAND}</adv:land>\n"
        + f"<adv:gemarkungsnummer>{row.number:04d}</adv:gemarkungsnummer>\n"
        + "</adv:AX_Gemarkung_Schluessel>\n</adv:schluessel>\n"
        + "</adv:AX_Gemarkung>\n"
    )


def nas_street(row: Any) -> str:
    return (
        _nas_head("AX_LagebezeichnungKatalogeintrag", row.oid, row.begins)
        + f"<adv:schluesselGesamt>{LAND}{REGBEZ}{KREIS}{GEMEINDE}{row.key}</adv:schluesselGesamt>\n"
        + f"<adv:bezeichnung>{escape(row.name)}</adv:bezeichnung>\n"
        + f"<adv:schluessel>\n{_lage_key(row.key)}</adv:schluessel>\n"
        + "</adv:AX_LagebezeichnungKatalogeintrag>\n"
    )


def nas_address(row: Any) -> str:
    return (
        _nas_head("AX_LagebezeichnungMitHausnummer", row.oid, row.begins)
        + "<adv:lagebezeichnung>\n<adv:AX_Lagebezeichnung>\n<adv:verschluesselt>\n"
        + _lage_key(row.key)
        + "</adv:verschluesselt>\n</adv:AX_Lagebezeichnung>\n</adv:lagebezeichnung>\n"
        + f"<adv:hausnummer>{escape(row.house_number)}</adv:hausnummer>\n"
        + "</adv:AX_LagebezeichnungMitHausnummer>\n"
    )


def nas_pto(row: Any) -> str:
    point = row.geometry
    return (
        _nas_head("AP_PTO", row.pto_oid, row.begins, model="DKKM1000")
        + "<adv:art>HNR</adv:art>\n"
        + _href("dientZurDarstellungVon", row.oid)
        + f'<adv:position>\n<gml:Point gml:id="{row.pto_oid}.g1" srsName="{NAS_SRS}">\n'
        + f"<gml:pos>{point.x:.3f} {point.y:.3f}</gml:pos>\n</gml:Point>\n</adv:position>\n"
        + "</adv:AP_PTO>\n"
    )


def nas_parcel(row: Any) -> str:
    nenner = f"<adv:nenner>{int(row.nenner)}</adv:nenner>\n" if _present(row.nenner) else ""
    return (
        _nas_head("AX_Flurstueck", row.oid, row.begins)
        + _nas_position(row.geometry, row.oid, multi=True, per_edge=True)
        + "<adv:gemarkung>\n<adv:AX_Gemarkung_Schluessel>\n"
        + f"<adv:land>{LAND}</adv:land>\n"
        + f"<adv:gemarkungsnummer>{row.gemarkung}</adv:gemarkungsnummer>\n"
        + "</adv:AX_Gemarkung_Schluessel>\n</adv:gemarkung>\n"
        + "<adv:flurstuecksnummer>\n<adv:AX_Flurstuecksnummer>\n"
        + f"<adv:zaehler>{row.zaehler}</adv:zaehler>\n{nenner}"
        + "</adv:AX_Flurstuecksnummer>\n</adv:flurstuecksnummer>\n"
        + f"<adv:flurstueckskennzeichen>{row.flstkennz}</adv:flurstueckskennzeichen>\n"
        + f'<adv:amtlicheFlaeche uom="urn:adv:uom:m2">{row.flaeche:.1f}</adv:amtlicheFlaeche>\n'
        + f"<adv:flurnummer>{row.flur}</adv:flurnummer>\n"
        + "<adv:gemeindezugehoerigkeit>\n<adv:AX_Gemeindekennzeichen>\n"
        + f"<adv:land>{LAND}</adv:land>\n<adv:regierungsbezirk>{REGBEZ}</adv:regierungsbezirk>\n"
        + f"<adv:kreis>{KREIS}</adv:kreis>\n<adv:gemeinde>{GEMEINDE}</adv:gemeinde>\n"
        + "</adv:AX_Gemeindekennzeichen>\n</adv:gemeindezugehoerigkeit>\n"
        + "".join(_href("weistAuf", oid) for oid in row.address_oids)
        + "</adv:AX_Flurstueck>\n"
    )


def nas_building(row: Any) -> str:
    name = f"<adv:name>{escape(row.name)}</adv:name>\n" if _present(row.name) else ""
    address = _href("zeigtAuf", row.address_oid) if _present(row.address_oid) else ""
    return (
        _nas_head("AX_Gebaeude", row.oid, row.begins)
        + _nas_position(row.geometry, row.oid, multi=False, per_edge=False)
        + f"<adv:gebaeudefunktion>{row.function}</adv:gebaeudefunktion>\n{name}"
        + "<adv:anzahlDerOberirdischenGeschosse>"
        + f"{row.storeys}</adv:anzahlDerOberirdischenGeschosse>\n"
        + address
        + "</adv:AX_Gebaeude>\n"
    )


def nas_land_use(row: Any) -> str:
    kind = LAND_USE[row.use][0]
    detail = ""
    if _present(row.detail):
        element, code, _ = LAND_USE_DETAIL[row.detail]
        detail = f"<adv:{element}>{code}</adv:{element}>\n"
    return (
        _nas_head(kind, row.oid, row.begins)
        + _nas_position(row.geometry, row.oid, multi=False, per_edge=False)
        + detail
        + f"</adv:{kind}>\n"
    )


def _rows(frame: pd.DataFrame) -> Iterator[Any]:
    """Rows as named tuples; fast also for Arrow-backed string columns."""
    row = namedtuple("row", list(frame.columns))  # type: ignore[misc]
    columns = [frame[c].to_numpy(dtype=object) for c in frame.columns]
    return (row(*values) for values in zip(*columns, strict=True))


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def write_nas(path: Path, members: Iterable[str], count: int) -> None:
    """Write an ALKIS NAS Bestandsdatenauszug, one `wfs:member` per object, streaming."""
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<adv:AX_Bestandsdatenauszug xmlns:adv="{NS_ADV}" xmlns:gml="{NS_GML}" '
            f'xmlns:wfs="{NS_WFS}" xmlns:xlink="{NS_XLINK}">\n'
            "<adv:erlaeuterung>Synthetische Beispieldaten, Stadt Mücheln (Geiseltal); "
            "keine amtlichen Daten</adv:erlaeuterung>\n"
            "<adv:koordinatenangaben>\n<adv:AA_Koordinatenreferenzsystemangaben>\n"
            f'<adv:crs xlink:href="{NAS_SRS}"/>\n'
            "<adv:anzahlDerNachkommastellen>3</adv:anzahlDerNachkommastellen>\n"
            "<adv:standard>true</adv:standard>\n"
            "</adv:AA_Koordinatenreferenzsystemangaben>\n</adv:koordinatenangaben>\n"
            "<adv:enthaelt>\n"
            f'<wfs:FeatureCollection timeStamp="{TIMESTAMP}" numberMatched="{count}" '
            f'numberReturned="{count}">\n'
        )
        for member in members:
            out.write("<wfs:member>\n")
            out.write(member)
            out.write("</wfs:member>\n")
        out.write("</wfs:FeatureCollection>\n</adv:enthaelt>\n</adv:AX_Bestandsdatenauszug>\n")


def nas_members(cadastre: Cadastre) -> tuple[Iterator[str], int]:
    """The NAS objects of the cadastre, as text, and how many there are."""
    c = cadastre
    with_pto = c.addresses[c.addresses["pto_oid"].notna()]
    count = len(c.gemarkungen) + len(c.streets) + len(c.addresses) + len(with_pto) + len(c.parcels)
    count += len(c.buildings) + len(c.land_use)

    def members() -> Iterator[str]:
        yield from (nas_gemarkung(r) for r in _rows(c.gemarkungen))
        yield from (nas_street(r) for r in _rows(c.streets))
        yield from (nas_address(r) for r in _rows(c.addresses))
        yield from (nas_pto(r) for r in _rows(with_pto))
        yield from (nas_parcel(r) for r in _rows(c.parcels))
        yield from (nas_building(r) for r in _rows(c.buildings))
        yield from (nas_land_use(r) for r in _rows(c.land_use))

    return members(), count


# ------------------------------------------------------------- ALKIS-vereinfacht writers

AVE_PARCEL_FIELDS = (
    "flstkennz", "land", "gemarkung", "gemaschl", "flur", "flurschl", "flstnrzae", "flstnrnen",
    "kreis", "gemeinde", "gmdschl", "lagebeztxt", "tntxt", "flaeche", "aktualit",
)  # fmt: skip
AVE_BUILDING_FIELDS = (
    "oid",
    "aktualit",
    "gebnutzbez",
    "funktion",
    "anzahlgs",
    "gmdschl",
    "lagebeztxt",
    "name",
)
AVE_LAND_USE_FIELDS = ("nutzart", "bez", "flstkennz")


def ave_parcel_record(row: Any) -> dict[str, Any]:
    """One parcel in ALKIS-vereinfacht terms (names, keys and texts, not codes)."""
    gemaschl = f"{LAND}{row.gemarkung:04d}"
    flur = f"{row.flur:03d}"
    return {
        "flstkennz": row.flstkennz,
        "land": LAND_NAME,
        "gemarkung": GEMARKUNGEN[row.gemarkung],
        "gemaschl": gemaschl,
        "flur": flur,
        "flurschl": gemaschl + flur,
        "flstnrzae": str(row.zaehler),
        "flstnrnen": str(int(row.nenner)) if _present(row.nenner) else None,
        "kreis": KREIS_NAME,
        "gemeinde": GEMEINDE_NAME,
        "gmdschl": AGS,
        "lagebeztxt": row.lagebeztxt if _present(row.lagebeztxt) else None,
        "tntxt": row.tntxt,
        "flaeche": float(row.flaeche),
        "aktualit": row.aktualit,
    }


def ave_building_record(row: Any) -> dict[str, Any]:
    return {
        "oid": row.oid,
        "aktualit": row.aktualit,
        "gebnutzbez": "Gebäude",
        "funktion": BUILDING_FUNCTIONS[row.function],
        "anzahlgs": int(row.storeys),
        "gmdschl": AGS,
        "lagebeztxt": row.lagebeztxt if _present(row.lagebeztxt) else None,
        "name": row.name if _present(row.name) else None,
    }


def ave_frames(cadastre: Cadastre) -> dict[str, gpd.GeoDataFrame]:
    """The three ALKIS-vereinfacht layers, named as the Shapefiles in the ZIP."""
    c = cadastre
    parcels = gpd.GeoDataFrame(
        [ave_parcel_record(r) for r in _rows(c.parcels)],
        columns=list(AVE_PARCEL_FIELDS),
        geometry=c.parcels.geometry.values,
        crs=CRS,
    )
    buildings = gpd.GeoDataFrame(
        [ave_building_record(r) for r in _rows(c.buildings)],
        columns=list(AVE_BUILDING_FIELDS),
        geometry=c.buildings.geometry.values,
        crs=CRS,
    )
    land_use = c.parcel_land_use[[*AVE_LAND_USE_FIELDS, "geometry"]]
    return {"flurstueck": parcels, "gebaeudebauwerk": buildings, "nutzung": land_use}


def write_shapefile_zip(
    path: Path,
    frames: Mapping[str, gpd.GeoDataFrame],
    *,
    dbf_date: str,
    zip_date: tuple[int, int, int, int, int, int],
) -> None:
    """One Shapefile (UTF-8) per frame, named by its key, in a ZIP with fixed time stamps:
    the same frames always give the same bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        names: list[Path] = []
        for layer, frame in frames.items():
            shp = Path(tmp) / f"{layer}.shp"
            pyogrio.write_dataframe(
                frame,
                shp,
                driver="ESRI Shapefile",
                encoding="UTF-8",
                layer_options={"DBF_DATE_LAST_UPDATE": dbf_date, "RESIZE": "YES"},
            )
            names.extend(shp.with_suffix(s) for s in (".shp", ".shx", ".dbf", ".prj", ".cpg"))
        with zipfile.ZipFile(path, "w") as archive:
            for name in names:
                info = zipfile.ZipInfo(name.name, date_time=zip_date)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, name.read_bytes())


def write_ave_zip(path: Path, cadastre: Cadastre) -> None:
    """ALKIS-vereinfacht as Shapefiles (UTF-8) in a ZIP with fixed time stamps."""
    write_shapefile_zip(
        path, ave_frames(cadastre), dbf_date=TIMESTAMP[:10], zip_date=(2026, 1, 1, 0, 0, 0)
    )


def _ave_geometry(geom: Any, gid: str) -> str:
    members = []
    for n, poly in enumerate(_polygons(geom), start=1):
        interiors = "".join(
            f"<gml:interior><gml:LinearRing><gml:posList>{_coords(r.coords)}</gml:posList>"
            "</gml:LinearRing></gml:interior>"
            for r in poly.interiors
        )
        members.append(
            f'<gml:surfaceMember><gml:Polygon gml:id="{gid}.{n}"><gml:exterior><gml:LinearRing>'
            f"<gml:posList>{_coords(poly.exterior.coords)}</gml:posList></gml:LinearRing>"
            f"</gml:exterior>{interiors}</gml:Polygon></gml:surfaceMember>"
        )
    return (
        f'<ave:geometrie><gml:MultiSurface gml:id="{gid}" srsName="{AVE_SRS}">'
        + "".join(members)
        + "</gml:MultiSurface></ave:geometrie>\n"
    )


def ave_parcel_member(row: Any) -> str:
    record = ave_parcel_record(row)
    props = "".join(
        f"<ave:{name}>{escape(str(value))}</ave:{name}>\n"
        for name, value in record.items()
        if value is not None
    )
    return (
        f'<wfs:member>\n<ave:Flurstueck gml:id="{row.oid}">\n{props}'
        + _ave_geometry(row.geometry, f"{row.oid}.geom")
        + "</ave:Flurstueck>\n</wfs:member>\n"
    )


def write_ave_gml(path: Path, members: Iterable[str], count: int) -> None:
    """A WFS 2.0 GetFeature response (GML 3.2) of ave:Flurstueck, streaming."""
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<wfs:FeatureCollection xmlns:wfs="{NS_WFS}" xmlns:gml="{NS_GML}" '
            f'xmlns:ave="{NS_AVE}" timeStamp="{TIMESTAMP}" numberMatched="{count}" '
            f'numberReturned="{count}">\n'
        )
        for member in members:
            out.write(member)
        out.write("</wfs:FeatureCollection>\n")


# --------------------------------------------------------------------- HK-DE writer

HK_COLUMNS = (
    "NBA", "OI", "QUA", "LAN", "RBZ", "KRS", "GMD", "OTT", "SSS", "HNR", "ADZ", "EAST", "NORTH",
    "STN", "PLZ", "ONM", "ZON", "POT", "PSN", "AUD",
)  # fmt: skip


def _decimal_comma(value: float) -> str:
    return f"{value:.3f}".replace(".", ",")


def hk_line(row: Any) -> str:
    """One house coordinate. EAST carries the UTM zone (32) in front, as HK-DE does:
    8 digits before the decimal comma, 3 after."""
    values = (
        "N",
        row.oid,
        "A",
        LAND,
        REGBEZ,
        KREIS,
        GEMEINDE,
        ORTSTEIL,
        row.key,
        row.number,
        row.suffix,
        "32" + _decimal_comma(row.east),
        _decimal_comma(row.north),
        row.street,
        POSTCODE,
        POSTAL_PLACE,
        "",
        "",
        row.street,
        HK_DATE,
    )
    return ";".join(values) + "\n"


def write_house_coordinates(path: Path, lines: Iterable[str]) -> None:
    """Hauskoordinaten Deutschland: ';' separated, UTF-8, one header line."""
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write(";".join(HK_COLUMNS) + "\n")
        for line in lines:
            out.write(line)


# ------------------------------------------------------------------------- all files


def write_cadastre(
    cadastre: Cadastre, nas: Path, ave_zip: Path, ave_gml: Path, addresses_csv: Path
) -> list[Path]:
    """Write the four cadastre files; returns their paths."""
    members, count = nas_members(cadastre)
    write_nas(nas, members, count)
    write_ave_zip(ave_zip, cadastre)
    write_ave_gml(
        ave_gml,
        (ave_parcel_member(r) for r in _rows(cadastre.parcels)),
        len(cadastre.parcels),
    )
    write_house_coordinates(addresses_csv, (hk_line(r) for r in _rows(cadastre.addresses)))
    return [nas, ave_zip, ave_gml, addresses_csv]
