"""Package tests: a database with every sample source harvested, cloned for each test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from planungsdaten.db.engine import make_engine
from planungsdaten.settings import Settings
from tests.conftest import clone_sample, package_test_settings

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
