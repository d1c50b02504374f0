"""The ASGI application: wiring only (settings, lifespan, routers, /ogc mount, handlers)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from planungsdaten import __version__
from planungsdaten.api import (
    access,
    areas,
    catalog,
    downloads,
    health,
    municipalities,
    packages,
    rasters,
    sources,
)
from planungsdaten.api.errors import add_exception_handlers, document_problems
from planungsdaten.api.middleware import BodyLimitMiddleware, SecurityHeadersMiddleware
from planungsdaten.db.cluster import cluster_from_settings
from planungsdaten.db.engine import make_engine
from planungsdaten.db.errors import DatabaseError
from planungsdaten.db.migrate import current_revision, head_revision, upgrade
from planungsdaten.db.queries import query
from planungsdaten.packages.worker import WorkerPool
from planungsdaten.publish.ogc_app import ReloadingOgcApp
from planungsdaten.publish.ogc_config import build_config, load_base
from planungsdaten.settings import Settings
from planungsdaten.web import STATIC_DIR, pages

log = logging.getLogger(__name__)


def _prepare_schema(engine: Engine, settings: Settings) -> None:
    if settings.app.migrate_on_start:
        upgrade(engine)
        return
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise DatabaseError(
            f"database schema is at {current}, the code expects {head}: run `planungsdaten migrate`"
        )


def create_app(settings: Settings | None = None) -> FastAPI:
    """The whole service: /api, /health, /docs, /ogc and the web page (`uvicorn --factory`)."""
    settings = settings or Settings()
    ogc = ReloadingOgcApp(check_interval_s=settings.app.ogc_reload_interval_s)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with contextlib.ExitStack() as stack:
            active = settings
            if active.database.url is None:
                # embedded default: the project-owned cluster, stopped again on shutdown
                url = stack.enter_context(cluster_from_settings(active).running())
                active = active.with_database_url(url)
            engine = make_engine(active.database)
            stack.callback(engine.dispose)
            read_engine = engine
            if active.database.read_url is not None:
                read_engine = make_engine(active.database, read_only=True)
                stack.callback(read_engine.dispose)
            _prepare_schema(engine, active)
            app.state.settings = active
            app.state.engine = engine
            app.state.read_engine = read_engine
            base = load_base(active.app.ogc_dir)
            database_url = active.database.url.get_secret_value()  # type: ignore[union-attr]

            def build() -> dict[str, Any]:
                return build_config(
                    read_engine,
                    base,
                    active.app.public_url,
                    database_url,
                    rasters_dir=active.rasters_dir,
                    max_coverage_cells=active.limit.max_coverage_cells,
                )

            def generation() -> object:
                with read_engine.connect() as conn:
                    return tuple(conn.execute(query("catalogue_generation")).one())

            ogc.bind(build, generation)
            workers = WorkerPool(active, engine, read_engine)
            workers.start()
            stack.callback(workers.stop)
            log.info("planungsdaten %s ready at %s", __version__, active.app.public_url)
            yield

    app = FastAPI(
        title="planungsdaten",
        version=__version__,
        description=(
            "Planungsdaten auf Knopfdruck: offene Planungsdaten und ISEK/IGEK-Datenpakete "
            "für die Gemeinden Sachsen-Anhalts. OGC API Features unter /ogc."
        ),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    add_exception_handlers(app)
    document_problems(app)
    if settings.app.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.app.cors_origins,
            allow_methods=["GET", "HEAD", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Accept", "If-None-Match"],
            expose_headers=["Location", "Retry-After", "ETag", "Content-Disposition", "Link"],
            max_age=3600,
        )
    app.add_middleware(SecurityHeadersMiddleware, settings=settings)
    app.add_middleware(BodyLimitMiddleware, settings=settings)
    app.include_router(health.router)
    app.include_router(access.router)
    app.include_router(areas.router)
    app.include_router(municipalities.router)
    app.include_router(sources.router)
    app.include_router(packages.router)
    app.include_router(downloads.router)
    app.include_router(rasters.router)
    app.include_router(catalog.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.mount("/ogc", ogc, name="ogc")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="planungsdaten – API",
            swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/vendor/swagger-ui/favicon-32x32.png",
        )

    return app
