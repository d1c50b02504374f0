"""The catalogue page lists every published dataset with its licence, last harvest and
links that work: the OGC API collection, the DCAT record, the dataset page, a download."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect
from pydantic import SecretStr
from rdflib import Graph, namespace

from planungsdaten.db.engine import make_engine
from planungsdaten.licences import licence_name
from planungsdaten.publish.catalog import published_datasets
from planungsdaten.settings import DatabaseSettings
from tests.web.conftest import Service


def test_catalogue_lists_every_published_dataset_with_working_links(
    page: Page, screenshot: Callable[[str], Path], service: Service
) -> None:
    engine = make_engine(DatabaseSettings(url=SecretStr(service.database_url)))
    with engine.connect() as conn:
        datasets = {d.spec.collection_id: d for d in published_datasets(conn)}
    engine.dispose()
    assert datasets

    page.goto("/katalog")
    screenshot("catalogue")
    expect(page.get_by_role("heading", level=1)).to_have_text("Katalog der offenen Datensätze")
    articles = page.locator("article.dataset")
    expect(articles).to_have_count(len(datasets))

    for article in articles.all():
        collection_id = (article.get_attribute("id") or "").removeprefix("datensatz-")
        dataset = datasets[collection_id]
        expect(article.get_by_role("heading", level=2)).to_have_text(dataset.spec.title)
        facts = article.locator("dl").inner_text()
        for uri in dataset.licences:
            assert licence_name(uri) in facts
        assert dataset.attribution in facts
        assert re.search(r"Letzte Ernte\s+\d\d\.\d\d\.\d{4}, \d\d:\d\d Uhr", facts), facts

        links = {
            kind: article.locator(f"a[data-link={kind}]").first.get_attribute("href") or ""
            for kind in ("ogc", "dcat", "page", "download")
        }
        assert links["ogc"] == f"/ogc/collections/{collection_id}"
        collection = page.request.get(links["ogc"] + "?f=json")
        assert collection.status == 200 and collection.json()["id"] == collection_id

        record = page.request.get(links["dcat"])
        assert record.status == 200, links["dcat"]
        assert record.headers["content-type"].startswith("text/turtle")
        graph = Graph().parse(data=record.text(), format="turtle")
        assert len(list(graph.subjects(namespace.RDF.type, namespace.DCAT.Dataset))) == 1

        assert page.request.get(links["page"]).status == 200
        assert links["download"] == f"/downloads/{collection_id}.gpkg"

    # one bulk download all the way (the smallest: generated on first request)
    smallest = min(datasets.values(), key=lambda d: d.feature_count).spec.collection_id
    link = page.locator(f"#datensatz-{smallest} a[data-link=download]").nth(1)
    expect(link).to_contain_text("GeoJSON")
    response = page.request.get(link.get_attribute("href") or "")
    assert response.status == 200
    assert response.json()["type"] == "FeatureCollection"

    # the page's own link to the OGC collection opens it in the browser
    page.locator(f"#datensatz-{smallest} a[data-link=ogc]").click()
    expect(page).to_have_url(re.compile(rf"/ogc/collections/{smallest}"))
    screenshot("ogc-collection")
