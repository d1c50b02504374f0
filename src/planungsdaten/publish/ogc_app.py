"""pygeoapi mounted, not forked: a Starlette app around `pygeoapi.api.API` for one config.

pygeoapi's own `starlette_app` reads its configuration from files named in environment
variables at import time, once per process. Here the configuration is generated from the
catalogue, so the routes are rebuilt around an `API` instance made from that dict.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from datetime import datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pygeoapi
import pygeoapi.api as core_api
import pygeoapi.api.coverages as coverages_api
import pygeoapi.api.itemtypes as itemtypes_api
import pygeoapi.l10n
from pygeoapi.api import API, APIRequest, apply_gzip
from pygeoapi.formats import F_HTML, F_JSON
from pygeoapi.openapi import get_oas
from pygeoapi.util import render_j2_template
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from planungsdaten.publish import features
from planungsdaten.publish.coverages import (
    COVERAGES_KEY,
    DEFAULT_MAX_CELLS,
    LIMIT_KEY,
    CoverageFacts,
    CoverageRequestError,
    describe_bands,
    page_data,
    plan_coverage,
)
from planungsdaten.publish.ogc_config import PROPERTIES_KEY, TIMELESS_KEY
from planungsdaten.publish.tiles import tile_routes

STATIC_DIR = Path(pygeoapi.__file__).parent / "static"
JSON, GEOJSON = "application/json", "application/geo+json"


def _call(loop: asyncio.AbstractEventLoop, function: Callable[..., Any], *args: Any) -> Any:
    # pygeoapi's handlers expect an event loop in their thread
    asyncio.set_event_loop(loop)
    return function(*args)


def _response(headers: dict[str, str], status: int, content: str | bytes) -> Response:
    if headers.get("Content-Type") == "text/html":
        response: Response = HTMLResponse(content=content, status_code=status)
    else:
        response = Response(content, status_code=status)
    response.headers.update(headers)
    return response


# the query parameters of /items (OGC API Features parts 1–3, pygeoapi's extras, our cursor)
ITEMS_PARAMETERS = features.RESERVED


def unknown_parameters(request: Request, properties: list[str] | None) -> list[str]:
    """Query parameters that are neither standard nor a property of the collection (OGC API
    Features requires a 400 for them rather than silently ignoring a typo)."""
    allowed = ITEMS_PARAMETERS | set(properties or ())
    return sorted(set(request.query_params) - allowed)


def datetime_problem(value: str) -> str | None:
    """Why `value` is no RFC 3339 instant or interval (`a/b`, `../b`, `a/..`), or None."""
    for part in value.split("/"):
        if part in ("..", "") and "/" in value:
            continue
        try:
            datetime.fromisoformat(part.replace("Z", "+00:00"))
        except ValueError:
            return (
                f"datetime '{value}' ist kein Zeitpunkt oder Zeitraum nach RFC 3339, z. B. "
                "2024-01-01T00:00:00Z oder 2024-01-01T00:00:00Z/.."
            )
    return None


def without_parameter(request: Request, name: str) -> Request:
    """The same request without one query parameter."""
    return with_parameters(
        request, [(k, v) for k, v in request.query_params.multi_items() if k != name]
    )


async def _no_body() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


def with_parameters(request: Request, params: list[tuple[str, str]]) -> Request:
    """The same request with these query parameters instead of its own."""
    scope = {**request.scope, "query_string": urlencode(params).encode("latin-1")}
    return Request(scope, request.receive)


def advertise_limits(openapi: dict[str, Any], limits: dict[str, Any]) -> dict[str, Any]:
    """The page size limits as the shared parameter `limit`, where GDAL and QGIS look for
    them (`components/parameters/limit/schema`): without it QGIS pages by 100 features."""
    parameters = openapi.setdefault("components", {}).setdefault("parameters", {})
    parameters["limit"] = {
        "name": "limit",
        "in": "query",
        "description": "Höchstzahl der Objekte einer Seite.",
        "required": False,
        "style": "form",
        "explode": False,
        "schema": {
            "type": "integer",
            "minimum": 1,
            "maximum": int(limits.get("max_items", 10)),
            "default": int(limits.get("default_items", 10)),
        },
    }
    return openapi


def create_ogc_app(config: dict[str, Any]) -> Starlette:
    """OGC API Features (and the parts of pygeoapi they need) for `config`."""
    config = dict(config)
    properties: dict[str, list[str]] = config.pop(PROPERTIES_KEY, {})
    timeless = set(config.pop(TIMELESS_KEY, []))
    rasters = {
        cid: CoverageFacts.from_config(cid, data)
        for cid, data in config.pop(COVERAGES_KEY, {}).items()
    }
    max_cells = int(config.pop(LIMIT_KEY, DEFAULT_MAX_CELLS))
    # pygeoapi keeps its translated configuration per locale for the whole process: pages
    # of a new configuration (a reload after a harvest) must not render from the old one
    getattr(pygeoapi.l10n, "_cfg_cache", {}).clear()
    openapi = advertise_limits(get_oas(config), config["server"].get("limits", {}))
    api = API(config, openapi)

    async def execute(
        request: Request,
        function: Callable[..., Any],
        *args: Any,
        validate: bool = True,
        geojson: bool = False,
    ) -> Response:
        api_request = await APIRequest.from_starlette(request, api.locales)
        if validate and not api_request.is_valid():
            headers, status, content = api.get_format_exception(api_request)
        else:
            loop = asyncio.get_running_loop()
            headers, status, content = await loop.run_in_executor(
                None, _call, loop, function, api, api_request, *args
            )
            if isinstance(content, Iterator):  # a GeoJSON page streamed from PostGIS
                return StreamingResponse(content, status_code=status, headers=headers)
            if status != HTTPStatus.NO_CONTENT:
                content = apply_gzip(headers, content)
            if geojson and status == HTTPStatus.OK and headers.get("Content-Type") == JSON:
                headers["Content-Type"] = GEOJSON  # features are GeoJSON (OGC /conf/geojson)
        return _response(headers, status, content)

    async def landing_page(request: Request) -> Response:
        return await execute(request, core_api.landing_page)

    async def openapi_document(request: Request) -> Response:
        return await execute(request, core_api.openapi_)

    async def conformance(request: Request) -> Response:
        return await execute(request, core_api.conformance)

    async def collections(request: Request) -> Response:
        return await execute(
            request, core_api.describe_collections, request.path_params.get("collection_id")
        )

    async def queryables(request: Request) -> Response:
        return await execute(
            request,
            itemtypes_api.get_collection_queryables,
            request.path_params["collection_id"],
        )

    async def schema(request: Request) -> Response:
        collection = request.path_params["collection_id"]
        response = await execute(request, core_api.get_collection_schema, collection)
        facts = rasters.get(collection)
        if facts is None or response.status_code != HTTPStatus.OK:
            return response
        if not response.headers.get("content-type", "").startswith("application/schema+json"):
            return response
        # pygeoapi names a GeoTIFF's bands only by number: add what the definition says
        body = describe_bands(json.loads(bytes(response.body)), facts.bands)
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return Response(json.dumps(body, ensure_ascii=False), headers=headers)

    async def items(request: Request) -> Response:
        # GET with query parameters, or POST with a CQL2 JSON filter in the body
        collection = request.path_params["collection_id"]
        unknown = unknown_parameters(request, properties.get(collection))
        if unknown and collection in properties:
            allowed = sorted(ITEMS_PARAMETERS | set(properties[collection]))
            return JSONResponse(
                {
                    "code": "InvalidParameterValue",
                    "description": f"Unbekannte(r) Parameter: {', '.join(unknown)}. Erlaubt "
                    f"sind: {', '.join(allowed)}.",
                },
                status_code=400,
            )
        if collection in timeless and "datetime" in request.query_params:
            problem = datetime_problem(request.query_params["datetime"])
            if problem:
                return JSONResponse(
                    {"code": "InvalidParameterValue", "description": problem}, status_code=400
                )
            # features without time are not filtered out by a time interval
            request = without_parameter(request, "datetime")
        return await execute(
            request,
            features.get_items,
            request.path_params["collection_id"],
            validate=False,
            geojson=True,
        )

    async def item(request: Request) -> Response:
        return await execute(
            request,
            itemtypes_api.get_collection_item,
            request.path_params["collection_id"],
            request.path_params["item_id"],
            geojson=True,
        )

    async def coverage(request: Request) -> Response:
        # requests are checked before pygeoapi's rasterio provider reads cells (coverages.py)
        collection = request.path_params["collection_id"]
        facts = rasters.get(collection)
        if facts is None:  # no raster of ours: pygeoapi's answer (404, not a coverage, …)
            return await execute(
                request, coverages_api.get_collection_coverage, collection, validate=False
            )
        # pygeoapi's own choice of format; probed on a copy, as reading the request would
        # consume the body that `execute` reads again
        probe = await APIRequest.from_starlette(Request(request.scope, _no_body), api.locales)
        output = probe.format or F_JSON
        if output == F_HTML:
            data = page_data(facts, api.config["resources"][collection], api.get_collections_url())
            page = render_j2_template(
                api.tpl_config,
                api.get_dataset_templates(collection),
                "collections/coverage/index.html",
                data,
                api.default_locale,
            )
            return HTMLResponse(page)
        try:
            plan = plan_coverage(request.query_params.multi_items(), facts, output, max_cells)
        except CoverageRequestError as e:
            return JSONResponse(
                {"code": "InvalidParameterValue", "description": str(e)}, status_code=400
            )
        if plan.whole_file:  # the stored COG itself: streamed, with byte ranges
            return FileResponse(
                facts.path,
                media_type="image/tiff",
                filename=f"{collection}.tif",
                headers={"ETag": f'"{facts.sha256}"', "Cache-Control": "public, no-cache"},
            )
        return await execute(
            with_parameters(request, plan.params),
            coverages_api.get_collection_coverage,
            collection,
            validate=False,
        )

    routes = [
        *tile_routes(execute),
        Route("/", landing_page),
        Route("/openapi", openapi_document),
        Route("/conformance", conformance),
        Route("/collections", collections),
        Route("/collections/{collection_id}", collections),
        Route("/collections/{collection_id}/queryables", queryables),
        Route("/collections/{collection_id}/schema", schema),
        Route("/collections/{collection_id}/items", items, methods=["GET", "POST"]),
        Route("/collections/{collection_id}/items/{item_id}", item),
        Route("/collections/{collection_id}/coverage", coverage),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="ogc-static"),
    ]
    app = Starlette(routes=routes)
    app.state.pygeoapi = api
    return app


class ReloadingOgcApp:
    """ASGI app at /ogc that regenerates the pygeoapi app when the catalogue changes.

    A harvest that adds or replaces a dataset becomes visible in /ogc without editing
    files or restarting: the catalogue's generation is checked at most every
    `check_interval_s` seconds. `bind` is called by the lifespan, once the engine exists.
    """

    def __init__(self, check_interval_s: float = 5.0) -> None:
        self._interval = check_interval_s
        self._build: Callable[[], dict[str, Any]] | None = None
        self._generation: Callable[[], object] | None = None
        self._app: Starlette | None = None
        self._seen: object = None
        self._checked = 0.0
        self._lock = asyncio.Lock()

    def bind(self, build: Callable[[], dict[str, Any]], generation: Callable[[], object]) -> None:
        """Where the configuration and the catalogue generation come from."""
        self._build, self._generation = build, generation
        self._app = None

    async def current(self) -> Starlette:
        """The app for the catalogue as it is now (rebuilt off the event loop if stale)."""
        if self._build is None or self._generation is None:
            raise RuntimeError("ReloadingOgcApp used before bind()")
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._app is not None and now - self._checked < self._interval:
            return self._app
        async with self._lock:
            if self._app is None or now - self._checked >= self._interval:
                generation = await loop.run_in_executor(None, self._generation)
                if self._app is None or generation != self._seen:
                    config = await loop.run_in_executor(None, self._build)
                    self._app = await loop.run_in_executor(None, create_ogc_app, config)
                    self._seen = generation
                self._checked = now
        return self._app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        app = await self.current()
        await app(scope, receive, send)
