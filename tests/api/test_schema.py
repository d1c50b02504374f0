"""Schemathesis against the service's OpenAPI document (/openapi.json: /api, /catalog,
/downloads, /health): generated requests, valid and invalid, must never get a 5xx, and every
answer must match the documented schema and media type. Bounded: a fixed number of examples
per operation, derandomised so a failure is reproducible."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from planungsdaten.app import create_app
from planungsdaten.db.cluster import free_port
from planungsdaten.db.engine import make_engine
from planungsdaten.settings import PROJECT_DIR, Settings
from tests.conftest import LiveServer, bearer, clone_sample, package_test_settings

EXAMPLES = int(os.environ.get("PLANUNGSDATEN_SCHEMATHESIS_EXAMPLES", "25"))


@pytest.fixture(scope="module")
def live_service(
    server_url: str, sample_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str]]]:
    """The service on a sample copy, and the headers of an operator key (so operator routes
    are exercised beyond their 401)."""
    data = tmp_path_factory.mktemp("schemathesis")
    with clone_sample(server_url, sample_database, "planungsdaten_schemathesis") as url:
        env = {
            "PLANUNGSDATEN_DATABASE_URL": url,
            "PLANUNGSDATEN_DATA_DIR": str(data),
            "PLANUNGSDATEN_HARVESTERS_DIR": str(PROJECT_DIR / "harvesters" / "sample"),
            "PLANUNGSDATEN_PACKAGE_WORKERS": "0",
            "PLANUNGSDATEN_LIMIT_PACKAGES_PER_HOUR_ANONYMOUS": "100000",
        }
        engine = make_engine(package_test_settings(url, Path(data)).database)
        headers = bearer(engine, name="Schemathesis")
        engine.dispose()
        with LiveServer(free_port(), env) as server:
            yield server.url, headers


# the document as the app generates it (no database needed), one test per operation and mode
SCHEMA = schemathesis.openapi.from_dict(create_app(Settings()).openapi())
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations() if isinstance(result, Ok)]
# invalid requests only where there is something to get wrong
CASES = [
    pytest.param(operation, mode, id=f"{operation.label} {mode}")
    for operation in OPERATIONS
    for mode in GenerationMode
    if mode == GenerationMode.POSITIVE
    or operation.definition.raw.get("parameters")
    or "requestBody" in operation.definition.raw
]


@pytest.mark.parametrize(("operation", "mode"), CASES)
def test_api_answers_within_its_schema(
    operation: APIOperation, mode: GenerationMode, live_service: tuple[str, dict[str, str]]
) -> None:
    url, headers = live_service

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(
            base_url=url,
            headers=headers,
            timeout=60,
            checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
        )

    try:
        check()
    except Unsatisfiable:
        # every value the schema allows is valid (e.g. a free-text path parameter): there is
        # no invalid request to send
        assert mode == GenerationMode.NEGATIVE, "no valid request could be generated"
