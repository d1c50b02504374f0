"""The start page as a planner uses it: find the municipality, or upload or draw an area, see
it on the map, press "Datenpaket erstellen", watch the progress, download the package."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import shapely
from playwright.sync_api import FilePayload, Page, expect
from pyproj import Transformer

from tests.conftest import SAMPLE_AGS
from tests.web.conftest import Service
from tests.web.flows import (
    assert_map_shows,
    build_package,
    download,
    geopackage_layers,
    pick_municipality,
    search_box,
)

# a quarter of the sample town (EPSG:25832), where parcels and buildings are
TOWN = shapely.box(693_400, 5_687_800, 694_400, 5_688_600)
TO_CRS84 = Transformer.from_crs(25832, 4326, always_xy=True)


def test_package_for_a_municipality_found_by_name(
    page: Page, screenshot: Callable[[str], Path], service: Service, tmp_path: Path
) -> None:
    feature = httpx.get(f"{service.url}/api/municipalities/{SAMPLE_AGS}").json()
    name = feature["properties"]["name"]
    page.goto("/")
    screenshot("start")

    pick_municipality(page, name[:4], name)
    assert_map_shows(page, feature["bbox"])
    screenshot("municipality-on-the-map")

    progress = build_package(page)
    screenshot("package-ready")
    assert progress.values[-1] == 100
    assert progress.intermediate, f"no value between 0 and 100 seen: {progress.values}"
    assert progress.steps[-1].startswith("fertig"), progress.steps
    assert len(progress.steps) >= 3, progress.steps  # the live region followed the steps

    link = page.locator("#job-result").get_by_role("link", name="Datenpaket herunterladen")
    package = download(page, link, tmp_path)
    assert package.suffix == ".zip"
    layers = geopackage_layers(package, tmp_path)
    assert layers["gemeindegrenze"] == 1
    assert layers["flurstuecke"] > 0 and layers["gebaeude"] > 0, layers

    # the package is listed after a reload: the browser's cookie names the caller
    page.reload()
    item = page.locator("#packages-list li").first
    expect(item).to_contain_text(name)
    expect(item).to_contain_text("fertig")
    again = download(page, item.get_by_role("link", name="Herunterladen"), tmp_path / "again")
    assert again.read_bytes() == package.read_bytes()
    screenshot("earlier-packages")


def test_package_for_an_uploaded_area(
    page: Page, screenshot: Callable[[str], Path], service: Service, tmp_path: Path
) -> None:
    area = shapely.transform(TOWN, lambda xy: list(zip(*TO_CRS84.transform(*xy.T), strict=True)))
    upload = tmp_path / "Schulviertel.geojson"
    upload.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"name": "Schulviertel"},
                        "geometry": shapely.geometry.mapping(area),
                    }
                ],
            }
        ),
        "utf-8",
    )
    page.goto("/")
    page.get_by_label("Gebiet als Datei hochladen").set_input_files(upload)
    page.get_by_role("button", name="Gebiet hochladen", exact=True).click()
    selection = page.locator("#selection")
    expect(selection).to_contain_text("Hochgeladenes Gebiet „Schulviertel“")
    assert_map_shows(page, list(area.bounds))
    expect(page.get_by_label("Name des Gebiets")).to_have_value("Schulviertel")
    screenshot("area-on-the-map")

    progress = build_package(page)
    screenshot("package-ready")
    assert progress.values[-1] == 100
    link = page.locator("#job-result").get_by_role("link", name="Datenpaket herunterladen")
    layers = geopackage_layers(download(page, link, tmp_path), tmp_path)
    assert layers["untersuchungsgebiet"] == 1
    assert layers["flurstuecke"] > 0, layers
    expect(page.locator("#packages-list li").first).to_contain_text("Schulviertel")


def test_package_for_a_drawn_area(
    page: Page, screenshot: Callable[[str], Path], service: Service, tmp_path: Path
) -> None:
    feature = httpx.get(f"{service.url}/api/municipalities/{SAMPLE_AGS}").json()
    page.goto("/")
    pick_municipality(page, SAMPLE_AGS, feature["properties"]["name"])
    page.get_by_role("button", name="Zeichnen beginnen").click()
    map_box = page.locator("#map").bounding_box()
    assert map_box is not None
    # a small square around the middle of the municipality
    cx, cy = map_box["x"] + map_box["width"] / 2, map_box["y"] + map_box["height"] / 2
    for dx, dy in ((-30, -30), (30, -30), (30, 30), (-30, 30)):
        page.mouse.click(cx + dx, cy + dy)
    expect(page.locator("#layer-status")).to_contain_text("4 Eckpunkte")
    screenshot("drawing")
    page.get_by_role("button", name="Zeichnung abschließen").click()
    expect(page.locator("#selection")).to_contain_text("Gezeichnetes Gebiet mit 4 Eckpunkten")
    expect(page.locator(".leaflet-area-pane path")).to_have_count(1)
    name = page.get_by_label("Name des Gebiets")
    expect(name).to_be_enabled()
    name.fill("Marktplatz")

    with page.expect_request("**/api/packages") as sent:
        progress = build_package(page)
    body = json.loads(sent.value.post_data or "{}")
    assert body["name"] == "Marktplatz" and body["area"]["type"] == "Polygon"
    assert len(body["area"]["coordinates"][0]) == 5
    drawn = shapely.geometry.shape(body["area"])
    assert drawn.is_valid and drawn.within(shapely.geometry.shape(feature["geometry"]))
    assert progress.values[-1] == 100
    screenshot("package-ready")
    expect(page.locator("#packages-list li").first).to_contain_text("Marktplatz")


def test_api_errors_are_shown_and_announced(page: Page, screenshot: Callable[[str], Path]) -> None:
    page.goto("/")
    alert = page.get_by_role("alert")
    page.get_by_role("button", name="Datenpaket erstellen").click()
    expect(alert).to_contain_text("Bitte zuerst eine Gemeinde suchen")
    expect(search_box(page)).to_be_focused()

    # an AGS the service does not know: its German `detail` reaches the planner
    search_box(page).fill("15099999")
    search_box(page).press("Enter")
    expect(alert).to_contain_text("15099999")
    expect(alert).to_contain_text("Fehler")
    screenshot("unknown-ags")

    note: FilePayload = {"name": "notiz.txt", "mimeType": "text/plain", "buffer": b"kein Gebiet"}
    page.get_by_label("Gebiet als Datei hochladen").set_input_files(note)
    page.get_by_role("button", name="Gebiet hochladen", exact=True).click()
    expect(alert).to_contain_text("notiz.txt")
    expect(page.locator("#selection")).to_have_text("Noch kein Gebiet gewählt.")
    screenshot("bad-upload")


def test_missing_choices_are_explained(page: Page) -> None:
    page.goto("/")
    pick_municipality(page, "Müch", "Mücheln")
    for theme in page.locator("input[name=theme]").all():
        theme.uncheck()
    page.get_by_role("button", name="Datenpaket erstellen").click()
    expect(page.get_by_role("alert")).to_contain_text("mindestens ein Thema")

    # an area needs three corners: two do not let the drawing finish
    page.get_by_role("button", name="Zeichnen beginnen").click()
    box = page.locator("#map").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 100, box["y"] + 100)
    page.mouse.click(box["x"] + 200, box["y"] + 100)
    expect(page.get_by_role("button", name="Zeichnung abschließen")).to_be_disabled()
    page.get_by_role("button", name="Verwerfen").click()
    expect(page.get_by_role("button", name="Zeichnen beginnen")).to_be_focused()
    expect(page.locator("#selection")).to_contain_text("Mücheln")
