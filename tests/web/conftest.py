"""End-to-end tests in headless Chromium: the real service (uvicorn in its own process, on a
copy of the harvested sample database) used through its web pages the way a planner or an
operator uses them, driven by Playwright. Screenshots of every step, and of every failure,
are kept in test-artifacts/e2e/."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright
from pydantic import SecretStr

from planungsdaten.db.cluster import free_port
from planungsdaten.db.engine import make_engine
from planungsdaten.settings import PROJECT_DIR, DatabaseSettings
from tests.conftest import LiveServer, clone_sample, copy_sample_rasters

# the Debian chromium, exactly so: no sandbox (containers), no GPU, no calls home
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = PROJECT_DIR / "test-artifacts" / "e2e"
# the smallest screen the pages are made for
VIEWPORT: ViewportSize = {"width": 1366, "height": 768}
BROKEN_SOURCE = "sample-kaputt"

REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


def missing(message: str) -> NoReturn:
    """Something the tests need is not there: a failure under CI, a skip elsewhere."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def find_chromium() -> str | None:
    """PLANUNGSDATEN_CHROMIUM, else chromium or chromium-browser on PATH."""
    override = os.environ.get("PLANUNGSDATEN_CHROMIUM")
    if override:
        return override
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    item.stash.setdefault(REPORTS, {})[report.when] = report


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        missing(
            "no headless Chromium: install Debian's chromium package "
            "(scripts/setup-system.sh PYTHON --with-browser) or set PLANUNGSDATEN_CHROMIUM"
        )
    try:
        probe = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=60, check=False
        )
    except OSError as e:
        missing(f"Chromium at {path} cannot be started: {e}")
    if probe.returncode != 0:
        # Ubuntu's chromium-browser is a stub that needs the chromium snap
        missing(
            f"Chromium at {path} does not start ({(probe.stderr or probe.stdout).strip()[:200]}); "
            "set PLANUNGSDATEN_CHROMIUM to a working Chromium or Chrome"
        )
    return path


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Browser]:
    """One Chromium for the session; Playwright never downloads a browser of its own."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path, args=CHROMIUM_FLAGS, headless=True
        )
        yield browser
        browser.close()


@dataclass(frozen=True)
class Service:
    """The running service and the database behind it."""

    url: str
    database_url: str


def _definitions(folder: Path, sample_dir: Path) -> Path:
    """The sample source definitions reading the session's files, plus one broken source."""
    folder.mkdir()
    for path in sorted((PROJECT_DIR / "harvesters" / "sample").glob("*.yaml")):
        text = path.read_text("utf-8").replace("../../sample_data/", f"{sample_dir}/")
        (folder / path.name).write_text(text, "utf-8")
    # a source whose file is no GeoPackage: its harvest fails with a message
    broken = folder / "kaputt.gpkg"
    broken.write_text("Dies ist kein GeoPackage.\n", "utf-8")
    text = (folder / "gemeinden.yaml").read_text("utf-8")
    text = text.replace("id: sample-gemeinden", f"id: {BROKEN_SOURCE}")
    text = text.replace("title: Gemeindegrenzen (Beispieldaten)", "title: Defekte Beispielquelle")
    text = re.sub(r"(?m)^  path: .*$", lambda _: f"  path: {broken}", text)
    (folder / "kaputt.yaml").write_text(text, "utf-8")
    return folder


@pytest.fixture(scope="session")
def service(
    server_url: str,
    sample_database: str,
    sample_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Service]:
    """The whole service on a copy of the harvested sample, as `planungsdaten run` serves it."""
    tmp = tmp_path_factory.mktemp("e2e")
    copy_sample_rasters(tmp / "data")
    port = free_port()
    with clone_sample(server_url, sample_database, f"planungsdaten_e2e_{os.getpid()}") as url:
        env = {
            "PLANUNGSDATEN_DATABASE_URL": url,
            "PLANUNGSDATEN_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "PLANUNGSDATEN_DATA_DIR": str(tmp / "data"),
            "PLANUNGSDATEN_HARVESTERS_DIR": str(_definitions(tmp / "harvesters", sample_dir)),
            "PLANUNGSDATEN_PACKAGE_POLL_INTERVAL_S": "0.2",
        }
        with LiveServer(port, env) as server:
            yield Service(server.url, url)


@pytest.fixture
def create_key(service: Service) -> Callable[..., str]:
    """Make an API key in the service's database: `create_key(name, role, ags)`."""
    try:
        from planungsdaten.security.keys import create_key as create
    except ImportError:
        missing("planungsdaten.security.keys.create_key is not there yet")

    def make(name: str, role: str, ags: tuple[str, ...] = ()) -> str:
        engine = make_engine(DatabaseSettings(url=SecretStr(service.database_url)))
        try:
            with engine.begin() as conn:
                return create(conn, name, role, ags)
        finally:
            engine.dispose()

    return make


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:120]


@pytest.fixture
def page(browser: Browser, service: Service, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser profile (so a new anonymous caller) at 1366×768, German locale.
    Uncaught script errors and Content-Security-Policy violations fail the test."""
    context = browser.new_context(
        base_url=service.url, viewport=VIEWPORT, locale="de-DE", accept_downloads=True
    )
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"script error: {error}"))
    page.on(
        "console",
        lambda message: (
            errors.append(f"console: {message.text}")
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    yield page
    reports = request.node.stash.get(REPORTS, {})
    if any(r.failed for r in reports.values()):
        try:
            page.screenshot(
                path=ARTIFACTS / f"{_slug(request.node.name)}-failure.png", full_page=True
            )
        except Exception as e:  # the page may be gone with the failure; the report says why
            print(f"no failure screenshot: {e}")
    context.close()
    assert not errors, errors


@pytest.fixture
def screenshot(page: Page, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """`screenshot(step)`: the whole page, numbered in order, under test-artifacts/e2e/."""
    counter = iter(range(1, 100))

    def take(step: str) -> Path:
        path = ARTIFACTS / f"{_slug(request.node.name)}-{next(counter):02d}-{_slug(step)}.png"
        page.screenshot(path=path, full_page=True)
        return path

    return take
