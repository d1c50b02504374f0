"""/api/sources and /api/runs: what an operator sees of sources and harvests."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import geopandas as gpd
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from planungsdaten.app import create_app
from planungsdaten.harvest.run import harvest
from planungsdaten.harvest.sources import SourceDefinition
from planungsdaten.settings import PROJECT_DIR, Settings
from sample_data import generate
from sample_data.generate import boundaries
from tests.conftest import bearer, with_file


def test_sources_list_definitions_with_last_run(client: TestClient) -> None:
    sources = {s["id"]: s for s in client.get("/api/sources").json()}
    assert {"sample-gemeinden", "sample-alkis-nas", "lvermgeo-alkis"} <= set(sources)
    assert sources["sample-gemeinden"]["last_run"]["status"] == "succeeded"
    assert sources["lvermgeo-alkis"]["last_run"] is None
    assert sources["lvermgeo-alkis"]["attribution"] == "© GeoBasis-DE / LVermGeo ST"
    assert sources["lvermgeo-alkis"]["targets"] == ["building", "land_use", "parcel"]
    assert client.get("/api/sources/gibtsnicht").status_code == 404


def test_runs_with_rejected_and_repaired_records(
    client: TestClient,
    engine: Engine,
    settings: Settings,
    sample_source: SourceDefinition,
    tmp_path: Path,
) -> None:
    frame = boundaries()
    frame.loc[0, "ARS"] = "kaputt"
    path = tmp_path / "teilweise.gpkg"
    gpd.GeoDataFrame(frame, crs=frame.crs).to_file(path, layer="vg250_gem", driver="GPKG")
    result = harvest(engine, with_file(sample_source, path), settings)
    runs = client.get("/api/sources/sample-gemeinden/runs").json()
    assert [r["id"] for r in runs] == [result.run_id, result.run_id - 1]
    assert runs[0]["records_read"] == 8 and runs[0]["records_rejected"] == 1
    details = client.get(f"/api/runs/{result.run_id}").json()
    rejected = details["rejected_records"]
    assert len(rejected) == 1 and "hat nicht 12 Ziffern" in rejected[0]["reason"]
    assert rejected[0]["record"]["ARS"] == "kaputt"
    assert client.get("/api/runs/999999").json()["detail"] == "Kein Lauf mit der Nummer 999999."
    versions = client.get("/api/sources/sample-gemeinden/versions").json()
    assert [v["status"] for v in versions] == ["current", "superseded"]


def test_starting_a_harvest_needs_an_operator(client: TestClient, engine: Engine) -> None:
    url = "/api/sources/sample-gemeinden/harvest"
    anonymous = client.post(url)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Betriebs-Schlüssel" in anonymous.json()["detail"]
    planner = client.post(url, headers=bearer(engine, "planner", ["15088235"], "Stadt A"))
    assert planner.status_code == 403
    assert "Stadt A" in planner.json()["detail"] and "Planer" in planner.json()["detail"]
    unknown = client.post(url, headers={"Authorization": "Bearer pdk_aaaaaaaaaa_" + "x" * 43})
    assert unknown.status_code == 401 and "ungültig" in unknown.json()["detail"]


def test_an_operator_starts_a_harvest(
    settings: Settings, engine: Engine, sample_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "harvesters"
    folder.mkdir()
    text_ = (PROJECT_DIR / "harvesters" / "sample" / "gemeinden.yaml").read_text("utf-8")
    text_ = text_.replace(
        "../../sample_data/VG250_GEM_Beispiel.gpkg", str(sample_dir / generate.BOUNDARIES_FILE)
    )
    (folder / "gemeinden.yaml").write_text(text_, "utf-8")
    app_settings = settings.app.model_copy(update={"harvesters_dir": folder})
    with TestClient(create_app(dataclasses.replace(settings, app=app_settings))) as client:
        response = client.post("/api/sources/sample-gemeinden/harvest", headers=bearer(engine))
        assert response.status_code == 202
        run_url = response.headers["Location"]
        for _ in range(200):
            run = client.get(run_url).json()
            if run["status"] != "running":
                break
            time.sleep(0.1)
        assert run["status"] == "succeeded" and run["records_loaded"] == 8
        assert len(client.get("/api/municipalities", params={"limit": 100}).json()) == 8
