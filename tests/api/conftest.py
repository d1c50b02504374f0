from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from planungsdaten.app import create_app
from planungsdaten.harvest.run import harvest
from planungsdaten.harvest.sources import SourceDefinition
from planungsdaten.settings import Settings


@pytest.fixture
def client(
    engine: Engine, settings: Settings, sample_source: SourceDefinition
) -> Iterator[TestClient]:
    """The app with the sample municipalities loaded."""
    harvest(engine, sample_source, settings)
    with TestClient(create_app(settings)) as client:
        yield client
