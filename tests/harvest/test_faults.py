"""Faults on the way in: every failed run is recorded with a clear message, and the API and
/ogc still serve the previously loaded version. A harvest killed mid-load leaves the
database consistent and the next run succeeds."""

from __future__ import annotations

import dataclasses
import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pyogrio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from planungsdaten.app import create_app
from planungsdaten.harvest.errors import FetchError, HarvestError, NothingLoadedError
from planungsdaten.harvest.run import harvest
from planungsdaten.harvest.sources import Format, HttpProtocol, Layer, SourceDefinition
from planungsdaten.settings import HarvestSettings, Settings
from sample_data.generate import BOUNDARIES_FILE, boundaries
from tests.harvest.conftest import LocalServer, Reply

PATH = "/daten/gemeinden.gpkg"


@pytest.fixture
def fast(settings: Settings) -> Settings:
    """Short timeouts and backoff so the failing paths finish quickly."""
    harvest_settings = HarvestSettings(
        batch_size=100,
        http_timeout_s=1.0,
        http_total_timeout_s=20.0,
        http_retries=1,
        http_backoff_s=0.01,
        allow_private_networks=True,  # the local test server
    )
    return dataclasses.replace(settings, harvest=harvest_settings)


@pytest.fixture
def remote(
    http_server: LocalServer, sample_source: SourceDefinition, sample_dir: Path
) -> SourceDefinition:
    """The sample boundaries, served over HTTP."""
    http_server.route(PATH, Reply(body=(sample_dir / BOUNDARIES_FILE).read_bytes()))
    protocol = HttpProtocol(type="http", url=http_server.url(PATH))
    return sample_source.model_copy(update={"protocol": protocol})


@pytest.fixture
def served(engine: Engine, fast: Settings, remote: SourceDefinition) -> Iterator[TestClient]:
    """The first harvest succeeded; the app serves it."""
    assert harvest(engine, remote, fast).loaded == 8
    with TestClient(create_app(fast)) as client:
        yield client


def _still_served(client: TestClient, engine: Engine) -> str:
    """The previous version is what the API and /ogc serve; returns the failed run's message."""
    listed = client.get("/api/municipalities", params={"limit": 100}).json()
    assert len(listed) == 8
    items = client.get("/ogc/collections/municipalities/items", params={"f": "json"}).json()
    assert items["numberMatched"] == 8
    with engine.connect() as conn:
        run = conn.execute(text("SELECT * FROM harvest_run ORDER BY id DESC LIMIT 1")).one()
        tables = conn.execute(
            text("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'municipality_v%'")
        ).scalar_one()
    assert run.status == "failed" and run.records_loaded == 0
    assert tables == 1  # no half-loaded partition left behind
    return str(run.message)


def _break(http_server: LocalServer, *replies: Reply) -> None:
    http_server.route(PATH, *replies)


def test_server_error(
    served: TestClient,
    engine: Engine,
    fast: Settings,
    remote: SourceDefinition,
    http_server: LocalServer,
) -> None:
    _break(http_server, Reply(status=500, body=b"kaputt"))
    with pytest.raises(FetchError):
        harvest(engine, remote, fast, force=True)
    message = _still_served(served, engine)
    assert "HTTP 500" in message and http_server.url(PATH) in message


def test_stalled_server(
    served: TestClient,
    engine: Engine,
    fast: Settings,
    remote: SourceDefinition,
    http_server: LocalServer,
) -> None:
    _break(http_server, Reply(body=b"x" * 100, delay_s=3.0))
    started = time.monotonic()
    with pytest.raises(FetchError):
        harvest(engine, remote, fast, force=True)
    assert time.monotonic() - started < 15
    assert "Zeitüberschreitung" in _still_served(served, engine)


def test_connection_dropped_mid_body(
    served: TestClient,
    engine: Engine,
    fast: Settings,
    remote: SourceDefinition,
    http_server: LocalServer,
    sample_dir: Path,
) -> None:
    body = (sample_dir / BOUNDARIES_FILE).read_bytes()
    _break(http_server, Reply(body=body, drop_after=len(body) // 3))
    with pytest.raises(FetchError):
        harvest(engine, remote, fast, force=True)
    assert "unterbrochen" in _still_served(served, engine)


def test_truncated_zip(
    served: TestClient,
    engine: Engine,
    fast: Settings,
    remote: SourceDefinition,
    http_server: LocalServer,
    tmp_path: Path,
) -> None:
    shp = tmp_path / "gemeinden.shp"
    pyogrio.write_dataframe(boundaries(), shp)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for part in tmp_path.glob("gemeinden.*"):
            archive.write(part, part.name)
    data = buffer.getvalue()
    zipped = remote.model_copy(
        update={
            "protocol": HttpProtocol(type="http", url=http_server.url("/daten/gemeinden.zip")),
            "format": Format(type="shapefile"),
            "layers": [remote.layers[0].model_copy(update={"layer": None})],
        }
    )
    http_server.route("/daten/gemeinden.zip", Reply(body=data[: len(data) // 2]))
    with pytest.raises(HarvestError):
        harvest(engine, zipped, fast, force=True)
    assert "nicht lesbar" in _still_served(served, engine)


def test_file_in_the_wrong_crs(
    served: TestClient,
    engine: Engine,
    fast: Settings,
    remote: SourceDefinition,
    http_server: LocalServer,
    tmp_path: Path,
) -> None:
    # longitude/latitude values in a file that declares EPSG:25832
    wrong = boundaries().to_crs(4326).set_crs(25832, allow_override=True)
    path = tmp_path / "falsch.gpkg"
    wrong.to_file(path, layer="vg250_gem", driver="GPKG")
    _break(http_server, Reply(body=path.read_bytes()))
    with pytest.raises(NothingLoadedError):
        harvest(engine, remote, fast, force=True)
    assert "kein einziges Objekt" in _still_served(served, engine)
    with engine.connect() as conn:
        reasons = (
            conn.execute(
                text(
                    "SELECT DISTINCT reason FROM rejected_record r JOIN harvest_run h "
                    "ON h.id = r.harvest_run_id WHERE h.status = 'failed'"
                )
            )
            .scalars()
            .all()
        )
    assert len(reasons) == 1 and "außerhalb Deutschlands" in reasons[0]


KILLABLE = r"""
import sys
from pathlib import Path
from pydantic import SecretStr
from planungsdaten.db.engine import make_engine
from planungsdaten.harvest.run import harvest
from planungsdaten.harvest.sources import load_source, FileProtocol
from planungsdaten.settings import AppSettings, DatabaseSettings, HarvestSettings, Settings
source = load_source(Path(sys.argv[2]))
source = source.model_copy(update={"protocol": FileProtocol(type="file", path=Path(sys.argv[3]))})
settings = Settings(app=AppSettings(data_dir=Path(sys.argv[4])),
                    database=DatabaseSettings(url=SecretStr(sys.argv[1])),
                    harvest=HarvestSettings(batch_size=500))
harvest(make_engine(settings.database), source, settings, force=True)
"""


def test_killed_harvest_leaves_database_consistent(
    engine: Engine, settings: Settings, sample_source: SourceDefinition, tmp_path: Path
) -> None:
    first = harvest(engine, sample_source, settings)
    big = tmp_path / "gross.gpkg"
    frame = boundaries()
    # many copies of the boundaries (same AGS → duplicates are rejected, but all are read)
    import pandas as pd

    pyogrio.write_dataframe(pd.concat([frame] * 4000, ignore_index=True), big, layer="vg250_gem")
    url = settings.database.url.get_secret_value()  # type: ignore[union-attr]
    assert sample_source.path is not None
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            KILLABLE,
            url,
            str(sample_source.path),
            str(big),
            str(tmp_path / "data"),
        ],
    )
    deadline = time.monotonic() + 60
    with engine.connect() as conn:
        while True:  # wait until it is COPYing into its new partition
            copying = conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY%'")
            ).scalar_one()
            conn.commit()
            if copying or time.monotonic() > deadline or child.poll() is not None:
                break
            time.sleep(0.05)
    assert child.poll() is None, "the harvest ended before it could be killed"
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    time.sleep(0.5)  # the server notices the dropped connection and rolls back
    with engine.connect() as conn:
        current = (
            conn.execute(text("SELECT id FROM dataset_version WHERE status = 'current'"))
            .scalars()
            .all()
        )
        rows = conn.execute(text("SELECT DISTINCT dataset_version_id FROM municipality")).all()
        leftovers = conn.execute(
            text("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'municipality_v%'")
        ).scalar_one()
    assert current == [first.version_id] and rows == [(first.version_id,)]
    assert leftovers == 1
    # the next run succeeds and closes the killed one
    after = harvest(engine, sample_source, settings, force=True)
    assert after.status == "succeeded" and after.loaded == 8
    with engine.connect() as conn:
        statuses = conn.execute(text("SELECT status FROM harvest_run ORDER BY id")).scalars().all()
        killed = conn.execute(
            text("SELECT message FROM harvest_run WHERE status = 'failed'")
        ).scalar_one()
    assert statuses == ["succeeded", "failed", "succeeded"]
    assert "abgebrochen" in killed


def test_malformed_nas_xml(
    engine: Engine, fast: Settings, http_server: LocalServer, shared_fixtures: Path
) -> None:
    good = (shared_fixtures / "real" / "nas" / "AX_Flurstueck.xml").read_bytes()
    http_server.route("/nas/flurstuecke.xml", Reply(body=good), Reply(body=good[: len(good) // 2]))
    source = SourceDefinition(
        id="nas-remote",
        title="NAS über HTTP",
        publisher="Stadt Bonn",
        licence="http://dcat-ap.de/def/licenses/dl-zero-de/2.0",
        attribution="Stadt Bonn",
        access="open",
        protocol=HttpProtocol(type="http", url=http_server.url("/nas/flurstuecke.xml")),
        format=Format(type="nas"),
        layers=[
            Layer(
                layer="AX_Flurstueck",
                target="parcel",
                mapping={"flurstueckskennzeichen": "flurstueckskennzeichen"},
            )
        ],
    )
    assert harvest(engine, source, fast).loaded == 1
    with pytest.raises(HarvestError, match="kein wohlgeformtes XML"):
        harvest(engine, source, fast)
    with engine.connect() as conn:
        parcels = conn.execute(text("SELECT flurstueckskennzeichen FROM parcel")).scalars().all()
        run = conn.execute(text("SELECT status, message FROM harvest_run ORDER BY id DESC")).first()
    assert parcels == ["05432002500008______"]
    assert run is not None and run.status == "failed" and "Zeile" in run.message
