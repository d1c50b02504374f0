"""Test session: a throwaway PostGIS cluster, a migrated template database, one fresh
database per test (CREATE DATABASE … TEMPLATE), and the sample data generated anew."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from planungsdaten.app import create_app
from planungsdaten.db.cluster import ManagedCluster, free_port
from planungsdaten.db.engine import make_engine
from planungsdaten.db.errors import DatabaseError
from planungsdaten.db.migrate import upgrade
from planungsdaten.harvest.run import harvest
from planungsdaten.harvest.sources import (
    FileProtocol,
    SourceDefinition,
    load_source,
    load_sources,
)
from planungsdaten.security import keys
from planungsdaten.settings import (
    PROJECT_DIR,
    AppSettings,
    ClusterSettings,
    DatabaseSettings,
    HarvestSettings,
    PackageSettings,
    Settings,
)
from sample_data import generate

SHARED_FIXTURES = PROJECT_DIR.parent / "shared" / "fixtures"
TEMPLATE_DB = "planungsdaten_template"


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """../shared/fixtures: real public files. Missing under CI is a failure, not a skip."""
    if not SHARED_FIXTURES.is_dir():
        message = f"real test data missing: {SHARED_FIXTURES} (see ../shared/fixtures/README.md)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return SHARED_FIXTURES


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """URL of the PostgreSQL server for the session: a throwaway cluster, or an existing
    server named by PLANUNGSDATEN_TEST_SERVER_URL (databases are created and dropped)."""
    external = os.environ.get("PLANUNGSDATEN_TEST_SERVER_URL")
    if external:
        yield external
        return
    root = Path(tempfile.mkdtemp(prefix="planungsdaten-test-"))
    root.chmod(0o755)  # the postgres system user must reach the cluster below it
    try:
        cluster = ManagedCluster(root / "postgres", database="postgres")
        cluster.start()
    except DatabaseError as e:
        pytest.fail(f"PostGIS for the tests cannot be had: {e}", pytrace=False)
    try:
        yield cluster.url("postgres")
    finally:
        cluster.destroy()
        root.rmdir()


def _admin(server: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(server, autocommit=True)


def _with_database(server: str, name: str) -> str:
    return make_url(server).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def template_url(server_url: str) -> Iterator[str]:
    """A database migrated to head, used as the template of every test database."""
    with _admin(server_url) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(TEMPLATE_DB))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE_DB)))
    url = _with_database(server_url, TEMPLATE_DB)
    engine = make_engine(DatabaseSettings(url=SecretStr(url)))
    upgrade(engine)
    engine.dispose()
    yield url
    with _admin(server_url) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(TEMPLATE_DB))
        )


_counter = iter(range(1_000_000))


@contextlib.contextmanager
def fresh_database(server_url: str, name: str) -> Iterator[str]:
    """A database cloned from the migrated template, dropped afterwards."""
    ident = sql.Identifier(name)
    with _admin(server_url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(ident, sql.Identifier(TEMPLATE_DB))
        )
    try:
        yield _with_database(server_url, name)
    finally:
        with _admin(server_url) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))


@pytest.fixture
def database_url(server_url: str, template_url: str) -> Iterator[str]:
    """A fresh, migrated database for one test."""
    with fresh_database(server_url, f"planungsdaten_test_{os.getpid()}_{next(_counter)}") as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings for one test: its own database and data folder, no reload delay in /ogc;
    harvests may fetch from the tests' local servers on 127.0.0.1."""
    return Settings(
        app=AppSettings(data_dir=tmp_path / "data", ogc_reload_interval_s=0, migrate_on_start=True),
        database=DatabaseSettings(url=SecretStr(database_url)),
        cluster=ClusterSettings(),
        harvest=HarvestSettings(batch_size=100, allow_private_networks=True),
    )


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample data, generated by the project's generator for this session."""
    directory = tmp_path_factory.mktemp("sample")
    generate.generate(directory)
    return directory


def with_file(source: SourceDefinition, path: Path) -> SourceDefinition:
    """The same definition reading another local file."""
    return source.model_copy(update={"protocol": FileProtocol(type="file", path=path)})


def with_sample_file(source: SourceDefinition, sample_dir: Path) -> SourceDefinition:
    """A sample definition reading its file from the session's generated sample data."""
    assert isinstance(source.protocol, FileProtocol)
    return with_file(source, sample_dir / Path(source.protocol.path).name)


@pytest.fixture
def definitions(tmp_path: Path, sample_dir: Path) -> Path:
    """A definitions folder with the sample boundaries' source, reading the generated file."""
    folder = tmp_path / "harvesters"
    folder.mkdir()
    text_ = (PROJECT_DIR / "harvesters" / "sample" / "gemeinden.yaml").read_text("utf-8")
    text_ = text_.replace(
        "../../sample_data/VG250_GEM_Beispiel.gpkg", str(sample_dir / generate.BOUNDARIES_FILE)
    )
    (folder / "gemeinden.yaml").write_text(text_, "utf-8")
    return folder


@pytest.fixture(scope="session")
def sample_source(sample_dir: Path) -> SourceDefinition:
    """harvesters/sample/gemeinden.yaml, reading the session's generated file."""
    source = load_source(PROJECT_DIR / "harvesters" / "sample" / "gemeinden.yaml")
    return with_file(source, sample_dir / generate.BOUNDARIES_FILE)


class LiveServer:
    """The service in its own process (`uvicorn --factory`), for clients that need real
    HTTP. A process, not a thread: GDAL holds the GIL while it waits for the response."""

    def __init__(self, port: int, env: dict[str, str], access_log: Path | None = None) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env = {**os.environ, **env}
        self.access_log = access_log
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: BinaryIO | None = None

    def __enter__(self) -> LiveServer:
        if self.access_log is not None:
            self._log_file = self.access_log.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "planungsdaten.app:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning" if self.access_log is None else "info",
            ],
            env=self.env,
            stdout=self._log_file,
            # the application's own log (stderr) goes to the same file, to check what it says
            stderr=subprocess.STDOUT if self._log_file is not None else None,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.__exit__()
                raise RuntimeError("test server did not start")
            time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        if self._log_file is not None:
            self._log_file.close()

    def log_mark(self) -> int:
        """Where the access log ends now: pass it to `requests` to see what came after."""
        assert self.access_log is not None, "LiveServer started without access_log"
        return self.access_log.stat().st_size

    def requests(self, since: int = 0) -> list[str]:
        """Targets (path and query) of the GET requests the server answered after `since`."""
        assert self.access_log is not None, "LiveServer started without access_log"
        with self.access_log.open("rb") as fh:
            fh.seek(since)
            text = fh.read().decode("utf-8", "replace")
        return [m["target"] for m in _ACCESS_LINE.finditer(text)]


# uvicorn's access log: `INFO:     127.0.0.1:4711 - "GET /ogc/collections?f=json HTTP/1.1" 200 OK`
_ACCESS_LINE = re.compile(r'"GET (?P<target>\S+) HTTP/[\d.]+" \d{3}')


@pytest.fixture
def live_port() -> int:
    return free_port()


# -- the whole sample, harvested once per session ------------------------------------------

SAMPLE_DB = "planungsdaten_sample"
SAMPLE_AGS = "15088235"


# the raster files of the harvested sample: raster_version holds their paths relative to a
# data folder's rasters/, so each test's data folder gets a copy of them
_SAMPLE_RASTERS: list[Path] = []


def copy_sample_rasters(data_dir: Path) -> None:
    """Copy the harvested sample's raster files (COGs) into `data_dir`, once."""
    target = data_dir / "rasters"
    if _SAMPLE_RASTERS and _SAMPLE_RASTERS[0].is_dir() and not target.exists():
        shutil.copytree(_SAMPLE_RASTERS[0], target)


def package_test_settings(url: str, data_dir: Path, **package: object) -> Settings:
    """Settings for package tests: no in-process workers unless asked for, fast polling;
    the sample's raster files in the data folder."""
    copy_sample_rasters(data_dir)
    return Settings(
        app=AppSettings(data_dir=data_dir, ogc_reload_interval_s=0),
        database=DatabaseSettings(url=SecretStr(url)),
        cluster=ClusterSettings(),
        harvest=HarvestSettings(),
        package=PackageSettings(**{"workers": 0, "poll_interval_s": 0.1, **package}),  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session")
def sample_database(
    server_url: str, template_url: str, sample_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Name of a database holding every enabled sample source, harvested from the session's
    generated files: the template of each package test's database."""
    with fresh_database(server_url, SAMPLE_DB) as url:
        settings = package_test_settings(url, tmp_path_factory.mktemp("sample-harvest"))
        engine = make_engine(settings.database)
        sources = load_sources(PROJECT_DIR / "harvesters" / "sample")
        for source in sorted(sources.values(), key=lambda s: s.id):
            if not source.enabled:
                continue
            result = harvest(engine, with_sample_file(source, sample_dir), settings)
            assert result.status == "succeeded", (source.id, result.message)
        engine.dispose()
        _SAMPLE_RASTERS[:] = [settings.rasters_dir]
        yield SAMPLE_DB


@contextlib.contextmanager
def clone_sample(server_url: str, sample_database: str, name: str) -> Iterator[str]:
    """URL of a copy of the harvested sample database, dropped afterwards."""
    ident = sql.Identifier(name)
    with _admin(server_url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(ident, sql.Identifier(sample_database))
        )
    try:
        yield _with_database(server_url, name)
    finally:
        with _admin(server_url) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))


@contextlib.contextmanager
def sample_client(
    server_url: str, sample_database: str, data_dir: Path, name: str
) -> Iterator[TestClient]:
    """A test client of the whole service on a copy of the harvested sample database."""
    with (
        clone_sample(server_url, sample_database, name) as url,
        TestClient(create_app(package_test_settings(url, data_dir))) as client,
    ):
        yield client


def bearer(
    engine: Engine, role: str = "operator", ags: Sequence[str] = (), name: str = ""
) -> dict[str, str]:
    """Headers with a new API key of `role` (bound to `ags`), for requests in tests."""
    with engine.begin() as conn:
        key = keys.create_key(conn, name or f"Test ({role})", role, ags)
    return {"Authorization": f"Bearer {key}"}
