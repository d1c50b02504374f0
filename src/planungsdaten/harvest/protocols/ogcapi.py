"""OGC API Features: the items of one collection, page by page along the `next` links."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

import httpx

from planungsdaten.harvest.errors import FetchError
from planungsdaten.harvest.hosts import check_url
from planungsdaten.harvest.protocols.http import Download, HttpStatusError, download
from planungsdaten.settings import HarvestSettings

logger = logging.getLogger(__name__)

_JSON_TYPES = ("application/geo+json", "application/json", None)


def _next_link(page: dict[str, Any], page_url: str) -> str | None:
    """The absolute URL of the page's `next` link, preferring GeoJSON; None on the last page."""
    links = page.get("links")
    if not isinstance(links, list):
        return None
    candidates = [
        link
        for link in links
        if isinstance(link, dict)
        and link.get("rel") == "next"
        and isinstance(link.get("href"), str)
    ]
    for wanted in _JSON_TYPES:
        for link in candidates:
            if link.get("type") == wanted:
                return urljoin(page_url, link["href"])
    return urljoin(page_url, candidates[0]["href"]) if candidates else None


def _loop_key(url: str) -> str:
    """`url` with its query parameters sorted, so a reordered link still counts as seen."""
    parsed = httpx.URL(url)
    return str(parsed.copy_with(params=sorted(parsed.params.multi_items())))


def _read_page(download_: Download) -> dict[str, Any]:
    try:
        page = json.loads(download_.path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        download_.path.unlink(missing_ok=True)
        raise FetchError(f"OGC API {download_.url} lieferte kein lesbares JSON: {e}") from e
    if not isinstance(page, dict) or page.get("type") != "FeatureCollection":
        download_.path.unlink(missing_ok=True)
        raise FetchError(f"OGC API {download_.url} lieferte keine GeoJSON-FeatureCollection")
    return page


def _problem(error: HttpStatusError) -> str:
    """The server's own explanation from an OGC API exception body, if it sent one."""
    try:
        body = json.loads(error.body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return ""
    if isinstance(body, dict):
        text = body.get("description") or body.get("detail") or body.get("title")
        if isinstance(text, str) and text.strip():
            return f" – Server: {text.strip()}"
    return ""


def fetch_ogcapi_features(
    base_url: str,
    collection: str,
    dest_dir: Path,
    *,
    settings: HarvestSettings,
    limit: int = 1000,
    crs: str | None = None,
    client: httpx.Client | None = None,
    max_pages: int = 10_000,
) -> list[Download]:
    """All items of `collection` as GeoJSON pages in `dest_dir`, following `rel=next`."""
    params = {"f": "json", "limit": str(limit)}
    if crs:
        params["crs"] = crs
    url: str | None = str(
        httpx.URL(
            f"{base_url.rstrip('/')}/collections/{quote(collection, safe='')}/items"
        ).copy_merge_params(params)
    )
    stem = re.sub(r"[^\w.\-]+", "_", collection)
    seen: set[str] = set()
    pages: list[Download] = []
    http = client if client is not None else httpx.Client()
    try:
        while url is not None:
            key = _loop_key(url)
            if key in seen:
                raise FetchError(
                    f"OGC API {base_url}: der next-Link von Seite {len(pages)} der Sammlung "
                    f"'{collection}' führt zurück auf {url} – Schleife, abgebrochen"
                )
            if len(pages) >= max_pages:
                raise FetchError(
                    f"OGC API {base_url}: mehr als {max_pages} Seiten für die Sammlung "
                    f"'{collection}', abgebrochen"
                )
            seen.add(key)
            try:
                page = download(
                    url,
                    dest_dir,
                    settings=settings,
                    client=http,
                    name=f"{stem}-{len(pages) + 1:05d}.geojson",
                )
            except HttpStatusError as e:
                raise FetchError(f"{e}{_problem(e)}") from e
            content = _read_page(page)
            pages.append(page)
            logger.info(
                "ogcapi %s %s: page %d, %d features",
                base_url,
                collection,
                len(pages),
                len(content.get("features") or []),
            )
            following = _next_link(content, url)
            if following is not None:
                check_url(following, settings, via=f"next-Link der Seite {url}")
            url = following
        return pages
    finally:
        if client is None:
            http.close()
