"""Jobs live in PostgreSQL: they survive a restart, a dead worker's job is built again, a
stopped worker gives its job back, and the command line builds packages too."""

from __future__ import annotations

import threading
import time
import zipfile
from pathlib import Path

import httpx
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from planungsdaten.cli import app
from planungsdaten.packages import jobs
from planungsdaten.packages.request import parse_request
from planungsdaten.packages.worker import Worker
from planungsdaten.security.identity import Identity
from planungsdaten.settings import Settings
from tests.conftest import SAMPLE_AGS, LiveServer


def _job_row(engine: Engine, job_id: str) -> tuple[str, int, int]:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT status, attempts, progress FROM package_job WHERE id = :id"),
            {"id": job_id},
        ).one()
    return str(row.status), int(row.attempts), int(row.progress)


def test_job_survives_a_killed_service(
    package_settings: Settings, package_engine: Engine, live_port: int
) -> None:
    env = {
        "PLANUNGSDATEN_DATABASE_URL": package_settings.database.url.get_secret_value(),  # type: ignore[union-attr]
        "PLANUNGSDATEN_DATA_DIR": str(package_settings.app.data_dir),
        "PLANUNGSDATEN_PUBLIC_URL": f"http://127.0.0.1:{live_port}",
        "PLANUNGSDATEN_PACKAGE_WORKERS": "1",
        "PLANUNGSDATEN_PACKAGE_POLL_INTERVAL_S": "0.1",
    }
    with httpx.Client(base_url=f"http://127.0.0.1:{live_port}", timeout=30) as client:
        with LiveServer(live_port, env) as first:
            created = client.post("/api/packages", json={"ags": SAMPLE_AGS})
            assert created.status_code == 202
            job_id = created.json()["id"]
            deadline = time.monotonic() + 60
            while client.get(f"/api/packages/{job_id}").json()["status"] != "running":
                assert time.monotonic() < deadline
                time.sleep(0.02)
            assert first.process is not None
            first.process.kill()  # a crash, not a shutdown: nothing is cleaned up
            first.process.wait()
        status, attempts, _ = _job_row(package_engine, job_id)
        assert (status, attempts) == ("running", 1)  # orphaned: its worker is gone
        with LiveServer(live_port, env):
            deadline = time.monotonic() + 120
            while (body := client.get(f"/api/packages/{job_id}").json())["status"] != "succeeded":
                assert body["status"] != "failed", body
                assert time.monotonic() < deadline
                time.sleep(0.2)
            assert _job_row(package_engine, job_id)[:2] == ("succeeded", 2)
            download = client.get(f"/api/packages/{job_id}/download")
            assert download.status_code == 200
            assert download.headers["etag"] == f'"{body["file"]["sha256"]}"'
            again = client.post("/api/packages", json={"ags": SAMPLE_AGS})
            assert again.status_code == 200 and again.json()["cached"] is True
            assert again.json()["file"]["sha256"] == body["file"]["sha256"]
    assert not list(package_settings.package_dir.glob("*.part"))  # nothing half-written


def test_stopped_worker_gives_its_job_back(
    package_settings: Settings, package_engine: Engine
) -> None:
    request = parse_request({"ags": SAMPLE_AGS})
    job, _ = jobs.submit(package_engine, request, Identity.anonymous("2" * 32), package_settings)
    worker = Worker(package_settings, package_engine, package_engine)
    progressed = threading.Event()
    thread = threading.Thread(
        target=worker.run_once, kwargs={"listener": lambda p, s: progressed.set()}
    )
    thread.start()
    assert progressed.wait(60)
    worker.stop.set()
    thread.join(60)
    assert _job_row(package_engine, job.id) == ("queued", 0, 0)
    assert not jobs.package_path(package_settings, job.id).exists()
    assert Worker(package_settings, package_engine, package_engine).run_once() == job.id
    assert _job_row(package_engine, job.id)[:2] == ("succeeded", 1)


def test_job_failing_again_and_again_gives_up(
    package_settings: Settings, package_engine: Engine
) -> None:
    request = parse_request({"ags": SAMPLE_AGS, "themes": ["traffic"], "formats": ["csv"]})
    job, _ = jobs.submit(package_engine, request, Identity.anonymous("3" * 32), package_settings)
    with package_engine.begin() as conn:  # three workers died on it
        conn.execute(
            text("UPDATE package_job SET status = 'running', attempts = 3 WHERE id = :id"),
            {"id": job.id},
        )
    assert Worker(package_settings, package_engine, package_engine).run_once() is None
    with package_engine.connect() as conn:
        failed = jobs.get(conn, job.id, Identity.anonymous("3" * 32))
    assert failed.status == "failed" and "3-mal abgebrochen" in (failed.error or "")


def test_package_command(package_settings: Settings, tmp_path: Path) -> None:
    env = {
        "PLANUNGSDATEN_DATABASE_URL": package_settings.database.url.get_secret_value(),  # type: ignore[union-attr]
        "PLANUNGSDATEN_DATA_DIR": str(package_settings.app.data_dir),
    }
    runner = CliRunner()
    out = tmp_path / "out"
    args = ["package", "--ags", SAMPLE_AGS, "--theme", "cadastre", "--format", "csv"]
    result = runner.invoke(app, [*args, "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    (archive,) = out.glob("*.zip")
    assert archive.name.startswith("Datenpaket_Muecheln_Geiseltal_")
    with zipfile.ZipFile(archive) as zf:
        names = {n.split("/", 1)[1] for n in zf.namelist()}
    assert {"flurstuecksliste.csv", "indikatoren.csv", "manifest.json"} <= names
    assert "datenpaket.gpkg" not in names  # only the formats asked for
    again = runner.invoke(app, [*args, "--out", str(tmp_path / "again")], env=env)
    assert again.exit_code == 0 and "aus dem Zwischenspeicher" in again.output
    bad = runner.invoke(app, ["package", "--ags", "15099999", "--out", str(out)], env=env)
    assert bad.exit_code == 2 and "Keine Gemeinde mit dem AGS 15099999" in bad.output
