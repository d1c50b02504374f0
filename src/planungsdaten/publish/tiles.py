"""OGC API Tiles for /ogc: Mapbox Vector Tiles made by PostGIS, one SQL statement per tile.

pygeoapi's tiles API writes the documents (tilesets list, tileset metadata, TileJSON,
tile matrix sets); `PostGISTileProvider` is the tile provider plugin behind them. pygeoapi's
stock MVT-postgresql provider is not used: it answers an unknown tile matrix set or a zoom
beyond the matrix with a 500, names the layer after the table, puts every column (also
`dataset_version_id`) into every tile, neither buffers nor simplifies, has no TileJSON,
needs psycopg2 and logs every empty tile as an error.

A tile's ETag is derived from the dataset versions behind the collection, so a client (or a
cache in front) revalidates without the database doing any work until the next harvest.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from http import HTTPStatus
from typing import Any

from psycopg import sql
from pygeoapi.api import API, SYSTEM_LOCALE, APIRequest
from pygeoapi.api import tiles as tiles_api
from pygeoapi.models.provider.base import TileMatrixSetEnum
from pygeoapi.plugin import load_plugin
from pygeoapi.provider import filter_providers_by_type
from pygeoapi.provider.base import ProviderInvalidQueryError
from pygeoapi.provider.base_mvt import BaseMVTProvider
from pygeoapi.provider.tile import ProviderTileNotFoundError
from pygeoapi.util import get_from_headers
from sqlalchemy.exc import OperationalError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from planungsdaten.db.copy import driver_connection
from planungsdaten.db.errors import DatabaseUnavailableError
from planungsdaten.errors import InvalidRequestError, NotFoundError, PlanungsdatenError
from planungsdaten.publish.provider import engine_for

log = logging.getLogger(__name__)

MVT = "application/vnd.mapbox-vector-tile"
PROVIDER = "planungsdaten.publish.tiles.PostGISTileProvider"
WEB_MERCATOR, WORLD_CRS84 = "WebMercatorQuad", "WorldCRS84Quad"
STORAGE_SRID = 25832  # the canonical tables' CRS (ETRS89 / UTM 32N)
EXTENT, BUFFER = 4096, 64  # MVT tile coordinates, and the margin drawn beyond the tile edge
# tiles change only with a harvest; the ETag (dataset versions) makes revalidation cheap
CACHE_CONTROL = "public, max-age=3600"
# bump when the SQL or the tile layout changes, so cached tiles are not reused
TILE_FORMAT = "1"
STATEMENT_TIMEOUT_MS = 20_000
# the MVT value type of each property, by its JSON Schema type (char(n) is no MVT type)
CASTS = {"string": "text", "integer": "bigint", "number": "double precision", "boolean": "boolean"}
EQUATOR_M = 40_075_016.686
METRES_PER_DEGREE = EQUATOR_M / 360


class TileError(PlanungsdatenError):
    """A tile request that cannot be answered."""


class InvalidTileError(TileError, InvalidRequestError):
    """tileMatrix, tileRow or tileCol is no integer."""


class TileNotFoundError(TileError, NotFoundError):
    """No such tile matrix set, or the tile lies outside it or outside the zoom range."""


STATUS_CODES: dict[type[Exception], HTTPStatus] = {
    InvalidTileError: HTTPStatus.BAD_REQUEST,
    TileNotFoundError: HTTPStatus.NOT_FOUND,
    DatabaseUnavailableError: HTTPStatus.SERVICE_UNAVAILABLE,
}


@dataclass(frozen=True)
class TileMatrixSet:
    """A supported tiling scheme: its SRID and the SQL of a tile's envelope in it."""

    id: str
    srid: int
    envelope: str  # parameters z, x, y and margin (a fraction of the tile size)


# WorldCRS84Quad has 2^(z+1) × 2^z tiles of 180°/2^z: the square level z+1 of a
# 360° × 360° grid whose top edge is at 90° N
TILE_MATRIX_SETS = {
    WEB_MERCATOR: TileMatrixSet(
        WEB_MERCATOR, 3857, "ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => %(margin)s)"
    ),
    WORLD_CRS84: TileMatrixSet(
        WORLD_CRS84,
        4326,
        "ST_TileEnvelope(%(z)s + 1, %(x)s, %(y)s, "
        "ST_MakeEnvelope(-180, -270, 180, 90, 4326), margin => %(margin)s)",
    ),
}


@dataclass(frozen=True)
class Tile:
    """One tile of a tile matrix set (tileMatrix z, tileRow y, tileCol x)."""

    tms: str
    z: int
    y: int
    x: int


@cache
def _tile_matrices(tms: str) -> list[dict[str, Any]]:
    for member in TileMatrixSetEnum:
        if member.value.tileMatrixSet == tms:
            matrices: list[dict[str, Any]] = member.value.tileMatrices
            return matrices
    raise TileNotFoundError(f"Unbekannte Kachelmatrixmenge '{tms}'.")


def tile_bounds(tile: Tile) -> tuple[float, float, float, float]:
    """The tile's envelope (xmin, ymin, xmax, ymax) in its tile matrix set's CRS."""
    matrix = _tile_matrices(tile.tms)[tile.z]
    span = matrix["cellSize"] * matrix["tileWidth"]
    left, top = matrix["pointOfOrigin"]
    xmin, ymax = left + tile.x * span, top - tile.y * span
    return xmin, ymax - span, xmin + span, ymax


def _from_crs84(tms: str, lon: float, lat: float) -> tuple[float, float]:
    if tms == WORLD_CRS84:
        return lon, lat
    lat = max(min(lat, 85.05112878), -85.05112878)
    radius = EQUATOR_M / (2 * math.pi)
    x = math.radians(lon) * radius
    return x, radius * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


def overlaps(tile: Tile, bbox: list[float]) -> bool:
    """Whether the tile (with its buffer) may hold data inside `bbox` (CRS84)."""
    xmin, ymin, xmax, ymax = tile_bounds(tile)
    margin = (xmax - xmin) * BUFFER / EXTENT
    left, bottom = _from_crs84(tile.tms, bbox[0], bbox[1])
    right, top = _from_crs84(tile.tms, bbox[2], bbox[3])
    return not (
        xmax + margin < left
        or xmin - margin > right
        or ymax + margin < bottom
        or ymin - margin > top
    )


def parse_tile(tms: str, z: str | int, y: str | int, x: str | int, zoom: tuple[int, int]) -> Tile:
    """The tile addressed by path parameters, checked against the matrix set and `zoom`."""
    if tms not in TILE_MATRIX_SETS:
        raise TileNotFoundError(
            f"Unbekannte Kachelmatrixmenge '{tms}'. Angeboten: {', '.join(TILE_MATRIX_SETS)}."
        )
    try:
        zi, yi, xi = int(z), int(y), int(x)
    except ValueError as e:
        raise InvalidTileError(
            f"tileMatrix, tileRow und tileCol müssen ganze Zahlen sein, nicht {z}/{y}/{x}."
        ) from e
    if not zoom[0] <= zi <= zoom[1]:
        raise TileNotFoundError(
            f"Kachelmatrix {zi} wird nicht angeboten: Zoomstufen {zoom[0]} bis {zoom[1]}."
        )
    matrix = _tile_matrices(tms)[zi]
    if not (0 <= yi < matrix["matrixHeight"] and 0 <= xi < matrix["matrixWidth"]):
        raise TileNotFoundError(
            f"Kachel {zi}/{yi}/{xi} liegt außerhalb von {tms}: tileRow 0 bis "
            f"{matrix['matrixHeight'] - 1}, tileCol 0 bis {matrix['matrixWidth'] - 1}."
        )
    return Tile(tms, zi, yi, xi)


def simplify_tolerance(tile: Tile) -> float:
    """Half an MVT pixel of the tile at the equator, in metres (storage CRS units)."""
    xmin, _, xmax, _ = tile_bounds(tile)
    span_m = (xmax - xmin) * (METRES_PER_DEGREE if tile.tms == WORLD_CRS84 else 1.0)
    return span_m / EXTENT / 2


def tile_sql(
    table: str,
    geom_field: str,
    properties: dict[str, str],
    tms: TileMatrixSet,
    simplify: bool,
) -> sql.Composed:
    """One statement that returns the tile: the index is used through the tile's envelope
    (with the buffer margin) transformed to the storage CRS, densified first so its curved
    image stays covered; geometries are clipped and quantised by ST_AsMVTGeom (rows it
    leaves without geometry are skipped by ST_AsMVT: no filter, which would run it twice)."""
    geom = sql.SQL("t.{}").format(sql.Identifier(geom_field))
    if simplify:
        geom = sql.SQL("ST_Simplify({}, %(tolerance)s, true)").format(geom)
    columns = sql.SQL("").join(
        sql.SQL("t.{0}::{1} AS {0}, ").format(sql.Identifier(name), sql.SQL(CASTS[kind]))
        for name, kind in properties.items()
    )
    return sql.SQL(
        """
WITH area AS (
    SELECT {bounds} AS bounds,
           ST_Transform(ST_Segmentize({search}, %(segment)s), {storage}) AS search
),
features AS (
    SELECT {columns}
           ST_AsMVTGeom(ST_Transform({geom}, {srid}), area.bounds, {extent}, {buffer}, true)
               AS mvt_geom
    FROM {table} AS t, area
    WHERE t.{geom_field} && area.search
)
SELECT ST_AsMVT(features.*, %(layer)s, {extent}, 'mvt_geom') FROM features
"""
    ).format(
        bounds=sql.SQL(tms.envelope.replace("%(margin)s", "0")),
        search=sql.SQL(tms.envelope),
        storage=sql.Literal(STORAGE_SRID),
        columns=columns,
        geom=geom,
        srid=sql.Literal(tms.srid),
        extent=sql.Literal(EXTENT),
        buffer=sql.Literal(BUFFER),
        table=sql.Identifier(table),
        geom_field=sql.Identifier(geom_field),
    )


class PostGISTileProvider(BaseMVTProvider):
    """pygeoapi tile provider: MVT straight from a PostGIS table in the storage CRS.

    The provider definition carries `data` (connection, as for the feature provider),
    `table`, `geom_field` and `options`: `zoom` {min, max}, `schemes`, `layer` (the
    collection id), `properties`, `detail_zoom` (simplified below it), `bounds` (CRS84, for
    answering tiles outside the data without a query) and `version` (for the ETag).
    """

    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        self.table: str = provider_def["table"]
        self.geom_field: str = provider_def.get("geom_field", "geom")
        options = self.options
        self.zoom = (int(options["zoom"]["min"]), int(options["zoom"]["max"]))
        self.layer: str = options.get("layer", self.table)
        self.properties: dict[str, str] = dict(options.get("properties", {}))
        self.detail_zoom = int(options.get("detail_zoom", self.zoom[0]))
        self.bounds: list[float] | None = options.get("bounds")
        self.version = str(options.get("version", ""))
        self._service_url = ""

    def __repr__(self) -> str:
        return f"<PostGISTileProvider> {self.table}"

    def get_layer(self) -> str:
        """The MVT layer: the collection id."""
        return self.layer

    def get_fields(self) -> dict[str, dict[str, str]]:
        """The attributes each feature of a tile carries."""
        return {name: {"type": kind} for name, kind in self.properties.items()}

    def get_tiling_schemes(self) -> list[Any]:
        """WebMercatorQuad and WorldCRS84Quad (or those named in `schemes`)."""
        wanted = self.schemes or list(TILE_MATRIX_SETS)
        return [
            m.value
            for m in TileMatrixSetEnum
            if m.value.tileMatrixSet in wanted and m.value.tileMatrixSet in TILE_MATRIX_SETS
        ]

    def get_tiles_service(
        self,
        baseurl: str | None = None,
        servicepath: str | None = None,
        dirpath: str | None = None,
        tile_type: str | None = None,
    ) -> dict[str, Any]:
        """The templated tile link of the tilesets list."""
        self._service_url = servicepath or ""
        return {
            "links": [
                {
                    "type": MVT,
                    "rel": "item",
                    "title": f"{self.layer}: Vektorkacheln (Mapbox Vector Tiles)",
                    "href": self._service_url,
                    "templated": True,
                }
            ]
        }

    def tile(self, tms: str, z: str | int, y: str | int, x: str | int) -> Tile:
        """The addressed tile, checked against the offered schemes and zoom range."""
        offered = [s.tileMatrixSet for s in self.get_tiling_schemes()]
        if tms not in offered:
            raise TileNotFoundError(
                f"Kachelmatrixmenge '{tms}' wird nicht angeboten: {', '.join(offered)}."
            )
        return parse_tile(tms, z, y, x, self.zoom)

    def etag(self, tile: Tile) -> str:
        """Weak ETag: the dataset versions, the tile layout and the tile address."""
        key = "|".join(
            (TILE_FORMAT, self.version, self.layer, ",".join(self.properties), str(tile))
        )
        return f'W/"{hashlib.sha256(key.encode()).hexdigest()[:32]}"'

    def render(self, tile: Tile) -> bytes:
        """The encoded tile; empty bytes when nothing lies in it."""
        if self.bounds is not None and not overlaps(tile, self.bounds):
            return b""
        tms = TILE_MATRIX_SETS[tile.tms]
        statement = tile_sql(
            self.table, self.geom_field, self.properties, tms, tile.z < self.detail_zoom
        )
        xmin, _, xmax, _ = tile_bounds(tile)
        params = {
            "z": tile.z,
            "x": tile.x,
            "y": tile.y,
            "margin": BUFFER / EXTENT,
            "segment": (xmax - xmin) / 8,
            "tolerance": simplify_tolerance(tile),
            "layer": self.layer,
        }
        try:
            engine = engine_for(
                self.data, statement_timeout_ms=STATEMENT_TIMEOUT_MS, name="planungsdaten-tiles"
            )
            with engine.connect() as conn:
                raw = driver_connection(conn)
                row = raw.execute(statement, params).fetchone()
        except OperationalError as e:
            raise DatabaseUnavailableError(
                f"Vektorkachel {tile.tms}/{tile.z}/{tile.y}/{tile.x} nicht erzeugt: {e.orig}"
            ) from e
        return bytes(row[0]) if row and row[0] is not None else b""

    def get_tiles(
        self,
        layer: str | None = None,
        tileset: str | None = None,
        z: Any = None,
        y: Any = None,
        x: Any = None,
        format_: str | None = None,
    ) -> bytes | None:
        """pygeoapi's interface: the tile, or None when empty."""
        try:
            tile = self.tile(str(tileset), z, y, x)
        except InvalidTileError as e:
            raise ProviderInvalidQueryError(user_msg=str(e)) from e
        except TileNotFoundError as e:
            raise ProviderTileNotFoundError(user_msg=str(e)) from e
        return self.render(tile) or None

    # -- metadata ----------------------------------------------------------------------------

    def _tileset_url(self, server_url: str, dataset: str, tileset: str) -> str:
        return f"{server_url}/collections/{dataset}/tiles/{tileset}"

    def get_default_metadata(
        self,
        dataset: str,
        server_url: str,
        layer: str,
        tileset: str,
        title: str | None,
        description: str | None,
        keywords: list[str] | None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The tileset document (OGC API Tiles, /conf/tileset)."""
        scheme = next(s for s in self.get_tiling_schemes() if s.tileMatrixSet == tileset)
        url = self._tileset_url(server_url, dataset, tileset)
        minimum, maximum = (str(z) for z in self.zoom)
        document: dict[str, Any] = {
            "title": title,
            "description": description,
            "dataType": "vector",
            "crs": scheme.crs,
            "tileMatrixSetURI": scheme.tileMatrixSetURI,
            "mediaTypes": [MVT],
            "tileMatrixSetLimits": [
                {
                    "tileMatrix": str(z),
                    "minTileRow": 0,
                    "maxTileRow": scheme.tileMatrices[z]["matrixHeight"] - 1,
                    "minTileCol": 0,
                    "maxTileCol": scheme.tileMatrices[z]["matrixWidth"] - 1,
                }
                for z in range(self.zoom[0], self.zoom[1] + 1)
            ],
            "layers": [
                {
                    "id": self.layer,
                    "dataType": "vector",
                    "geometryDimension": 2,
                    "minTileMatrix": minimum,
                    "maxTileMatrix": maximum,
                    "propertiesSchema": {
                        "type": "object",
                        "properties": self.get_fields(),
                    },
                }
            ],
            "links": [
                {
                    "type": "application/json",
                    "rel": "self",
                    "title": "Diese Kachelmenge als JSON",
                    "href": f"{url}?f=json",
                },
                {
                    "type": "application/json",
                    "rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme",
                    "title": f"Definition der Kachelmatrixmenge {tileset}",
                    "href": f"{server_url}/tileMatrixSets/{tileset}?f=json",
                },
                {
                    "type": MVT,
                    "rel": "item",
                    "title": f"{self.layer}: Vektorkacheln in {tileset}",
                    "href": f"{url}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}?f=mvt",
                    "templated": True,
                },
                {
                    "type": "application/json",
                    "rel": "describedby",
                    "title": "TileJSON",
                    "href": f"{url}/metadata?f=tilejson",
                },
                {
                    "type": "application/json",
                    "rel": "http://www.opengis.net/def/rel/ogc/1.0/geodata",
                    "title": "Die Sammlung",
                    "href": f"{server_url}/collections/{dataset}?f=json",
                },
            ],
        }
        if keywords:
            document["keywords"] = keywords
        if self.bounds is not None:
            document["boundingBox"] = {
                "lowerLeft": self.bounds[:2],
                "upperRight": self.bounds[2:],
                "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
            }
        if self.version:
            document["version"] = self.version
        return document

    def get_vendor_metadata(
        self,
        dataset: str,
        server_url: str,
        layer: str,
        tileset: str,
        title: str | None,
        description: str | None,
        keywords: list[str] | None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """TileJSON 3.0 (MapLibre, Mapbox GL): only for WebMercatorQuad, as TileJSON assumes."""
        url = self._tileset_url(server_url, dataset, WEB_MERCATOR)
        document: dict[str, Any] = {
            "tilejson": "3.0.0",
            "name": title or self.layer,
            "description": description,
            "tiles": [f"{url}/{{z}}/{{y}}/{{x}}?f=mvt"],
            "minzoom": self.zoom[0],
            "maxzoom": self.zoom[1],
            "vector_layers": [
                {
                    "id": self.layer,
                    "fields": {n: k.capitalize() for n, k in self.properties.items()},
                    "minzoom": self.zoom[0],
                    "maxzoom": self.zoom[1],
                }
            ],
        }
        if self.bounds is not None:
            document["bounds"] = self.bounds
            document["center"] = [
                (self.bounds[0] + self.bounds[2]) / 2,
                (self.bounds[1] + self.bounds[3]) / 2,
                self.zoom[0],
            ]
        if self.version:
            document["version"] = self.version
        return document

    def get_html_metadata(
        self,
        dataset: str,
        server_url: str,
        layer: str,
        tileset: str,
        title: str | None,
        description: str | None,
        keywords: list[str] | None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """What pygeoapi's tileset HTML template shows."""
        url = self._tileset_url(server_url, dataset, tileset)
        return {
            "id": dataset,
            "title": title,
            "tileset": tileset,
            "collections_path": f"{url}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}?f=mvt",
            "json_url": f"{url}?f=json",
        }


# -- routes ----------------------------------------------------------------------------------

Execute = Callable[..., Awaitable[Response]]
Result = tuple[dict[str, Any], int, str | bytes]


def tile_provider_definition(api: API, dataset: str) -> dict[str, Any] | None:
    """The collection's tile provider definition, if it has one."""
    resource = api.config["resources"].get(dataset)
    if resource is None or resource.get("type") != "collection":
        return None
    definition: dict[str, Any] | None = filter_providers_by_type(resource["providers"], "tile")
    return definition


def _no_tiles(api: API, request: APIRequest, dataset: str) -> Result:
    headers = request.get_response_headers(SYSTEM_LOCALE, **api.api_headers)
    result: Result = api.get_exception(
        HTTPStatus.NOT_FOUND,
        headers,
        request.format,
        "NotFound",
        f"Die Sammlung '{dataset}' gibt es nicht oder sie bietet keine Kacheln an. "
        "Kacheln gibt es für die Sammlungen, deren Beschreibung einen Link "
        "'tilesets-vector' enthält.",
    )
    return result


def _error(api: API, request: APIRequest, error: PlanungsdatenError) -> Result:
    status = next(s for t, s in STATUS_CODES.items() if isinstance(error, t))
    code = "NotFound" if status == HTTPStatus.NOT_FOUND else "InvalidParameterValue"
    headers = request.get_response_headers(SYSTEM_LOCALE, **api.api_headers)
    result: Result = api.get_exception(status, headers, "json", code, str(error))
    return result


def collection_tilesets(api: API, request: APIRequest, dataset: str) -> Result:
    """/collections/{id}/tiles: pygeoapi's tilesets list, 404 without a tile provider."""
    if tile_provider_definition(api, dataset) is None:
        return _no_tiles(api, request, dataset)
    result: Result = tiles_api.get_collection_tiles(api, request, dataset)
    return result


def collection_tileset(api: API, request: APIRequest, dataset: str, tms: str) -> Result:
    """/collections/{id}/tiles/{tileMatrixSetId}[/metadata]: tileset document or TileJSON."""
    definition = tile_provider_definition(api, dataset)
    if definition is None:
        return _no_tiles(api, request, dataset)
    provider: PostGISTileProvider = load_plugin("provider", definition)
    if tms not in [s.tileMatrixSet for s in provider.get_tiling_schemes()]:
        offered = ", ".join(s.tileMatrixSet for s in provider.get_tiling_schemes())
        error = TileNotFoundError(f"Kachelmatrixmenge '{tms}' wird nicht angeboten: {offered}.")
        return _error(api, request, error)
    result: Result = tiles_api.get_collection_tiles_metadata(api, request, dataset, tms)
    return result


def collection_tile(
    api: API, request: APIRequest, dataset: str, tms: str, z: str, y: str, x: str
) -> Result:
    """One vector tile: 200 with the tile, 204 when empty, 304 when the client's copy is
    current (ETag); 404 outside the matrix set or zoom range, 400 for a malformed address."""
    definition = tile_provider_definition(api, dataset)
    if definition is None:
        return _no_tiles(api, request, dataset)
    provider: PostGISTileProvider = load_plugin("provider", definition)
    try:
        tile = provider.tile(tms, z, y, x)
        etag = provider.etag(tile)
        headers = request.get_response_headers(SYSTEM_LOCALE, **api.api_headers)
        headers.update({"Content-Type": MVT, "ETag": etag, "Cache-Control": CACHE_CONTROL})
        headers.pop("Content-Language", None)
        if etag in _if_none_match(request):
            return headers, HTTPStatus.NOT_MODIFIED, b""
        content = provider.render(tile)
    except (TileError, DatabaseUnavailableError) as e:
        return _error(api, request, e)
    if not content:
        headers.pop("Content-Type")
        return headers, HTTPStatus.NO_CONTENT, b""
    return headers, HTTPStatus.OK, content


def _if_none_match(request: APIRequest) -> set[str]:
    value = get_from_headers(request.headers, "if-none-match")
    return {tag.strip() for tag in value.split(",") if tag.strip()}


def tile_routes(execute: Execute) -> list[Route]:
    """The OGC API Tiles routes; `execute` runs a pygeoapi API function for a request."""

    async def tilesets(request: Request) -> Response:
        return await execute(request, collection_tilesets, request.path_params["collection_id"])

    async def tileset(request: Request) -> Response:
        p = request.path_params
        # the tileset document takes f=json|html; its /metadata alias also f=tilejson
        return await execute(
            request, collection_tileset, p["collection_id"], p["tms"], validate=False
        )

    async def tile(request: Request) -> Response:
        p = request.path_params
        return await execute(
            request,
            collection_tile,
            p["collection_id"],
            p["tms"],
            p["z"],
            p["y"],
            p["x"],
            validate=False,
        )

    async def matrix_sets(request: Request) -> Response:
        return await execute(request, tiles_api.tilematrixsets)

    async def matrix_set(request: Request) -> Response:
        return await execute(request, tiles_api.tilematrixset, request.path_params["tms"])

    base = "/collections/{collection_id}/tiles"
    return [
        Route(base, tilesets),
        Route(base + "/{tms}", tileset),
        Route(base + "/{tms}/metadata", tileset),
        Route(base + "/{tms}/{z}/{y}/{x}", tile),
        # pygeoapi links to /TileMatrixSets, the standard names /tileMatrixSets
        Route("/tileMatrixSets", matrix_sets),
        Route("/tileMatrixSets/{tms}", matrix_set),
        Route("/TileMatrixSets", matrix_sets),
        Route("/TileMatrixSets/{tms}", matrix_set),
    ]
