"""/catalog: the DCAT-AP.de/HVD catalogue for open-data portals, and the HVD pages."""

from __future__ import annotations

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse, Response

from planungsdaten.api.deps import ReadConnection
from planungsdaten.publish import catalog
from planungsdaten.settings import Settings

router = APIRouter(tags=["Katalog (DCAT-AP.de)"])

HTML = "text/html"
RDF_MEDIA_TYPES = [media for media, _ in catalog.RDF_FORMATS.values()]
FORMAT_QUERY = Query(None, description="ttl, rdf (RDF/XML) oder jsonld; sonst nach Accept")
PAGE_QUERY = Query(1, ge=1, description="Seite des Katalogs (Hydra-Paging)")
RDF_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {media: {} for media in RDF_MEDIA_TYPES}, "description": "Katalog"},
    404: {"description": "Seite gibt es nicht"},
}


def _rdf_response(body: bytes, fmt: str, vary: bool) -> Response:
    media_type, _ = catalog.RDF_FORMATS[fmt]
    headers = {"Vary": "Accept"} if vary else {}
    if fmt == "ttl":
        media_type += "; charset=utf-8"
    return Response(body, media_type=media_type, headers=headers)


def _catalog(
    request: Request, conn: ReadConnection, fmt: str, page: int, view_base: str, vary: bool
) -> Response:
    settings: Settings = request.app.state.settings
    public_url = settings.app.public_url
    graph = catalog.build_catalog(
        catalog.catalogue_datasets(conn), settings.catalog, public_url, page, view_base
    )
    return _rdf_response(catalog.serialize(graph, fmt), fmt, vary)


@router.get(
    "/catalog",
    summary="Katalog (DCAT-AP.de 3.0, HVD)",
    response_class=Response,
    responses=RDF_RESPONSES,
)
def get_catalog(
    request: Request,
    conn: ReadConnection,
    f: catalog.RdfFormat | None = FORMAT_QUERY,
    page: int = PAGE_QUERY,
    accept: str | None = Header(None, include_in_schema=False),
) -> Response:
    """The catalogue in Turtle (default), RDF/XML or JSON-LD, by `?f=` or the Accept header."""
    public_url = request.app.state.settings.app.public_url
    if f is not None:
        return _catalog(request, conn, f, page, f"{public_url}/catalog?f={f}", vary=False)
    media = catalog.negotiate(accept, RDF_MEDIA_TYPES, RDF_MEDIA_TYPES[0])
    fmt = catalog.format_for_media_type(media)
    return _catalog(request, conn, fmt, page, f"{public_url}/catalog", vary=True)


def _fixed(request: Request, conn: ReadConnection, fmt: str, page: int) -> Response:
    public_url = request.app.state.settings.app.public_url
    return _catalog(request, conn, fmt, page, f"{public_url}/catalog.{fmt}", vary=False)


@router.get(
    "/catalog.ttl", summary="Katalog als Turtle", response_class=Response, responses=RDF_RESPONSES
)
def catalog_turtle(request: Request, conn: ReadConnection, page: int = PAGE_QUERY) -> Response:
    """The catalogue as Turtle."""
    return _fixed(request, conn, "ttl", page)


@router.get(
    "/catalog.rdf", summary="Katalog als RDF/XML", response_class=Response, responses=RDF_RESPONSES
)
def catalog_rdfxml(request: Request, conn: ReadConnection, page: int = PAGE_QUERY) -> Response:
    """The catalogue as RDF/XML."""
    return _fixed(request, conn, "rdf", page)


@router.get(
    "/catalog.jsonld",
    summary="Katalog als JSON-LD",
    response_class=Response,
    responses=RDF_RESPONSES,
)
def catalog_jsonld(request: Request, conn: ReadConnection, page: int = PAGE_QUERY) -> Response:
    """The catalogue as JSON-LD."""
    return _fixed(request, conn, "jsonld", page)


@router.get("/catalog/api", summary="Seite der Schnittstelle (HVD)", response_class=HTMLResponse)
def api_page(request: Request, conn: ReadConnection) -> HTMLResponse:
    """Documentation, terms of use, quality of service and contact of the OGC API."""
    settings: Settings = request.app.state.settings
    datasets = catalog.catalogue_datasets(conn)
    return HTMLResponse(
        catalog.render_api_page(datasets, settings.catalog, settings.app.public_url)
    )


@router.get(
    "/catalog/datasets/{collection_id}",
    summary="Seite eines Datensatzes (HVD)",
    response_class=HTMLResponse,
    responses={
        200: {"content": {HTML: {}, **{media: {} for media in RDF_MEDIA_TYPES}}},
        404: {"description": "Kein veröffentlichter Datensatz mit dieser Kennung"},
    },
)
def dataset_page(
    request: Request,
    conn: ReadConnection,
    collection_id: str,
    f: catalog.RdfFormat | None = FORMAT_QUERY,
    accept: str | None = Header(None, include_in_schema=False),
) -> Response:
    """The dataset's page in German HTML, or its DCAT record (`?f=` or Accept)."""
    settings: Settings = request.app.state.settings
    public_url = settings.app.public_url
    datasets = catalog.catalogue_datasets(conn)
    fmt: str | None = f
    if fmt is None:
        media = catalog.negotiate(accept, [HTML, *RDF_MEDIA_TYPES], HTML)
        fmt = None if media == HTML else catalog.format_for_media_type(media)
    if fmt is None:
        page = catalog.render_dataset_page(datasets, collection_id, settings.catalog, public_url)
        return HTMLResponse(page, headers={"Vary": "Accept"})
    graph = catalog.build_dataset_record(datasets, collection_id, settings.catalog, public_url)
    return _rdf_response(catalog.serialize(graph, fmt), fmt, vary=f is None)
