"""What a planner does on the start page, step by step, shared by the end-to-end tests."""

from __future__ import annotations

import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pyogrio
import pytest
from playwright.sync_api import Locator, Page, expect

PACKAGE_TIMEOUT_S = 90


def search_box(page: Page) -> Locator:
    return page.get_by_role("combobox", name="Gemeinde suchen")


def pick_municipality(page: Page, typed: str, expected: str) -> None:
    """Type part of the name into the search box, take the first proposal by keyboard."""
    search = search_box(page)
    search.click()
    search.press_sequentially(typed, delay=30)
    expect(page.get_by_role("option").first).to_contain_text(expected)
    expect(search).to_have_attribute("aria-expanded", "true")
    search.press("ArrowDown")
    expect(search).to_have_attribute("aria-activedescendant", "search-option-0")
    expect(page.locator("#search-option-0")).to_have_attribute("aria-selected", "true")
    search.press("Enter")
    expect(search).to_have_attribute("aria-expanded", "false")
    expect(page.locator("#selection")).to_contain_text(expected)


def area_bounds(page: Page) -> dict[str, list[float]]:
    """West, south, east, north of the chosen area's outline and of the map view."""
    return page.evaluate(
        """() => {
            const {map, areaLayer} = window.planungsdatenMap;
            const box = (b) => [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()];
            return {area: box(areaLayer.getBounds()), view: box(map.getBounds())};
        }"""
    )


def assert_map_shows(page: Page, bbox: list[float], tolerance: float = 1e-5) -> None:
    """The outline on the map has `bbox`, lies in the view and is drawn as an SVG path."""
    bounds = area_bounds(page)
    assert bounds["area"] == pytest.approx(bbox, abs=tolerance), bounds
    west, south, east, north = bounds["view"]
    assert west <= bbox[0] and south <= bbox[1] and east >= bbox[2] and north >= bbox[3]
    outline = page.locator(".leaflet-area-pane path")
    expect(outline).to_have_count(1)
    box = outline.bounding_box()
    map_box = page.locator("#map").bounding_box()
    assert box is not None and map_box is not None
    # fitted: the outline fills a good part of the map, and stays inside it
    assert box["width"] > map_box["width"] / 3 or box["height"] > map_box["height"] / 3
    assert (
        box["x"] >= map_box["x"] - 1
        and box["x"] + box["width"] <= map_box["x"] + map_box["width"] + 1
    )


@dataclass
class Progress:
    """What the progress bar and the live region showed while the package was built."""

    values: list[int] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)

    @property
    def intermediate(self) -> list[int]:
        return [v for v in self.values if 0 < v < 100]


def build_package(page: Page, press: bool = True) -> Progress:
    """Press the big button (unless already pressed) and watch the progress bar until the
    download link is there."""
    if press:
        page.get_by_role("button", name="Datenpaket erstellen").click()
    bar = page.get_by_role("progressbar", name="Fortschritt des Datenpakets")
    expect(bar).to_be_visible()
    result = page.locator("#job-result")
    progress = Progress()
    deadline = time.monotonic() + PACKAGE_TIMEOUT_S
    while True:
        value = int(bar.evaluate("el => el.value"))
        step = page.locator("#job-step").inner_text()
        if not progress.values or progress.values[-1] != value:
            progress.values.append(value)
        if not progress.steps or progress.steps[-1] != step:
            progress.steps.append(step)
        if result.get_by_role("link").count():
            break
        error = page.get_by_role("alert").inner_text()
        assert not error, error
        assert time.monotonic() < deadline, f"package not ready after {PACKAGE_TIMEOUT_S} s"
        page.wait_for_timeout(100)
    progress.values.append(int(bar.evaluate("el => el.value")))
    progress.steps.append(page.locator("#job-step").inner_text())
    return progress


def download(page: Page, link: Locator, folder: Path) -> Path:
    """Click a download link and keep the file the browser saves."""
    with page.expect_download() as info:
        link.click()
    file = info.value
    assert file.failure() is None, file.failure()
    path = folder / file.suggested_filename
    file.save_as(path)
    return path


def geopackage_layers(package: Path, folder: Path) -> dict[str, int]:
    """Feature count of every layer of the GeoPackage in a package ZIP."""
    with zipfile.ZipFile(package) as archive:
        assert archive.testzip() is None
        names = [n for n in archive.namelist() if n.endswith(".gpkg")]
        assert len(names) == 1, archive.namelist()
        gpkg = Path(archive.extract(names[0], folder))
    return {
        str(name): int(pyogrio.read_info(gpkg, layer=str(name))["features"])
        for name, _ in pyogrio.list_layers(gpkg)
    }
