"""pygeoapi mounted, not forked: a Starlette app around `pygeoapi.api.API` for one config.

pygeoapi's own `starlette_app` reads its configuration from files named in environment
variables at import time, once per process. Here the configuration is generated from the
catalogue, so the routes are rebuilt around an `API` instance made from that dict.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pygeoapi
import pygeoapi.api as core_api
import pygeoapi.api.itemtypes as itemtypes_api
from pygeoapi.api import API, APIRequest, apply_gzip
from pygeoapi.openapi import get_oas
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(pygeoapi.__file__).parent / "static"


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


def create_ogc_app(config: dict[str, Any]) -> Starlette:
    """OGC API Features (and the parts of pygeoapi they need) for `config`."""
    openapi = get_oas(config)
    api = API(config, openapi)

    async def execute(
        request: Request, function: Callable[..., Any], *args: Any, validate: bool = True
    ) -> Response:
        api_request = await APIRequest.from_starlette(request, api.locales)
        if validate and not api_request.is_valid():
            headers, status, content = api.get_format_exception(api_request)
        else:
            loop = asyncio.get_running_loop()
            headers, status, content = await loop.run_in_executor(
                None, _call, loop, function, api, api_request, *args
            )
            if status != HTTPStatus.NO_CONTENT:
                content = apply_gzip(headers, content)
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
        return await execute(
            request, core_api.get_collection_schema, request.path_params["collection_id"]
        )

    async def items(request: Request) -> Response:
        # GET with query parameters, or POST with a CQL2 JSON filter in the body
        return await execute(
            request,
            itemtypes_api.get_collection_items,
            request.path_params["collection_id"],
            validate=False,
        )

    async def item(request: Request) -> Response:
        return await execute(
            request,
            itemtypes_api.get_collection_item,
            request.path_params["collection_id"],
            request.path_params["item_id"],
        )

    routes = [
        Route("/", landing_page),
        Route("/openapi", openapi_document),
        Route("/conformance", conformance),
        Route("/collections", collections),
        Route("/collections/{collection_id}", collections),
        Route("/collections/{collection_id}/queryables", queryables),
        Route("/collections/{collection_id}/schema", schema),
        Route("/collections/{collection_id}/items", items, methods=["GET", "POST"]),
        Route("/collections/{collection_id}/items/{item_id}", item),
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
