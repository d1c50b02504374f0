"""/collections/{id}/items for collections served by our provider: parameters checked as
OGC API Features parts 1–3 require, an exact bbox, and GeoJSON pages streamed from PostGIS.

The handler has pygeoapi's signature (`api, request, dataset` → headers, status, content)
and returns pygeoapi's documents and error bodies; only its GeoJSON content is an
iterator of bytes, written while the rows arrive. Collections served by other providers
go to pygeoapi's own handler.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import threading
import time
import urllib.parse
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import pygeoapi.api.itemtypes as itemtypes_api
from pygeoapi import l10n
from pygeoapi.api import (
    API,
    SYSTEM_LOCALE,
    APIRequest,
    evaluate_limit,
    validate_datetime,
)
from pygeoapi.crs import (
    DEFAULT_CRS,
    get_supported_crs_list,
    modify_pygeofilter,
    set_content_crs_header,
)
from pygeoapi.formats import F_HTML, F_JSON, F_JSONLD, FORMAT_TYPES
from pygeoapi.linked_data import geojson2jsonld
from pygeoapi.plugin import load_plugin
from pygeoapi.provider import get_provider_by_type
from pygeoapi.provider.base import ProviderGenericError
from pygeoapi.util import filter_dict_by_key_value, render_j2_template, str2bool, to_json
from pygeofilter.parsers.cql2_json import parse as parse_cql2_json
from pygeofilter.parsers.cql2_text import parse as parse_cql2_text

from planungsdaten.publish.bbox import BboxError, parse_bbox, search_area
from planungsdaten.publish.provider import FeatureQuery, PostGISProvider

LOGGER = logging.getLogger(__name__)
PROVIDER = f"{PostGISProvider.__module__}.{PostGISProvider.__name__}"
GEOJSON = "application/geo+json"
# the query parameters of /items that are no property filter
RESERVED = frozenset(
    {
        "bbox",
        "bbox-crs",
        "crs",
        "f",
        "lang",
        "limit",
        "offset",
        "resulttype",
        "datetime",
        "sortby",
        "properties",
        "skipGeometry",
        "q",
        "filter",
        "filter-lang",
        "filter-crs",
        "cursor",
    }
)
FILTER_LANGS = (None, "cql-json", "cql-text", "cql2-text", "cql2-json")

Result = tuple[dict[str, str], int, Any]

# provider instances per API (one per configuration), made once rather than per request
_PROVIDERS: weakref.WeakKeyDictionary[API, dict[str, PostGISProvider]] = weakref.WeakKeyDictionary()


class BadRequest(Exception):
    """A parameter that is not acceptable; the message goes to the client."""


def provider_for(api: API, dataset: str, provider_def: dict[str, Any]) -> PostGISProvider:
    """The (cached) provider of `dataset` in this configuration."""
    cache = _PROVIDERS.setdefault(api, {})
    if dataset not in cache:
        provider = load_plugin("provider", provider_def)
        assert isinstance(provider, PostGISProvider)
        cache[dataset] = provider
    return cache[dataset]


class GeoJSONBody:
    """A FeatureCollection written while its rows arrive; once consumed, `next_params` are
    the query parameters of its `next` link (None on the last page)."""

    def __init__(self) -> None:
        self.parts: Iterator[bytes] = iter(())
        self.next_params: dict[str, str] | None = None

    def __iter__(self) -> GeoJSONBody:
        return self

    def __next__(self) -> bytes:
        return next(self.parts)


class ReadAhead:
    """The next page for a client that follows `next` links, built while it reads this one.

    Bulk readers (GDAL, QGIS) ask for a page, parse it, then ask for the next: the server's
    work for page n+1 can overlap the client's for page n. Only requests that came from a
    `next` link (they carry a cursor) are followed; a few pages are kept for a minute."""

    def __init__(self, size: int = 16, ttl_s: float = 60.0) -> None:
        self._size, self._ttl = size, ttl_s
        self._pages: OrderedDict[tuple[Any, ...], tuple[float, Future[Result]]] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ogc-read-ahead")

    @staticmethod
    def key(api: API, dataset: str, params: dict[str, str]) -> tuple[Any, ...]:
        return (id(api), dataset, tuple(sorted(params.items())))

    def take(self, api: API, dataset: str, params: dict[str, str]) -> Result | None:
        """The page built ahead for exactly these parameters, or None."""
        with self._lock:
            entry = self._pages.pop(self.key(api, dataset, params), None)
        if entry is None or time.monotonic() - entry[0] > self._ttl:
            return None
        try:
            return entry[1].result(timeout=self._ttl)
        except Exception:  # built ahead or not: the request is answered afresh
            LOGGER.warning("read-ahead page failed", exc_info=True)
            return None

    def schedule(self, api: API, request: APIRequest, dataset: str, params: dict[str, str]) -> None:
        """Build the page for `params` (the next link of `request`'s page) in the background."""
        key = self.key(api, dataset, params)
        with self._lock:
            if key in self._pages:
                return
            while len(self._pages) >= self._size:
                self._pages.popitem(last=False)
            self._pages[key] = (
                time.monotonic(),
                self._pool.submit(_build_ahead, api, request, dataset, params),
            )


def _build_ahead(api: API, request: APIRequest, dataset: str, params: dict[str, str]) -> Result:
    ahead = copy.copy(request)
    ahead._args = params  # the request as the client will send it
    headers, status, content = get_items(api, ahead, dataset, read_ahead=False)
    if isinstance(content, GeoJSONBody):
        body = GeoJSONBody()
        body.parts = iter([b"".join(content)])
        body.next_params = content.next_params
        content = body
    return headers, status, content


READ_AHEAD = ReadAhead()


def get_items(api: API, request: APIRequest, dataset: str, *, read_ahead: bool = True) -> Result:
    """Items of a collection: pygeoapi's `get_collection_items`, done by PostGIS."""
    follows = "cursor" in request.params and request.format in (None, F_JSON)
    if follows and read_ahead:
        ready = READ_AHEAD.take(api, dataset, request.params)
        if ready is not None:
            _, _, content = ready
            if isinstance(content, GeoJSONBody) and content.next_params is not None:
                READ_AHEAD.schedule(api, request, dataset, content.next_params)
            return ready
    headers = request.get_response_headers(SYSTEM_LOCALE, **api.api_headers)
    collections = filter_dict_by_key_value(api.config["resources"], "type", "collection")
    if dataset not in collections:
        return api.get_exception(
            HTTPStatus.NOT_FOUND, headers, request.format, "NotFound", "Collection not found"
        )
    collection = collections[dataset]
    provider_def = get_provider_by_type(collection["providers"], "feature")
    if provider_def.get("name") != PROVIDER:
        return itemtypes_api.get_collection_items(api, request, dataset)
    if not request.is_valid():
        return api.get_format_exception(request)
    provider = provider_for(api, dataset, provider_def)
    try:
        query = _query(api, request, collection, provider_def, provider, headers)
        page = provider.page(query)
    except BadRequest as e:
        return api.get_exception(
            HTTPStatus.BAD_REQUEST, headers, request.format, "InvalidParameterValue", str(e)
        )
    except ProviderGenericError as err:
        return api.get_exception(
            err.http_status_code, headers, request.format, err.ogc_exception_code, err.message
        )
    locale = l10n.get_plugin_locale(provider_def, request.raw_locale)
    l10n.set_response_language(headers, locale, request.locale)

    uri = f"{api.get_collections_url()}/{dataset}/items"
    links = _links(request, uri, collection, dataset)

    def tail(returned: int) -> dict[str, Any]:
        more = (
            page.matched > query.offset + returned
            if page.matched is not None
            else returned == query.limit
        )
        # in id order, `next` also says where the page ended: no OFFSET scan for deep pages
        cursor = None if query.sortby else page.last_id
        paging = _paging(request, uri, query.offset, query.limit, more, cursor)
        document: dict[str, Any] = {}
        if page.matched is not None:
            document["numberMatched"] = page.matched
        document["numberReturned"] = returned
        document["links"] = links + paging
        document["timeStamp"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return document

    if request.format in (F_HTML, F_JSONLD):
        features = page.features()
        content = {"type": "FeatureCollection", "features": features, **tail(len(features))}
        if request.format == F_JSONLD:
            return headers, HTTPStatus.OK, geojson2jsonld(api, content, dataset, id_field="id")
        content.update(
            itemtype=provider.type,
            items_path=uri,
            dataset_path=uri.rsplit("/", 1)[0],
            collections_path=api.get_collections_url(),
            offset=query.offset,
            id_field=provider.id_field,
        )
        html = render_j2_template(
            api.tpl_config,
            api.get_dataset_templates(dataset),
            "collections/items/index.html",
            content,
            request.locale,
        )
        return headers, HTTPStatus.OK, html

    headers["Content-Type"] = GEOJSON
    out = GeoJSONBody()

    def body() -> Iterator[bytes]:
        yield b'{"type":"FeatureCollection","features":['
        yield from page.chunks()
        document = tail(page.returned)
        yield b"]," + to_json(document, False)[1:].encode()
        out.next_params = _next_params(document)
        if follows and read_ahead and out.next_params is not None:
            READ_AHEAD.schedule(api, request, dataset, out.next_params)

    out.parts = body()
    return headers, HTTPStatus.OK, out


def _next_params(document: dict[str, Any]) -> dict[str, str] | None:
    """The query parameters of the page's `next` link, as the client will send them."""
    for link in document["links"]:
        if link["rel"] == "next":
            query = urllib.parse.urlsplit(link["href"]).query
            return dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    return None


def _query(
    api: API,
    request: APIRequest,
    collection: dict[str, Any],
    provider_def: dict[str, Any],
    provider: PostGISProvider,
    headers: dict[str, str],
) -> FeatureQuery:
    params = request.params
    try:
        offset = int(params.get("offset", 0))
    except ValueError as e:
        raise BadRequest("offset muss eine ganze Zahl sein") from e
    if offset < 0:
        raise BadRequest("offset darf nicht negativ sein")
    try:
        server_limits = api.config["server"].get("limits", {})
        limit = evaluate_limit(params.get("limit"), server_limits, collection.get("limits", {}))
    except ValueError as e:
        raise BadRequest(f"limit: {e}") from e
    resulttype = params.get("resulttype") or "results"
    if resulttype not in ("results", "hits"):
        raise BadRequest("resulttype muss 'results' oder 'hits' sein")

    crs = params.get("crs")
    supported = get_supported_crs_list(provider_def)
    if crs is not None and crs not in supported:
        raise BadRequest(f"crs {crs} wird nicht unterstützt; möglich: {', '.join(supported)}")
    set_content_crs_header(headers, provider_def, crs)

    area, nothing = None, False
    bbox_crs = params.get("bbox-crs")
    if "bbox" in params:
        bbox_crs = bbox_crs or DEFAULT_CRS
        if bbox_crs not in supported:
            raise BadRequest(
                f"bbox-crs {bbox_crs} wird nicht unterstützt; möglich: {', '.join(supported)}"
            )
        try:
            area = search_area(
                parse_bbox(params["bbox"]), bbox_crs, provider.storage_uri, provider.extent
            )
        except BboxError as e:
            raise BadRequest(str(e)) from e
        nothing = area is None
    elif bbox_crs is not None:
        raise BadRequest("bbox-crs ohne bbox")

    try:
        datetime_ = validate_datetime(collection["extents"], params.get("datetime"))
    except ValueError as e:
        raise BadRequest(str(e)) from e

    fields = provider.fields
    properties = tuple((k, v) for k, v in params.items() if k not in RESERVED and k in fields)
    sortby = []
    for term in filter(None, (params.get("sortby") or "").split(",")):
        sign, name = (term[0], term[1:]) if term[0] in "+-" else ("+", term)
        if name not in fields:
            raise BadRequest(f"sortby: unbekannte Eigenschaft '{name}'")
        sortby.append((name, sign))
    selected = tuple(filter(None, (params.get("properties") or "").split(",")))
    unknown = set(selected) - set(fields)
    if unknown:
        raise BadRequest(f"properties: unbekannte Eigenschaft(en) {', '.join(sorted(unknown))}")
    if params.get("filter-lang") not in FILTER_LANGS:
        raise BadRequest("filter-lang: unbekannte Filtersprache")

    return FeatureQuery(
        after=_cursor(params.get("cursor"), offset),
        offset=offset,
        limit=limit,
        area=area,
        nothing=nothing,
        datetime_=datetime_,
        properties=properties,
        sortby=tuple(sortby),
        select=selected,
        skip_geometry=str2bool(params.get("skipGeometry", False)),
        q=params.get("q") or None,
        filterq=_filter(request, provider_def),
        crs=crs or DEFAULT_CRS,
        hits=resulttype == "hits",
    )


def encode_cursor(offset: int, last_id: Any) -> str:
    """The opaque `cursor` of a next link: the offset it stands for and the last id."""
    raw = json.dumps([offset, last_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor(value: str | None, offset: int) -> Any:
    """The id to continue after, if `cursor` belongs to this `offset` (else None: the
    offset is used, so a cursor copied into another request does no harm)."""
    if value is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        cursor_offset, last_id = json.loads(raw)
    except (ValueError, TypeError) as e:
        raise BadRequest("cursor ist ungültig; bitte dem next-Link unverändert folgen") from e
    return last_id if cursor_offset == offset and last_id is not None else None


def _filter(request: APIRequest, provider_def: dict[str, Any]) -> Any:
    """The CQL2 filter of `filter` (text) or of a POSTed JSON body, as a pygeofilter AST in
    the storage CRS, or None."""
    text = request.params.get("filter")
    if text is None and not request.data:
        return None
    try:
        ast = parse_cql2_text(text) if text is not None else parse_cql2_json(request.data.decode())
        return modify_pygeofilter(
            ast,
            filter_crs_uri=request.params.get("filter-crs", DEFAULT_CRS),
            storage_crs_uri=provider_def.get("storage_crs"),
            geometry_column_name=provider_def.get("geom_field"),
        )
    except Exception as e:  # pygeofilter raises many kinds of errors on bad input
        kind = "CQL2-Text" if text is not None else "CQL2-JSON"
        raise BadRequest(f"Fehlerhafter Filter ({kind}): {e}") from e


def _links(
    request: APIRequest, uri: str, collection: dict[str, Any], dataset: str
) -> list[dict[str, str]]:
    query = _serialised(request)
    return [
        {
            "type": GEOJSON,
            "rel": request.get_linkrel(F_JSON),
            "title": l10n.translate("This document as GeoJSON", request.locale),
            "href": f"{uri}?f={F_JSON}{query}",
        },
        {
            "rel": request.get_linkrel(F_JSONLD),
            "type": FORMAT_TYPES[F_JSONLD],
            "title": l10n.translate("This document as RDF (JSON-LD)", request.locale),
            "href": f"{uri}?f={F_JSONLD}{query}",
        },
        {
            "type": FORMAT_TYPES[F_HTML],
            "rel": request.get_linkrel(F_HTML),
            "title": l10n.translate("This document as HTML", request.locale),
            "href": f"{uri}?f={F_HTML}{query}",
        },
        {
            "type": FORMAT_TYPES[F_JSON],
            "title": l10n.translate(collection["title"], request.locale),
            "rel": "collection",
            "href": uri.rsplit("/", 1)[0],
        },
    ]


def _paging(
    request: APIRequest, uri: str, offset: int, limit: int, more: bool, cursor: Any
) -> list[dict[str, str]]:
    query = _serialised(request)
    fmt = f"f={request.format}&" if request.format is not None else ""
    links = []
    if offset > 0:
        links.append(
            {
                "type": GEOJSON,
                "rel": "prev",
                "title": l10n.translate("Items (prev)", request.locale),
                "href": f"{uri}?{fmt}offset={max(0, offset - limit)}{query}",
            }
        )
    if more:
        after = "" if cursor is None else f"&cursor={encode_cursor(offset + limit, cursor)}"
        links.append(
            {
                "type": GEOJSON,
                "rel": "next",
                "title": l10n.translate("Items (next)", request.locale),
                "href": f"{uri}?{fmt}offset={offset + limit}{query}{after}",
            }
        )
    return links


def _serialised(request: APIRequest) -> str:
    """The request's parameters other than `f` and `offset`, as `&k=v…`."""
    return "".join(
        f"&{urllib.parse.quote(k, safe='')}={urllib.parse.quote(str(v), safe=',')}"
        for k, v in request.params.items()
        if k not in ("f", "offset", "cursor")
    )
