"""INSPIRE pre-defined ATOM download services: service feed → dataset feed → file links."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from urllib.parse import urljoin

import httpx
from lxml import etree

from planungsdaten.harvest.errors import FetchError
from planungsdaten.harvest.hosts import check_url
from planungsdaten.harvest.protocols.http import download
from planungsdaten.harvest.xmlsafety import refuse_dtd
from planungsdaten.settings import HarvestSettings

ATOM_NS = "http://www.w3.org/2005/Atom"
INSPIRE_DLS_NS = "http://inspire.ec.europa.eu/schemas/inspire_dls/1.0"
_NS = {"atom": ATOM_NS, "inspire_dls": INSPIRE_DLS_NS}
_FEED_TYPE = "application/atom+xml"
_NOT_DATASET_FEED = frozenset({"describedby", "self", "related", "search", "up"})
_MAX_FEED_BYTES = 64 * 1024**2
_EPSG = re.compile(r"EPSG(?:/\d+/|:[\d.]*:|:)(\d+)\s*$", re.IGNORECASE)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _fetch_feed(url: str, settings: HarvestSettings, client: httpx.Client) -> etree._Element:
    """The parsed Atom feed at `url`; downloaded with the usual retries, then discarded."""
    limited = settings.model_copy(
        update={"max_download_bytes": min(settings.max_download_bytes, _MAX_FEED_BYTES)}
    )
    with tempfile.TemporaryDirectory(prefix="atom-") as tmp:
        feed = download(url, Path(tmp), settings=limited, client=client, name="feed.xml")
        refuse_dtd(feed.path, f"ATOM-Feed {url}")
        try:
            root = etree.parse(str(feed.path), parser=_parser()).getroot()
        except etree.XMLSyntaxError as e:
            raise FetchError(f"ATOM-Feed {url} ist kein lesbares XML: {e}") from e
    if root.tag != f"{{{ATOM_NS}}}feed":
        raise FetchError(f"{url} ist kein ATOM-Feed (Wurzelelement <{root.tag}>)")
    return root


def _dataset_ids(entry: etree._Element) -> set[str]:
    """Every spelling under which the entry's dataset may be asked for."""
    code = (entry.findtext("inspire_dls:spatial_dataset_identifier_code", "", _NS) or "").strip()
    namespace = (
        entry.findtext("inspire_dls:spatial_dataset_identifier_namespace", "", _NS) or ""
    ).strip()
    if not code:
        return set()
    ids = {code}
    if namespace:
        ids |= {f"{namespace}{code}", f"{namespace.rstrip('/#')}/{code}"}
    return ids


def _code(entry: etree._Element) -> str:
    code = entry.findtext("inspire_dls:spatial_dataset_identifier_code", "", _NS) or ""
    return code.strip() or (entry.findtext("atom:title", "", _NS) or "").strip() or "(ohne Kennung)"


def _pick_entry(entries: list[etree._Element], dataset_id: str | None, url: str) -> etree._Element:
    if not entries:
        raise FetchError(f"ATOM-Dienst {url} enthält keine Datensätze (keine <entry>)")
    if dataset_id is None:
        if len(entries) == 1:
            return entries[0]
        codes = ", ".join(_code(e) for e in entries)
        raise FetchError(
            f"ATOM-Dienst {url} bietet {len(entries)} Datensätze an ({codes}): "
            "die gewünschte Kennung (spatial_dataset_identifier_code) angeben"
        )
    for entry in entries:
        if dataset_id.strip() in _dataset_ids(entry):
            return entry
    codes = ", ".join(_code(e) for e in entries)
    raise FetchError(
        f"ATOM-Dienst {url} enthält keinen Datensatz mit der Kennung {dataset_id} "
        f"(angeboten: {codes})"
    )


def _dataset_feed_link(entry: etree._Element, url: str) -> str:
    links = [link for link in entry.findall("atom:link", _NS) if link.get("href", "").strip() != ""]

    def rel(link: etree._Element) -> str:
        return link.get("rel", "alternate")

    choices = (
        [lk for lk in links if rel(lk) == "alternate" and lk.get("type") == _FEED_TYPE]
        or [lk for lk in links if lk.get("type") == _FEED_TYPE and rel(lk) not in _NOT_DATASET_FEED]
        or [lk for lk in links if rel(lk) == "alternate" and not lk.get("type")]
    )
    if not choices:
        raise FetchError(
            f"ATOM-Dienst {url}: der Eintrag {_code(entry)} verweist auf keinen Dataset-Feed "
            f'(kein <link rel="alternate" type="{_FEED_TYPE}">)'
        )
    return urljoin(url, choices[0].get("href", "").strip())


def _crs_key(term: str) -> str:
    match = _EPSG.search(term.strip())
    return f"EPSG:{match.group(1)}" if match else term.strip()


def _entry_crs(entry: etree._Element) -> set[str]:
    return {_crs_key(c.get("term", "")) for c in entry.findall("atom:category", _NS)}


def _file_links(entry: etree._Element, url: str) -> list[str]:
    links = entry.findall("atom:link", _NS)
    sections = [lk for lk in links if lk.get("rel") == "section"]
    chosen = sections or [
        lk
        for lk in links
        if lk.get("rel", "alternate") == "alternate" and lk.get("type") != _FEED_TYPE
    ]
    return [urljoin(url, lk.get("href", "").strip()) for lk in chosen if lk.get("href", "").strip()]


def resolve_atom(
    service_feed_url: str,
    *,
    settings: HarvestSettings,
    dataset_id: str | None = None,
    crs: str | None = None,
    client: httpx.Client | None = None,
) -> list[str]:
    """The download links of one dataset of an INSPIRE ATOM service, optionally for one CRS."""
    http = client if client is not None else httpx.Client()
    try:
        service = _fetch_feed(service_feed_url, settings, http)
        entry = _pick_entry(service.findall("atom:entry", _NS), dataset_id, service_feed_url)
        dataset_url = _dataset_feed_link(entry, service_feed_url)
        check_url(dataset_url, settings, via=f"Link im ATOM-Feed {service_feed_url}")
        dataset = _fetch_feed(dataset_url, settings, http)
    finally:
        if client is None:
            http.close()
    entries = dataset.findall("atom:entry", _NS)
    if crs is not None:
        wanted = _crs_key(crs)
        offered = sorted({c for e in entries for c in _entry_crs(e)})
        entries = [e for e in entries if wanted in _entry_crs(e)]
        if not entries:
            raise FetchError(
                f"Dataset-Feed {dataset_url} bietet kein Koordinatensystem {crs} an "
                f"(angeboten: {', '.join(offered) or 'keine Angabe'})"
            )
    links: list[str] = []
    for item in entries:
        links.extend(href for href in _file_links(item, dataset_url) if href not in links)
    if not links:
        raise FetchError(f"Dataset-Feed {dataset_url} enthält keine Download-Links")
    # all of them before the first download: a feed pointing inside fails as a whole
    for link in links:
        check_url(link, settings, via=f"Download-Link im ATOM-Feed {dataset_url}")
    return links
