"""Raster layers as OGC API Coverages: their pygeoapi collections (stock rasterio provider)
and the checks a coverage request passes before pygeoapi reads any cell.

pygeoapi's rasterio provider reads the requested cells into memory, answers a malformed
bbox with 500 and takes `bbox-crs` only as a bare EPSG code. So /ogc checks each request
first: the bbox is parsed and transformed to EPSG:25832 here, refused with 400 when it is
malformed, misses the raster or asks for more cells than the limit, and handed on in the
raster's own CRS. A request for the whole raster in its native format is answered with the
stored COG itself (streamed, with byte ranges)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from planungsdaten.licences import licence_page
from planungsdaten.rasters.store import MEDIA_TYPE, STORAGE_CRS, RasterLayer, crs84_bounds

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
NATIVE_FORMAT = {"name": "GTiff", "mimetype": "image/tiff"}
# how a generated config hands the rasters' facts to the /ogc app (not pygeoapi's)
COVERAGES_KEY = "x-planungsdaten-coverages"
LIMIT_KEY = "x-planungsdaten-coverage-limit"
# cells (× bands) one coverage response may hold: GeoTIFF, and CoverageJSON/HTML
DEFAULT_MAX_CELLS = 16_000_000
JSON_SHARE = 16  # CoverageJSON spells every cell out: a sixteenth of the GeoTIFF limit
Box = tuple[float | None, float | None, float | None, float | None]  # None: unlimited
_AXIS = re.compile(r"^\s*(?P<axis>[A-Za-z]+)\((?P<low>[^:()]+)(?::(?P<high>[^:()]+))?\)\s*$")


class CoverageRequestError(ValueError):
    """A coverage request /ogc refuses before pygeoapi sees it (a 400, message in German)."""


@dataclass(frozen=True)
class CoverageFacts:
    """What the request checks need to know of a raster collection."""

    collection_id: str
    path: str
    bounds: tuple[float, float, float, float]  # EPSG:25832
    resolution_m: float
    count: int
    sha256: str
    version_id: int
    bands: tuple[dict[str, Any], ...] = ()

    def as_config(self) -> dict[str, Any]:
        return {
            "bands": list(self.bands),
            "path": self.path,
            "bounds": list(self.bounds),
            "resolution_m": self.resolution_m,
            "count": self.count,
            "sha256": self.sha256,
            "version_id": self.version_id,
        }

    @classmethod
    def from_config(cls, collection_id: str, data: dict[str, Any]) -> CoverageFacts:
        return cls(
            collection_id=collection_id,
            path=data["path"],
            bounds=(
                float(data["bounds"][0]),
                float(data["bounds"][1]),
                float(data["bounds"][2]),
                float(data["bounds"][3]),
            ),
            resolution_m=float(data["resolution_m"]),
            count=int(data["count"]),
            sha256=data["sha256"],
            version_id=int(data["version_id"]),
            bands=tuple(data.get("bands", ())),
        )


def band_text(bands: list[dict[str, Any]]) -> str:
    """The bands in German prose: „Band 1 hoehe: Geländehöhe … (Einheit m)“."""
    parts = []
    for number, band in enumerate(bands, start=1):
        unit = f" (Einheit {band['unit']})" if band.get("unit") else ""
        parts.append(f"Band {number} „{band['name']}“: {band['description']}{unit}")
    return "; ".join(parts)


def raster_description(raster: RasterLayer) -> str:
    """The description of a raster collection and catalogue entry (German)."""
    text = raster.description.strip() or raster.title
    if not text.endswith("."):
        text += "."
    resolution = f"{raster.resolution_m:g}".replace(".", ",")
    nodata = "" if raster.nodata is None else f", NoData-Wert {raster.nodata:g}"
    return (
        f"{text} Raster (Cloud-Optimized GeoTIFF, EPSG:25832) mit {resolution} m Zellgröße, "
        f"{raster.width} × {raster.height} Zellen, Datentyp {raster.dtype}{nodata}. "
        f"{band_text(raster.bands)}."
    )


def raster_keywords(raster: RasterLayer) -> list[str]:
    """Keywords of a raster collection and catalogue entry."""
    words = ["Raster", "GeoTIFF", raster.layer, *(band["name"] for band in raster.bands)]
    return list(dict.fromkeys(words))


def coverage_resource(raster: RasterLayer, public_url: str) -> dict[str, Any]:
    """The pygeoapi collection of a raster: pygeoapi's rasterio provider on the COG."""
    title, href = licence_page(raster.licence) or (raster.licence, raster.licence)
    west, south, east, north = crs84_bounds(raster.footprint)
    end = raster.published_at.astimezone(UTC).replace(microsecond=0)
    return {
        "type": "collection",
        "title": {"de": raster.title},
        "description": {
            "de": f"{raster_description(raster)} Quelle: {raster.attribution}.",
        },
        "keywords": {"de": raster_keywords(raster)},
        "links": [
            {"type": "text/html", "rel": "license", "title": title, "href": href},
            {
                "type": MEDIA_TYPE,
                "rel": "enclosure",
                "title": f"{raster.title} als Cloud-Optimized GeoTIFF (Gesamtdatei)",
                "href": f"{public_url}/downloads/rasters/{raster.layer}.tif",
                "length": raster.size_bytes,
            },
            {
                "type": "text/html",
                "rel": "describedby",
                "title": "Beschreibung im Katalog",
                "href": f"{public_url}/catalog/datasets/{raster.layer}",
            },
        ],
        "extents": {
            "spatial": {"bbox": [west, south, east, north], "crs": CRS84},
            # a datetime, as pygeoapi's YAML loader would give it (it reads .tzinfo)
            "temporal": {"begin": None, "end": end},
        },
        "providers": [
            {
                "type": "coverage",
                "name": "rasterio",
                "data": str(raster.path),
                "format": dict(NATIVE_FORMAT),
            }
        ],
    }


def coverage_facts(raster: RasterLayer) -> CoverageFacts:
    """The facts the request checks of /ogc need, from a current raster."""
    west, south, east, north = raster.footprint.bounds
    return CoverageFacts(
        collection_id=raster.layer,
        path=str(raster.path),
        bounds=(west, south, east, north),
        resolution_m=raster.resolution_m,
        count=len(raster.bands),
        sha256=raster.sha256,
        version_id=raster.version_id,
        bands=tuple(raster.bands),
    )


# --- requests ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CoveragePlan:
    """A checked coverage request: the query pygeoapi gets, or the whole file."""

    whole_file: bool
    params: list[tuple[str, str]]


def _numbers(value: str, name: str) -> list[float]:
    try:
        numbers = [float(v) for v in value.split(",")]
    except ValueError:
        raise CoverageRequestError(
            f"{name} '{value}' besteht nicht aus Zahlen; erwartet wird minx,miny,maxx,maxy"
        ) from None
    if len(numbers) != 4 or not all(math.isfinite(v) for v in numbers):
        raise CoverageRequestError(
            f"{name} '{value}' braucht genau vier endliche Zahlen: minx,miny,maxx,maxy"
        )
    if numbers[0] >= numbers[2] or numbers[1] >= numbers[3]:
        raise CoverageRequestError(
            f"{name} '{value}': minx muss kleiner als maxx und miny kleiner als maxy sein"
        )
    return numbers


def _crs(value: str) -> CRS:
    try:
        return CRS.from_user_input(value)
    except CRSError:
        raise CoverageRequestError(
            f"bbox-crs '{value}' ist kein bekanntes Koordinatenreferenzsystem; z. B. "
            "http://www.opengis.net/def/crs/EPSG/0/25832 oder "
            "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
        ) from None


def _to_storage(box: list[float], crs: CRS) -> tuple[float, float, float, float]:
    """A box of `crs` (x/y, i.e. longitude first) as the covering box in EPSG:25832."""
    transformer = Transformer.from_crs(crs, STORAGE_CRS, always_xy=True)
    try:
        result = transformer.transform_bounds(box[0], box[1], box[2], box[3], densify_pts=21)
    except Exception:  # pyproj raises its ProjError for boxes outside the CRS' area
        result = (math.inf,) * 4
    if not all(math.isfinite(v) for v in result):
        raise CoverageRequestError(
            "bbox lässt sich nicht nach EPSG:25832 umrechnen; Koordinaten und bbox-crs prüfen"
        )
    return result


def _subset_box(value: str, facts: CoverageFacts) -> Box:
    """The x/y limits a `subset` asks for (in EPSG:25832, the raster's CRS)."""
    limits: dict[str, tuple[float, float]] = {}
    for part in value.split(","):
        match = _AXIS.match(part)
        if match is None:
            raise CoverageRequestError(
                f"subset '{value}' ist ungültig; erwartet wird z. B. x(690000:695000),"
                "y(5680000:5685000)"
            )
        axis = match["axis"]
        if axis not in ("x", "y"):
            raise CoverageRequestError(
                f"subset: die Achse '{axis}' gibt es nicht; die Achsen heißen x und y"
            )
        try:
            low = float(match["low"])
            high = float(match["high"]) if match["high"] is not None else low
        except ValueError:
            raise CoverageRequestError(f"subset '{value}': die Grenzen sind keine Zahlen") from None
        if low > high:
            raise CoverageRequestError(f"subset '{value}': die untere Grenze liegt über der oberen")
        limits[axis] = (low, high)
    west, south, east, north = facts.bounds
    x0, x1 = limits.get("x", (west, east))
    y0, y1 = limits.get("y", (south, north))
    return x0, y0, x1, y1


def _cells(box: Box, facts: CoverageFacts) -> int:
    """The cells × bands of the part of the raster a box covers; 0 when it misses it."""
    west, south, east, north = facts.bounds
    x0 = max(west, box[0] if box[0] is not None else west)
    y0 = max(south, box[1] if box[1] is not None else south)
    x1 = min(east, box[2] if box[2] is not None else east)
    y1 = min(north, box[3] if box[3] is not None else north)
    if x0 > x1 or y0 > y1:
        return 0
    res = facts.resolution_m
    columns = max(1, math.ceil((x1 - x0) / res))
    rows = max(1, math.ceil((y1 - y0) / res))
    return columns * rows * facts.count


def _german(number: int) -> str:
    return f"{number:,}".replace(",", ".")


def plan_coverage(
    params: list[tuple[str, str]], facts: CoverageFacts, output: str, max_cells: int
) -> CoveragePlan:
    """Check a coverage request (`output`: the format pygeoapi will produce) and rewrite its
    bbox into the raster's CRS; CoverageRequestError says what is wrong."""
    query = dict(params)
    native = output == NATIVE_FORMAT["name"]
    limit = max_cells if native else max_cells // JSON_SHARE
    rest = [(k, v) for k, v in params if k not in ("bbox", "bbox-crs")]
    if "bbox" in query and "subset" in query:
        raise CoverageRequestError("bbox und subset schließen sich aus; nur eines angeben")
    if "bbox" in query:
        numbers = _numbers(query["bbox"], "bbox")
        crs = _crs(query.get("bbox-crs") or CRS84)
        west, south, east, north = _to_storage(numbers, crs)
        box: Box = (west, south, east, north)
        rest.append(("bbox", f"{west:.3f},{south:.3f},{east:.3f},{north:.3f}"))
        # pygeoapi's provider takes a bare EPSG code; the box is now in the raster's CRS
        rest.append(("bbox-crs", str(STORAGE_CRS.to_epsg())))
    elif "subset" in query:
        box = _subset_box(query["subset"], facts)
    elif "bbox-crs" in query:
        raise CoverageRequestError("bbox-crs ohne bbox: bitte auch bbox angeben")
    else:
        box = (None, None, None, None)
    cells = _cells(box, facts)
    if cells == 0:
        west, south, east, north = (round(v) for v in facts.bounds)
        raise CoverageRequestError(
            f"Der Ausschnitt liegt außerhalb des Rasters '{facts.collection_id}' (Ausdehnung "
            f"in EPSG:25832: {west}, {south} – {east}, {north})"
        )
    whole = box == (None, None, None, None) and "properties" not in query
    if whole and native:
        return CoveragePlan(whole_file=True, params=rest)
    if cells > limit:
        raise CoverageRequestError(
            f"Der Ausschnitt umfasst {_german(cells)} Rasterzellen, höchstens {_german(limit)} "
            "sind in einer Antwort in diesem Format möglich: einen kleineren Ausschnitt (bbox) "
            f"wählen oder die ganze Datei unter /downloads/rasters/{facts.collection_id}.tif "
            "laden"
        )
    return CoveragePlan(whole_file=False, params=rest)


def page_data(
    facts: CoverageFacts, resource: dict[str, Any], collections_url: str
) -> dict[str, Any]:
    """What the coverage's HTML page shows (no cells: the page describes how to get them)."""
    base = f"{collections_url}/{facts.collection_id}"
    west, south, east, north = facts.bounds
    # an example: about a square kilometre in the middle of the raster
    x, y = (west + east) / 2, (south + north) / 2
    half = min(500.0, (east - west) / 2, (north - south) / 2)
    example = f"{x - half:.0f},{y - half:.0f},{x + half:.0f},{y + half:.0f}"
    crs = "http://www.opengis.net/def/crs/EPSG/0/25832"
    title = resource["title"]
    description = resource["description"]
    return {
        "title": title.get("de", next(iter(title.values()))) if isinstance(title, dict) else title,
        "description": description.get("de", next(iter(description.values())))
        if isinstance(description, dict)
        else description,
        "collections_path": collections_url,
        "dataset_path": base,
        "query_path": f"{base}/coverage",
        "resolution": f"{facts.resolution_m:g}".replace(".", ","),
        "bounds": ", ".join(f"{v:.0f}" for v in facts.bounds),
        "bands": list(facts.bands),
        "links": [
            {"rel": "collection", "type": "text/html", "title": title, "href": base},
            *(
                {
                    "rel": link["rel"],
                    "type": link["type"],
                    "title": link["title"],
                    "href": link["href"],
                }
                for link in resource.get("links", [])
                if link.get("rel") == "enclosure"
            ),
            {
                "rel": "alternate",
                "type": "image/tiff",
                "title": "Beispielausschnitt (1 km²) als GeoTIFF",
                "href": f"{base}/coverage?f=GTiff&bbox={example}&bbox-crs={crs}",
            },
            {
                "rel": "alternate",
                "type": "application/prs.coverage+json",
                "title": "Beispielausschnitt (1 km²) als CoverageJSON",
                "href": f"{base}/coverage?f=json&bbox={example}&bbox-crs={crs}",
            },
            {
                "rel": "describedby",
                "type": "text/html",
                "title": "Schema (Bänder)",
                "href": f"{base}/schema?f=html",
            },
        ],
    }


def describe_bands(schema: dict[str, Any], bands: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    """pygeoapi's schema of a coverage (one property per band number) with the bands'
    names, meanings and units from the source definition."""
    properties = schema.get("properties", {})
    for number, band in enumerate(bands, start=1):
        field = properties.get(str(number))
        if field is None:
            continue
        field["title"] = band["name"]
        field["description"] = band["description"]
        if band.get("unit"):
            field["x-ogc-unit"] = band["unit"]
    return schema
