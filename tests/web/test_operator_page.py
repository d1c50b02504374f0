"""Signing in with an API key: the operator page (sources, runs, failures, harvests on
demand) and the start page for a planner (restricted data, downloads with the key)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.conftest import SAMPLE_AGS
from tests.web.conftest import BROKEN_SOURCE, Service
from tests.web.flows import build_package, download, geopackage_layers, pick_municipality

KEY_STORAGE = "planungsdaten.apiKey"


def german(count: int) -> str:
    return f"{count:,}".replace(",", ".")


def sign_in(page: Page, key: str) -> None:
    login = page.locator("#login")
    if not login.evaluate("el => el.open"):
        login.locator("summary").click()
    page.get_by_label("API-Schlüssel").fill(key)
    page.get_by_role("button", name="Anmelden").click()


def test_operator_sees_sources_and_starts_harvests(
    page: Page,
    screenshot: Callable[[str], Path],
    service: Service,
    create_key: Callable[..., str],
) -> None:
    key = create_key("Betrieb Verbund", "operator")
    page.goto("/betrieb")
    expect(page.locator("#sources-state")).to_contain_text("Betriebsschlüssel")
    expect(page.locator("article.source")).to_have_count(0)
    sign_in(page, key)
    expect(page.locator("#login-state")).to_contain_text("Angemeldet als Betrieb Verbund (Betrieb)")
    assert page.evaluate(f"() => sessionStorage.getItem('{KEY_STORAGE}')") == key

    sources = httpx.get(
        f"{service.url}/api/sources", headers={"Authorization": f"Bearer {key}"}
    ).json()
    cards = page.locator("article.source")
    expect(cards).to_have_count(len(sources))
    expect(page.locator("#sources-state")).to_contain_text(f"{len(sources)} Quellen")
    screenshot("sources")
    for source in sources:
        card = page.locator(f"article[data-source='{source['id']}']")
        expect(card.get_by_role("heading", level=2)).to_have_text(source["title"])
        run = source["last_run"]
        if run is None:
            expect(card.locator(".last-run")).to_contain_text("noch keiner")
            continue
        expect(card.locator(".last-run")).to_contain_text(
            f"{german(run['records_read'])} gelesen, {german(run['records_loaded'])} geladen, "
            f"{german(run['records_rejected'])} abgelehnt"
        )
        # the runs table holds the same counts
        row = card.locator(f"tr[data-run-id='{run['id']}']")
        expect(row.locator("[data-count=read]")).to_have_text(german(run["records_read"]))

    # a harvest of an unchanged source: the run appears and is reported
    card = page.locator("article[data-source='sample-gemeinden']")
    card.get_by_role("button", name="Ernte starten").click()
    status = page.locator("#harvest-status-sample-gemeinden")
    expect(status).to_contain_text("unverändert", timeout=60_000)
    latest = httpx.get(
        f"{service.url}/api/sources/sample-gemeinden/runs?limit=1",
        headers={"Authorization": f"Bearer {key}"},
    ).json()[0]
    expect(status).to_contain_text(f"Lauf {latest['id']}:")
    expect(page.locator("article[data-source='sample-gemeinden'] .last-run")).to_contain_text(
        "unverändert"
    )
    screenshot("harvest-unchanged")

    # a harvest that fails: the failure and its message are shown
    broken = page.locator(f"article[data-source='{BROKEN_SOURCE}']")
    broken.get_by_role("button", name="Ernte starten").click()
    expect(page.locator(f"#harvest-status-{BROKEN_SOURCE}")).to_contain_text(
        "fehlgeschlagen", timeout=60_000
    )
    failed = httpx.get(
        f"{service.url}/api/sources/{BROKEN_SOURCE}/runs?limit=1",
        headers={"Authorization": f"Bearer {key}"},
    ).json()[0]
    assert failed["status"] == "failed" and failed["message"]
    failure = page.locator(f"article[data-source='{BROKEN_SOURCE}'] .failure")
    expect(failure).to_contain_text("Fehler:")
    expect(failure).to_contain_text(failed["message"][:40])
    expect(page.locator("#sources-state")).to_contain_text("davon 1 mit fehlgeschlagenem")
    screenshot("harvest-failed")

    page.get_by_role("button", name="Abmelden").click()
    expect(page.locator("article.source")).to_have_count(0)
    assert page.evaluate(f"() => sessionStorage.getItem('{KEY_STORAGE}')") is None


def test_a_planner_key_is_not_enough_for_the_operator_page(
    page: Page, create_key: Callable[..., str]
) -> None:
    page.goto("/betrieb")
    sign_in(page, create_key("Planungsbüro Nord", "planner", (SAMPLE_AGS,)))
    expect(page.locator("#sources-state")).to_contain_text("Rolle Planung")
    expect(page.locator("article.source")).to_have_count(0)


def test_an_invalid_key_is_refused_and_forgotten(page: Page) -> None:
    page.goto("/")
    sign_in(page, "pd_unbekannt_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG")
    expect(page.get_by_role("alert")).to_contain_text("abgemeldet")
    expect(page.locator("#login-state")).to_contain_text("Nicht angemeldet")
    assert page.evaluate(f"() => sessionStorage.getItem('{KEY_STORAGE}')") is None
    expect(page.get_by_role("button", name="Abmelden")).to_be_hidden()


def test_planner_gets_restricted_data_and_downloads_with_the_key(
    page: Page,
    screenshot: Callable[[str], Path],
    service: Service,
    create_key: Callable[..., str],
    tmp_path: Path,
) -> None:
    page.goto("/")
    restricted = page.get_by_label("Einzeldaten des Leerstandskatasters aufnehmen")
    expect(restricted).to_be_hidden()
    sign_in(page, create_key("Stadtplanung Mücheln", "planner", (SAMPLE_AGS,)))
    expect(page.locator("#login-state")).to_contain_text(
        "Angemeldet als Stadtplanung Mücheln (Planung), "
        f"Gemeinden: Mücheln (Geiseltal) ({SAMPLE_AGS})"
    )
    expect(restricted).to_be_visible()

    pick_municipality(page, "Müch", "Mücheln (Geiseltal)")
    for theme in page.locator("input[name=theme]").all():
        if theme.get_attribute("value") not in ("vacancy",):
            theme.uncheck()
    restricted.check()
    with page.expect_request("**/api/packages") as sent:
        build_package(page)
    assert (sent.value.post_data_json or {}).get("restricted") is True
    screenshot("restricted-package")

    # the job belongs to the key: the link fetches the ZIP with the key and hands it over
    with page.expect_request("**/download") as fetched:
        package = download(
            page,
            page.locator("#job-result").get_by_role("link", name="Datenpaket herunterladen"),
            tmp_path,
        )
    assert fetched.value.headers.get("authorization", "").startswith("Bearer ")
    layers = geopackage_layers(package, tmp_path)
    assert layers.get("leerstand", 0) > 0, layers
    assert layers["leerstand_aggregiert"] > 0

    # without the key the same package is not the browser's
    page.get_by_role("button", name="Abmelden").click()
    expect(restricted).to_be_hidden()
    expect(page.locator("#packages-empty")).to_be_visible()
