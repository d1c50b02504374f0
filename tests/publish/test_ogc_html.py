"""pygeoapi's HTML pages under /ogc load every script, stylesheet, icon and image from the
service itself: no CDN, no web fonts, no tiles of an internet basemap."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi.testclient import TestClient

from planungsdaten.publish.ogc_config import COLLECTIONS
from tests.conftest import sample_client

COLLECTION_IDS = sorted(spec.collection_id for spec in COLLECTIONS.values())
FORBIDDEN = ("tile.openstreetmap.org", "unpkg", "cdn", "googleapis")
# a tile layer with a literal URL: pygeoapi's basemap
BASEMAP = re.compile(r"""L\.[Tt]ileLayer\(\s*['"]""")
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)['"]?\s*\)""")


class Assets(HTMLParser):
    """The URLs a browser loads for a page: scripts, stylesheets, icons and images."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.lang: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        rel = set((attr.get("rel") or "").lower().split())
        if tag == "html":
            self.lang = attr.get("lang")
        elif tag in ("script", "img") and attr.get("src"):
            self.urls.append(attr["src"] or "")
        elif tag == "link" and rel & {"stylesheet", "icon", "preload"} and attr.get("href"):
            self.urls.append(attr["href"] or "")


@pytest.fixture(scope="module")
def client(
    server_url: str, sample_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    data_dir = tmp_path_factory.mktemp("ogc_html") / "data"
    with sample_client(server_url, sample_database, data_dir, "planungsdaten_ogc_html") as client:
        yield client


def own_path(client: TestClient, url: str) -> str:
    """`url` as a path of the service; fails for anything loaded from another host."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        own = urlsplit(client.app.state.settings.app.public_url)  # type: ignore[attr-defined]
        assert (parts.scheme, parts.netloc) == (own.scheme, own.netloc), f"external: {url}"
    assert parts.path.startswith("/"), f"not a path of the service: {url}"
    return parts.path + (f"?{parts.query}" if parts.query else "")


def assert_loads_only_local_assets(client: TestClient, path: str, status: int = 200) -> None:
    response = client.get(path)
    assert response.status_code == status, path
    assert response.headers["content-type"].startswith("text/html"), path
    page = response.text
    for word in FORBIDDEN:
        assert word not in page.lower(), f"{word!r} in {path}"
    parser = Assets()
    parser.feed(page)
    assert parser.lang == "de", path
    assert parser.urls, path
    for url in parser.urls:
        asset = own_path(client, url)
        loaded = client.get(asset)
        assert loaded.status_code == 200, (path, url)
        if asset.endswith(".css"):
            # images and fonts a stylesheet pulls in (leaflet's marker icons, for one)
            for ref in CSS_URL.findall(loaded.text):
                if not ref.startswith(("data:", "#")):
                    nested = own_path(client, urljoin(url, ref))
                    assert client.get(nested).status_code == 200, (path, url, ref)


def first_item(client: TestClient, collection: str) -> str:
    page = client.get(f"/ogc/collections/{collection}/items", params={"f": "json", "limit": 1})
    return str(page.json()["features"][0]["id"])


@pytest.mark.parametrize(
    "path",
    [
        "/ogc/?f=html",
        "/ogc/conformance?f=html",
        "/ogc/collections?f=html",
        "/ogc/openapi?f=html",
        "/ogc/openapi?f=html&ui=redoc",
    ],
)
def test_service_pages(client: TestClient, path: str) -> None:
    assert_loads_only_local_assets(client, path)


@pytest.mark.parametrize("collection", COLLECTION_IDS)
def test_collection_pages(client: TestClient, collection: str) -> None:
    base = f"/ogc/collections/{collection}"
    for page in ("", "/queryables", "/schema", "/items"):
        assert_loads_only_local_assets(client, f"{base}{page}?f=html")
    assert_loads_only_local_assets(client, f"{base}/items/{first_item(client, collection)}?f=html")
    assert_loads_only_local_assets(client, f"{base}/items/gibt-es-nicht?f=html", status=404)


@pytest.mark.parametrize("collection", COLLECTION_IDS)
def test_linked_html_pages(client: TestClient, collection: str) -> None:
    """Whatever HTML a collection links to (tiles, once published, among them)."""
    links = client.get(f"/ogc/collections/{collection}", params={"f": "json"}).json()["links"]
    own = client.app.state.settings.app.public_url  # type: ignore[attr-defined]
    pages = {
        own_path(client, link["href"])
        for link in links
        if link.get("type") == "text/html" and link["href"].startswith(f"{own}/ogc/")
    }
    assert pages
    for page in sorted(pages):
        assert_loads_only_local_assets(client, page)


def test_coverage_pages(client: TestClient) -> None:
    """The raster collections (OGC API Coverages) and every HTML page they link to."""
    listed = client.get("/ogc/collections", params={"f": "json"}).json()["collections"]
    rasters = sorted(
        c["id"] for c in listed if any(link["rel"].endswith("/coverage") for link in c["links"])
    )
    assert "gelaende" in rasters  # the sample terrain model
    own = client.app.state.settings.app.public_url  # type: ignore[attr-defined]
    for collection in rasters:
        base = f"/ogc/collections/{collection}"
        for page in ("", "/schema", "/coverage"):
            assert_loads_only_local_assets(client, f"{base}{page}?f=html")
        links = client.get(base, params={"f": "json"}).json()["links"]
        for link in links:
            if link.get("type") == "text/html" and link["href"].startswith(f"{own}/ogc/"):
                assert_loads_only_local_assets(client, own_path(client, link["href"]))


def test_maps_have_no_basemap(client: TestClient) -> None:
    """With `server.map.url` empty the maps add no tile layer but keep the data attribution."""
    collection = COLLECTION_IDS[0]
    item = first_item(client, collection)
    for path in (
        f"/ogc/collections/{collection}?f=html",
        f"/ogc/collections/{collection}/items?f=html",
        f"/ogc/collections/{collection}/items/{item}?f=html",
    ):
        page = client.get(path).text
        assert "L.map(" in page, path
        assert not BASEMAP.search(page), path
        assert "addAttribution('Daten: " in page, path
