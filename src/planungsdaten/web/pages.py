"""The HTML pages planners and operators use: start page, catalogue page, operator page.

Server-rendered from `web/templates/`; every script and style sheet is a file under
`web/static/` (the Content-Security-Policy allows scripts from the service only)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from planungsdaten import __version__
from planungsdaten.api.deps import ReadConnection
from planungsdaten.formatting import format_number
from planungsdaten.licences import licence_page
from planungsdaten.packages.themes import THEMES
from planungsdaten.publish.catalog import (
    DOWNLOADS,
    HVD_CATEGORY_LABELS,
    CatalogUrls,
    PublishedDataset,
    published_datasets,
)
from planungsdaten.templating import environment

router = APIRouter(include_in_schema=False)

BERLIN = ZoneInfo("Europe/Berlin")
# (path, label, page key) of the main navigation, in the order shown
NAVIGATION = (
    ("/", "Start", "start"),
    ("/katalog", "Katalog", "katalog"),
    ("/betrieb", "Betrieb", "betrieb"),
    ("/docs", "API-Dokumentation", "docs"),
    ("/ogc", "OGC API", "ogc"),
)
# links on these pages are relative: they work whatever host name the browser used
URLS = CatalogUrls("")


def _render(template: str, page: str, **view: Any) -> HTMLResponse:
    html = (
        environment("planungsdaten.web")
        .get_template(template)
        .render(page=page, navigation=NAVIGATION, version=__version__, **view)
    )
    return HTMLResponse(html)


@router.get("/", response_class=HTMLResponse)
def start_page() -> HTMLResponse:
    """Pick a municipality or an area, tick themes, press the button, get the package."""
    return _render("start.html.j2", "start", themes=list(THEMES.values()))


def _dataset_view(dataset: PublishedDataset) -> dict[str, Any]:
    spec = dataset.spec
    cid = spec.collection_id
    licences = []
    for uri in dataset.licences:
        title, href = licence_page(uri) or (uri, uri)
        licences.append({"title": title, "href": href})
    published = dataset.published_at
    category = spec.hvd_category
    return {
        "id": cid,
        "title": spec.title,
        "description": spec.description,
        "licences": licences,
        "attribution": dataset.attribution,
        "harvested": published.astimezone(BERLIN).strftime("%d.%m.%Y, %H:%M Uhr")
        if published
        else "unbekannt",
        "harvested_iso": published.isoformat(timespec="seconds") if published else "",
        "feature_count": format_number(dataset.feature_count, 0),
        "hvd_category": HVD_CATEGORY_LABELS.get(category, category) if category else None,
        "page": URLS.dataset(cid),
        "collection": URLS.collection(cid),
        "items": f"{URLS.collection(cid)}/items",
        "dcat": f"{URLS.dataset(cid)}?f=ttl",
        "downloads": [
            {"label": d.label, "href": URLS.download(cid, d.suffix), "media_type": d.media_type}
            for d in DOWNLOADS
        ],
    }


@router.get("/katalog", response_class=HTMLResponse)
def catalogue_page(conn: ReadConnection) -> HTMLResponse:
    """Every published dataset with description, licence, last harvest and its links."""
    datasets = [_dataset_view(d) for d in published_datasets(conn)]
    return _render("katalog.html.j2", "katalog", datasets=datasets)


@router.get("/betrieb", response_class=HTMLResponse)
def operator_page() -> HTMLResponse:
    """Sources, their runs and failures, and harvests on demand (operator key required)."""
    return _render("betrieb.html.j2", "betrieb")
