"""Package tests: a database with every sample source harvested, cloned for each test."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg import sql
from pydantic import SecretStr
from sqlalchemy import Engine

from planungsdaten.db.engine import make_engine
from planungsdaten.harvest.run import harvest
from planungsdaten.harvest.sources import FileProtocol, load_sources
from planungsdaten.settings import (
    PROJECT_DIR,
    AppSettings,
    ClusterSettings,
    DatabaseSettings,
    HarvestSettings,
    PackageSettings,
    Settings,
)
from tests.conftest import _admin, _with_database, fresh_database

SAMPLE_DB = "planungsdaten_sample"
SAMPLE_AGS = "15088235"


def package_test_settings(url: str, data_dir: Path, **package: object) -> Settings:
    """Settings for package tests: no in-process workers unless asked for, fast polling."""
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
            assert isinstance(source.protocol, FileProtocol)
            local = source.model_copy(
                update={
                    "protocol": FileProtocol(
                        type="file", path=sample_dir / Path(source.protocol.path).name
                    )
                }
            )
            result = harvest(engine, local, settings)
            assert result.status == "succeeded", (source.id, result.message)
        engine.dispose()
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


_counter = iter(range(1_000_000))


@pytest.fixture
def package_settings(server_url: str, sample_database: str, tmp_path: Path) -> Iterator[Settings]:
    """Settings on a fresh copy of the sample database, packages under tmp_path."""
    name = f"planungsdaten_pkg_{os.getpid()}_{next(_counter)}"
    with clone_sample(server_url, sample_database, name) as url:
        yield package_test_settings(url, tmp_path / "data")


@pytest.fixture
def package_engine(package_settings: Settings) -> Iterator[Engine]:
    engine = make_engine(package_settings.database)
    yield engine
    engine.dispose()
