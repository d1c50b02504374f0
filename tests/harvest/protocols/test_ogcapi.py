"""fetch_ogcapi_features(): following rel=next, loops, page limits, server errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from planungsdaten.harvest.errors import FetchError
from planungsdaten.harvest.protocols.ogcapi import fetch_ogcapi_features
from planungsdaten.settings import HarvestSettings
from tests.harvest.conftest import LocalServer, Reply, Responder, Seen

ITEMS = "/ogc/collections/parcels/items"


def _page(ids: list[int], links: list[dict[str, str]]) -> bytes:
    features = [{"type": "Feature", "id": i, "properties": {"n": i}, "geometry": None} for i in ids]
    return json.dumps({"type": "FeatureCollection", "features": features, "links": links}).encode()


def _three_pages(server: LocalServer, *, loop: bool = False) -> Responder:
    """Five features in pages of two: an absolute next link, then a relative one."""

    def respond(seen: Seen) -> Reply:
        offset = int(seen.param("offset") or 0)
        if offset == 0:
            nxt = {
                "rel": "next",
                "type": "application/geo+json",
                "href": server.url(f"{ITEMS}?f=json&limit=2&offset=2"),
            }
            html = {"rel": "next", "type": "text/html", "href": "items?f=html&offset=2"}
            return Reply(body=_page([1, 2], [html, nxt]))
        if offset == 2:
            href = f"{ITEMS}?f=json&limit=2" if loop else "items?f=json&limit=2&offset=4"
            return Reply(body=_page([3, 4], [{"rel": "next", "href": href}]))
        return Reply(body=_page([5], [{"rel": "self", "href": "items?offset=4"}]))

    return respond


def test_follows_next_links_over_three_pages(
    http_server: LocalServer, harvest_settings: HarvestSettings, tmp_path: Path
) -> None:
    http_server.route(ITEMS, _three_pages(http_server))
    crs = "http://www.opengis.net/def/crs/EPSG/0/25832"
    pages = fetch_ogcapi_features(
        http_server.url("/ogc/"), "parcels", tmp_path, settings=harvest_settings, limit=2, crs=crs
    )
    requests = http_server.requests_for(ITEMS)
    assert [r.param("offset") for r in requests] == [None, "2", "4"]
    assert requests[0].param("f") == "json"
    assert requests[0].param("limit") == "2"
    assert requests[0].param("crs") == crs
    assert len(pages) == 3
    assert all(p.path.suffix == ".geojson" for p in pages)
    ids = [f["id"] for p in pages for f in json.loads(p.path.read_bytes())["features"]]
    assert ids == [1, 2, 3, 4, 5]


def test_a_next_loop_is_detected(
    http_server: LocalServer, harvest_settings: HarvestSettings, tmp_path: Path
) -> None:
    http_server.route(ITEMS, _three_pages(http_server, loop=True))
    with pytest.raises(FetchError, match="Schleife"):
        fetch_ogcapi_features(
            http_server.url("/ogc"), "parcels", tmp_path, settings=harvest_settings, limit=2
        )
    assert len(http_server.requests_for(ITEMS)) == 2


def test_page_limit(
    http_server: LocalServer, harvest_settings: HarvestSettings, tmp_path: Path
) -> None:
    http_server.route(ITEMS, _three_pages(http_server))
    with pytest.raises(FetchError, match="mehr als 2 Seiten"):
        fetch_ogcapi_features(
            http_server.url("/ogc"),
            "parcels",
            tmp_path,
            settings=harvest_settings,
            limit=2,
            max_pages=2,
        )


def test_not_a_feature_collection(
    http_server: LocalServer, harvest_settings: HarvestSettings, tmp_path: Path
) -> None:
    http_server.route(ITEMS, Reply(body=b"<html>Portal</html>"))
    with pytest.raises(FetchError, match="kein lesbares JSON"):
        fetch_ogcapi_features(
            http_server.url("/ogc"), "parcels", tmp_path, settings=harvest_settings
        )
    assert list(tmp_path.iterdir()) == []


def test_server_error_description_is_shown(
    http_server: LocalServer, harvest_settings: HarvestSettings, tmp_path: Path
) -> None:
    problem = {"code": "InvalidParameterValue", "description": "Invalid crs parameter"}
    http_server.route(ITEMS, Reply(status=400, body=json.dumps(problem).encode()))
    with pytest.raises(FetchError, match=r"HTTP 400.*Server: Invalid crs parameter"):
        fetch_ogcapi_features(
            http_server.url("/ogc"), "parcels", tmp_path, settings=harvest_settings, crs="x"
        )
