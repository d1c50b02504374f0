"""Who may see what: planners get the restricted vacancy register of their municipalities
only, anonymous callers the aggregates, operators alone manage keys, harvests and the audit
log; a revoked key stops at once; package requests are limited per caller and hour."""

from __future__ import annotations

import dataclasses
import io
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyogrio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from planungsdaten import cli
from planungsdaten.app import create_app
from planungsdaten.db.engine import make_engine
from planungsdaten.settings import LimitSettings, Settings
from tests.conftest import SAMPLE_AGS, bearer, clone_sample, package_test_settings

OTHER_AGS = "15088205"  # a sample municipality without a key of planner A


@dataclasses.dataclass
class Service:
    client: TestClient
    engine: Engine
    settings: Settings
    url: str


@pytest.fixture(scope="module")
def service(
    server_url: str, sample_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """The service on a sample copy, with one in-process package worker."""
    with clone_sample(server_url, sample_database, "planungsdaten_access") as url:
        settings = package_test_settings(url, tmp_path_factory.mktemp("access"), workers=1)
        engine = make_engine(settings.database)
        with TestClient(create_app(settings), client=("192.0.2.10", 50000)) as client:
            yield Service(client, engine, settings, url)
        engine.dispose()


def finished(client: TestClient, job: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    for _ in range(600):
        job = client.get(job["links"]["self"], headers=headers).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"package not finished: {job}")


def package_layers(
    client: TestClient, job: dict[str, Any], headers: dict[str, str], tmp_path: Path
) -> dict[str, int]:
    """Layer → feature count of the package's GeoPackage."""
    job = finished(client, job, headers)
    assert job["status"] == "succeeded", job
    response = client.get(job["links"]["download"], headers=headers)
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".gpkg"))
        path = tmp_path / Path(name).name
        path.write_bytes(archive.read(name))
    return {layer: int(count) for layer, _, count in _layer_infos(path)}


def _layer_infos(path: Path) -> list[tuple[str, str, int]]:
    return [
        (layer, kind, pyogrio.read_info(path, layer=layer)["features"])
        for layer, kind in pyogrio.list_layers(path)
    ]


def vacancy_request(ags: str, **extra: object) -> dict[str, object]:
    return {"ags": ags, "themes": ["vacancy"], "formats": ["gpkg"], **extra}


def job_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM package_job")).scalar_one())


def test_planner_gets_own_register_and_is_refused_others(service: Service, tmp_path: Path) -> None:
    client, engine = service.client, service.engine
    planner_a = bearer(engine, "planner", [SAMPLE_AGS], "Stadtplanung Mücheln")
    with engine.connect() as conn:
        register = conn.execute(
            text("SELECT count(*) FROM vacancy WHERE ags = :ags"), {"ags": SAMPLE_AGS}
        ).scalar_one()
    assert register > 0

    response = client.post(
        "/api/packages", json=vacancy_request(SAMPLE_AGS, restricted=True), headers=planner_a
    )
    assert response.status_code in (200, 202), response.text
    assert response.json()["restricted"] is True
    layers = package_layers(client, response.json(), planner_a, tmp_path)
    assert layers["leerstand"] == register
    assert layers["leerstand_aggregiert"] > 0

    before = job_count(engine)
    refused = client.post(
        "/api/packages", json=vacancy_request(OTHER_AGS, restricted=True), headers=planner_a
    )
    assert refused.status_code == 403
    detail = refused.json()["detail"]
    assert OTHER_AGS in detail and "Stadtplanung Mücheln" in detail and SAMPLE_AGS in detail
    assert job_count(engine) == before  # nothing queued

    # without insisting, B's package holds only what everyone gets
    open_b = client.post("/api/packages", json=vacancy_request(OTHER_AGS), headers=planner_a)
    assert open_b.status_code in (200, 202) and open_b.json()["restricted"] is False

    # the audit log names who got which municipality's restricted layers; only A's package
    operator = bearer(engine)
    records = client.get("/api/audit", headers=operator).json()
    mine = [r for r in records if r["package_id"] == response.json()["id"]]
    assert len(mine) == 1
    assert mine[0]["ags"] == [SAMPLE_AGS] and mine[0]["layers"] == ["leerstand"]
    assert mine[0]["role"] == "planner" and mine[0]["subject"].startswith("key:")
    assert mine[0]["client_address"] == "192.0.2.10"
    assert not [r for r in records if r["package_id"] == open_b.json()["id"]]
    assert client.get("/api/audit", headers=planner_a).status_code == 403


def test_anonymous_callers_get_only_aggregates(service: Service, tmp_path: Path) -> None:
    client = service.client
    layers = package_layers(
        client,
        client.post("/api/packages", json=vacancy_request(SAMPLE_AGS)).json(),
        {},
        tmp_path,
    )
    assert layers["leerstand_aggregiert"] > 0
    assert "leerstand" not in layers
    refused = client.post("/api/packages", json=vacancy_request(SAMPLE_AGS, restricted=True))
    assert refused.status_code == 403
    assert "ohne Schlüssel" in refused.json()["detail"]


def test_operator_endpoints_refuse_planners_and_anonymous(service: Service) -> None:
    client, engine = service.client, service.engine
    planner = bearer(engine, "planner", [SAMPLE_AGS])
    operator = bearer(engine)
    calls = [
        ("GET", "/api/keys", None),
        ("POST", "/api/keys", {"name": "Neu", "role": "planner", "ags": [SAMPLE_AGS]}),
        ("DELETE", "/api/keys/abcdefghij", None),
        ("GET", "/api/audit", None),
        ("POST", "/api/sources/sample-gemeinden/harvest", None),
    ]
    for method, url, body in calls:
        assert client.request(method, url, json=body).status_code == 401, url
        answer = client.request(method, url, json=body, headers=planner)
        assert answer.status_code == 403, url
        assert "Nur für den Betrieb" in answer.json()["detail"]
    assert client.get("/api/keys", headers=operator).status_code == 200
    assert client.delete("/api/keys/abcdefghij", headers=operator).status_code == 404


def test_a_revoked_key_stops_at_once(service: Service) -> None:
    client, engine = service.client, service.engine
    operator = bearer(engine)
    created = client.post(
        "/api/keys",
        json={"name": "Planungsbüro Nord", "role": "planner", "ags": [SAMPLE_AGS]},
        headers=operator,
    )
    assert created.status_code == 201
    key = created.json()["key"]
    planner = {"Authorization": f"Bearer {key}"}
    me = client.get("/api/me", headers=planner).json()
    assert me == {"role": "planner", "name": "Planungsbüro Nord", "ags": [SAMPLE_AGS]}
    listed = client.get("/api/keys", headers=operator).json()
    assert created.json()["id"] in {k["id"] for k in listed}
    assert key not in str(listed)  # the list never shows a secret
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT salt, hash FROM api_key WHERE id = :id"), {"id": created.json()["id"]}
        ).one()
    secret = key.split("_", 2)[2].encode()
    assert secret not in bytes(stored.hash) and secret not in bytes(stored.salt)

    assert client.delete(f"/api/keys/{created.json()['id']}", headers=operator).status_code == 200
    answer = client.get("/api/me", headers=planner)
    assert answer.status_code == 401
    assert "widerrufen" in answer.json()["detail"] and key not in answer.text
    assert (
        client.post("/api/packages", json=vacancy_request(SAMPLE_AGS), headers=planner).status_code
        == 401
    )


def test_keys_on_the_command_line(service: Service) -> None:
    env = {"PLANUNGSDATEN_DATABASE_URL": service.url}
    runner = CliRunner()
    created = runner.invoke(
        cli.app,
        ["keys", "create", "--name", "Bauamt Mücheln", "--ags", SAMPLE_AGS],
        env=env,
    )
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("pdk_")
    headers = {"Authorization": f"Bearer {key}"}
    assert service.client.get("/api/me", headers=headers).json()["role"] == "planner"
    listed = runner.invoke(cli.app, ["keys", "list", "--json"], env=env)
    assert listed.exit_code == 0 and "Bauamt Mücheln" in listed.stdout
    assert key.split("_", 2)[2] not in listed.stdout
    key_id = key.split("_")[1]
    revoked = runner.invoke(cli.app, ["keys", "revoke", key_id], env=env)
    assert revoked.exit_code == 0, revoked.output
    assert service.client.get("/api/me", headers=headers).status_code == 401
    bad = runner.invoke(cli.app, ["keys", "create", "--name", "x", "--ags", "123"], env=env)
    assert bad.exit_code == 2 and "kein gültiger Amtlicher Gemeindeschlüssel" in bad.output


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Bearer pdk_aaaaaaaaaa_" + "x" * 43, "ungültig oder wurde widerrufen"),
        ("Bearer pdk_kaputt", "ungültig oder wurde widerrufen"),
        ("Basic dXNlcjpwYXNz", "Authorization: Bearer"),
        ("Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "OIDC sind nicht eingerichtet"),
    ],
)
def test_bad_credentials_are_refused_not_taken_as_anonymous(
    service: Service, header: str, message: str
) -> None:
    answer = service.client.get("/api/me", headers={"Authorization": header})
    assert answer.status_code == 401
    assert message in answer.json()["detail"]
    assert header.split(" ", 1)[1] not in answer.text


def test_package_requests_are_limited_per_hour(service: Service) -> None:
    limits = LimitSettings(packages_per_hour_anonymous=2, packages_per_hour_planner=3)
    settings = dataclasses.replace(service.settings, limit=limits)
    with service.engine.begin() as conn:
        conn.execute(text("DELETE FROM restricted_access_log"))
        conn.execute(text("UPDATE package_job SET created_at = created_at - interval '2 hours'"))
    with TestClient(create_app(settings), client=("192.0.2.20", 50000)) as client:
        body = vacancy_request(SAMPLE_AGS)
        for _ in range(2):
            assert client.post("/api/packages", json=body).status_code in (200, 202)
        client.cookies.clear()  # a new anonymous identity, the same address
        limited = client.post("/api/packages", json=body)
        assert limited.status_code == 429
        assert "höchstens 2 je Stunde" in limited.json()["detail"]
        assert 0 < int(limited.headers["Retry-After"]) <= 3600
        # a planner has an allowance of its own
        planner = bearer(service.engine, "planner", [SAMPLE_AGS])
        for _ in range(3):
            assert client.post("/api/packages", json=body, headers=planner).status_code in (
                200,
                202,
            )
        assert client.post("/api/packages", json=body, headers=planner).status_code == 429
        # operators are not limited
        operator = bearer(service.engine)
        for _ in range(4):
            assert client.post("/api/packages", json=body, headers=operator).status_code in (
                200,
                202,
            )
