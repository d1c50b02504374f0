"""WFS 2.0.0 GetFeature, paged with STARTINDEX/COUNT, every page a file of its own."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from lxml import etree

from planungsdaten.harvest.errors import FetchError, HarvestError
from planungsdaten.harvest.protocols.http import Download, HttpStatusError, download
from planungsdaten.harvest.xmlsafety import read_prolog, refuse_dtd
from planungsdaten.settings import HarvestSettings

logger = logging.getLogger(__name__)

MAX_PAGES = 100_000
_KVP_KEYS = ("SERVICE", "VERSION", "REQUEST", "TYPENAMES", "COUNT", "STARTINDEX")
_MEMBER_NAMES = frozenset({"member", "featureMember"})


@dataclass(frozen=True)
class _Page:
    """What the first bytes of a GetFeature response say."""

    matched: int | None
    returned: int


def combined_sha256(downloads: Sequence[Download]) -> str:
    """One fingerprint for a paged download: sha256 over the pages' digests, in order."""
    return hashlib.sha256("\n".join(d.sha256 for d in downloads).encode("ascii")).hexdigest()


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _exception_texts(root: etree._Element) -> list[str]:
    texts = []
    for element in root.iter():
        if _local(element.tag) == "ExceptionText" and element.text and element.text.strip():
            texts.append(" ".join(element.text.split()))
    if not texts:
        for element in root.iter():
            if _local(element.tag) == "Exception" and element.get("exceptionCode"):
                texts.append(element.get("exceptionCode", ""))
    return texts


def _safe_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def exception_report(data: bytes) -> str | None:
    """The text of an OGC `ows:ExceptionReport` in `data`, or None when it is none."""
    prolog = read_prolog(data)
    if prolog is None or prolog.doctype is not None or prolog.exhausted:
        return None  # not XML, or with a DTD (an HTML error page, or worse): left unparsed
    try:
        root = etree.fromstring(data, parser=_safe_parser())
    except etree.XMLSyntaxError:
        return None
    if _local(root.tag) not in ("ExceptionReport", "ServiceExceptionReport"):
        return None
    return "; ".join(_exception_texts(root)) or "(ohne Text)"


def _int_attribute(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None  # "unknown" is allowed by WFS 2.0
    return int(value)


def _count_members(path: Path) -> int:
    """Features in a FeatureCollection without numberReturned, counted while streaming."""
    count = 0
    depth = 0
    for event, element in etree.iterparse(
        str(path),
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=True,
    ):
        if event == "start":
            depth += 1
            continue
        depth -= 1
        if depth == 1:
            name = _local(element.tag)
            if name in _MEMBER_NAMES:
                count += 1
            elif name == "featureMembers":
                count += len(element)
            element.clear()
    return count


def _read_xml_page(path: Path, url: str) -> _Page:
    refuse_dtd(path, f"WFS-Antwort von {url}")
    try:
        for _, root in etree.iterparse(
            str(path),
            events=("start",),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=True,
        ):
            name = _local(root.tag)
            if name in ("ExceptionReport", "ServiceExceptionReport"):
                text = exception_report(path.read_bytes())
                raise FetchError(f"WFS {url} meldet einen Fehler: {text}")
            if name != "FeatureCollection":
                raise FetchError(
                    f"WFS {url} lieferte keine FeatureCollection, sondern <{root.tag}>"
                )
            matched = _int_attribute(root.get("numberMatched"))
            returned = _int_attribute(root.get("numberReturned"))
            if returned is None:
                returned = _int_attribute(root.get("numberOfFeatures"))
            break
        else:
            raise FetchError(f"WFS {url} lieferte eine leere Antwort")
    except etree.XMLSyntaxError as e:
        raise FetchError(f"WFS {url} lieferte kein lesbares XML: {e}") from e
    if returned is None:
        returned = _count_members(path)
    return _Page(matched=matched, returned=returned)


def _read_json_page(path: Path, url: str) -> _Page:
    try:
        data = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise FetchError(f"WFS {url} lieferte kein lesbares JSON: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("features"), list):
        raise FetchError(f"WFS {url} lieferte keine GeoJSON-FeatureCollection")
    matched = data.get("numberMatched", data.get("totalFeatures"))
    return _Page(
        matched=matched if isinstance(matched, int) else None, returned=len(data["features"])
    )


def _read_page(path: Path, url: str) -> _Page:
    with path.open("rb") as fh:
        head = fh.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return _read_xml_page(path, url)
    return _read_json_page(path, url)


def _page_url(url: str, params: dict[str, str]) -> str:
    """`url` with our KVP parameters; same-named ones already in it (any case) are replaced."""
    parsed = httpx.URL(url)
    ours = {key.upper() for key in params}
    kept = [(k, v) for k, v in parsed.params.multi_items() if k.upper() not in ours]
    return str(parsed.copy_with(params=httpx.QueryParams([*kept, *params.items()])))


def _extension(output_format: str | None) -> str:
    return "json" if output_format and "json" in output_format.lower() else "gml"


def fetch_wfs(
    url: str,
    type_name: str,
    dest_dir: Path,
    *,
    settings: HarvestSettings,
    page_size: int = 5000,
    srs_name: str | None = None,
    output_format: str | None = None,
    client: httpx.Client | None = None,
) -> list[Download]:
    """All features of `type_name` as GetFeature pages in `dest_dir`, in order."""
    if page_size < 1:
        raise ValueError("page_size must be positive")
    stem = re.sub(r"[^\w.\-]+", "_", type_name)
    base: dict[str, str] = {
        "SERVICE": "WFS",
        "VERSION": "2.0.0",
        "REQUEST": "GetFeature",
        "TYPENAMES": type_name,
        "COUNT": str(page_size),
    }
    if srs_name:
        base["SRSNAME"] = srs_name
    if output_format:
        base["OUTPUTFORMAT"] = output_format
    pages: list[Download] = []
    start = 0
    http = client if client is not None else httpx.Client()
    try:
        for number in range(1, MAX_PAGES + 1):
            page_url = _page_url(url, {**base, "STARTINDEX": str(start)})
            try:
                page = download(
                    page_url,
                    dest_dir,
                    settings=settings,
                    client=http,
                    name=f"{stem}-{number:05d}.{_extension(output_format)}",
                )
            except HttpStatusError as e:
                text = exception_report(e.body)
                if text is None:
                    raise
                raise FetchError(f"WFS {page_url} meldet einen Fehler: {text}") from e
            try:
                info = _read_page(page.path, page_url)
            except HarvestError:
                page.path.unlink(missing_ok=True)
                raise
            if pages and page.sha256 == pages[-1].sha256 and info.returned:
                raise FetchError(
                    f"WFS {url} liefert für STARTINDEX={start} dieselbe Seite wie zuvor: "
                    "der Server beachtet STARTINDEX nicht – Paging ist so nicht möglich"
                )
            pages.append(page)
            start += info.returned
            logger.info("wfs %s %s: page %d, %d features", url, type_name, number, start)
            if info.matched is not None:
                if start >= info.matched:
                    return pages
                if info.returned == 0:
                    raise FetchError(
                        f"WFS {url} lieferte für {type_name} nur {start} von "
                        f"{info.matched} Objekten (numberMatched), dann keine mehr"
                    )
            elif info.returned < page_size:
                return pages
        raise FetchError(f"WFS {url}: mehr als {MAX_PAGES} Seiten für {type_name}, abgebrochen")
    finally:
        if client is None:
            http.close()
