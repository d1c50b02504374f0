"""Bulk downloads: every open dataset as GeoPackage, GeoJSON and CSV, kept in line with the
harvests, served with ETag and conditional requests; restricted data never."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator
from email.utils import format_datetime
from pathlib import Path

import pyogrio
import pytest
import shapely
from fastapi.testclient import TestClient
from psycopg import sql
from pydantic import SecretStr
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from planungsdaten import cli
from planungsdaten.app import create_app
from planungsdaten.db.engine import make_engine
from planungsdaten.harvest.run import harvest
from planungsdaten.harvest.sources import SourceDefinition, load_source
from planungsdaten.publish.downloads import (
    FORMATS,
    INDEX_FILE,
    DownloadFile,
    download_path,
    downloads_index,
    open_datasets,
    refresh_downloads,
)
from planungsdaten.settings import (
    PROJECT_DIR,
    AppSettings,
    ClusterSettings,
    DatabaseSettings,
    HarvestSettings,
    Settings,
)
from tests.conftest import bearer, fresh_database, with_sample_file

# every collection the sample sources below publish; `vacancy` is the open aggregate
EXPECTED = {"municipalities", "parcels", "buildings", "land_use", "addresses", "vacancy"}


def _sample(name: str, sample_dir: Path) -> SourceDefinition:
    return with_sample_file(load_source(PROJECT_DIR / "harvesters" / "sample" / name), sample_dir)


@dataclasses.dataclass
class Published:
    settings: Settings
    engine: Engine
    written: list[DownloadFile]


@pytest.fixture(scope="module")
def published(
    server_url: str,
    template_url: str,
    sample_dir: Path,
    sample_source: SourceDefinition,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Published]:
    """Boundaries, the NAS cadastre and the (restricted) vacancy register harvested once,
    downloads generated in small batches; the tests of this module only read them."""
    with fresh_database(server_url, f"planungsdaten_downloads_{os.getpid()}") as url:
        settings = Settings(
            app=AppSettings(data_dir=tmp_path_factory.mktemp("downloads") / "data"),
            database=DatabaseSettings(url=SecretStr(url)),
            cluster=ClusterSettings(),
            harvest=HarvestSettings(),
        )
        engine = make_engine(settings.database)
        for source in (
            sample_source,
            _sample("alkis-nas.yaml", sample_dir),
            _sample("leerstand.yaml", sample_dir),
        ):
            result = harvest(engine, source, settings)
            assert result.status == "succeeded", (source.id, result.message)
        written = refresh_downloads(engine, settings, batch_size=500)
        yield Published(settings, engine, written)
        engine.dispose()


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        statement = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
        return int(conn.exec_driver_sql(statement.as_string()).scalar_one())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _by_name(settings: Settings) -> dict[str, DownloadFile]:
    return {f.file_name: f for f in downloads_index(settings)}


def test_every_open_dataset_has_its_three_files(published: Published) -> None:
    settings, engine = published.settings, published.engine
    with engine.connect() as conn:
        datasets = open_datasets(conn)
    assert {d.spec.collection_id for d in datasets} == EXPECTED
    files = _by_name(settings)
    assert set(files) == {f"{c}.{ext}" for c in EXPECTED for ext in FORMATS}
    assert {f.file_name for f in published.written} == set(files)
    for dataset in datasets:
        cid, table = dataset.spec.collection_id, dataset.spec.table
        count = _count(engine, table)
        assert count > 0, cid
        for ext in FORMATS:
            file = files[f"{cid}.{ext}"]
            path = download_path(settings, file)
            assert file.dataset_version_ids == dataset.version_ids
            assert file.media_type == FORMATS[ext].media_type
            assert file.bytes == path.stat().st_size
            assert file.sha256 == _sha256(path)

        info = pyogrio.read_info(download_path(settings, files[f"{cid}.gpkg"]), layer=cid)
        assert info["features"] == count, cid
        assert info["crs"] == "EPSG:25832"
        assert info["driver"] == "GPKG"

        with download_path(settings, files[f"{cid}.geojson"]).open(encoding="utf-8") as fh:
            collection = json.load(fh)
        assert collection["type"] == "FeatureCollection" and "crs" not in collection
        features = collection["features"]
        assert len(features) == count, cid
        xmin, ymin, xmax, ymax = shapely.total_bounds(
            [shapely.geometry.shape(f["geometry"]) for f in features]
        )
        # longitude first (RFC 7946): Sachsen-Anhalt lies at about 10.5–13.2° E, 50.9–53.1° N
        assert 10 < xmin < xmax < 14 and 50 < ymin < ymax < 54, cid
        assert dataset.spec.id_field in features[0]["properties"]

        with download_path(settings, files[f"{cid}.csv"]).open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
        assert len(rows) == count, cid
        assert reader.fieldnames is not None and reader.fieldnames[-1] == "wkt"
        assert dataset.spec.geom_field not in reader.fieldnames
        x0, y0, x1, y1 = shapely.total_bounds(shapely.from_wkt([r["wkt"] for r in rows]))
        assert 600_000 < x0 < x1 < 800_000 and 5_600_000 < y0 < y1 < 5_900_000, cid  # UTM 32N

    index = json.loads((settings.downloads_dir / INDEX_FILE).read_text("utf-8"))
    entry = index["files"][0]
    assert {
        "collection_id",
        "format",
        "file_name",
        "bytes",
        "sha256",
        "generated_at",
        "dataset_version_ids",
        "media_type",
    } <= set(entry)


def test_the_vacancy_register_is_offered_only_as_its_aggregate(published: Published) -> None:
    settings, engine = published.settings, published.engine
    files = downloads_index(settings)
    assert "vacancy" not in {f.table for f in files}
    vacancy = _by_name(settings)["vacancy.csv"]
    assert vacancy.table == "vacancy_aggregate"
    with download_path(settings, vacancy).open(encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh))
    assert "vacant_total" in header
    assert not {"street", "house_number", "remarks", "vacant_since"} & set(header)
    # no single register entry leaks into any file
    with engine.connect() as conn:
        remarks = conn.execute(
            text("SELECT DISTINCT remarks FROM vacancy WHERE length(remarks) > 12")
        ).scalars()
        secrets = [r.encode() for r in remarks]
    assert secrets
    for file in files:
        content = download_path(settings, file).read_bytes()
        assert not [s for s in secrets if s in content], file.file_name


def test_routes_serve_the_files_with_validators(published: Published) -> None:
    settings = published.settings
    with TestClient(create_app(settings)) as client:
        listing = client.get("/downloads/")
        assert listing.status_code == 200
        entries = listing.json()
        assert {(e["collection"], e["format"]) for e in entries} == {
            (c, ext) for c in EXPECTED for ext in FORMATS
        }
        for entry in entries:
            assert entry["licences"] == ["http://dcat-ap.de/def/licenses/cc-by/4.0"]
            assert entry["url"].startswith(settings.app.public_url + "/downloads/")
            response = client.get(entry["url"].removeprefix(settings.app.public_url))
            assert response.status_code == 200
            assert response.headers["content-type"] == entry["media_type"]
            assert response.headers["etag"] == f'"{entry["sha256"]}"'
            assert int(response.headers["content-length"]) == entry["bytes"]
            assert hashlib.sha256(response.content).hexdigest() == entry["sha256"]
            name = f"{entry['collection']}.{entry['format']}"
            assert response.headers["content-disposition"] == f'attachment; filename="{name}"'
            assert response.headers["last-modified"]

        url = "/downloads/municipalities.gpkg"
        first = client.get(url)
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        not_modified = client.get(url, headers={"If-None-Match": etag})
        assert not_modified.status_code == 304 and not_modified.content == b""
        assert not_modified.headers["etag"] == etag
        assert client.get(url, headers={"If-None-Match": f'"other", W/{etag}'}).status_code == 304
        assert client.get(url, headers={"If-Modified-Since": modified}).status_code == 304
        assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
        earlier = format_datetime(published.written[0].generated_at.replace(year=2000), usegmt=True)
        assert client.get(url, headers={"If-Modified-Since": earlier}).status_code == 200

        head = client.head(url)
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == first.headers["content-length"]
        assert head.headers["etag"] == etag

        part = client.get(url, headers={"Range": "bytes=0-15"})
        assert part.status_code == 206 and part.content == first.content[:16]
        assert part.content.startswith(b"SQLite format 3")


@pytest.mark.parametrize(
    ("path", "phrase"),
    [
        ("/downloads/gibtsnicht.gpkg", "Keinen offenen Datensatz 'gibtsnicht'"),
        ("/downloads/municipalities.shp", "Das Format 'shp' wird nicht angeboten"),
        ("/downloads/municipalities", "keine Download-Datei"),
        ("/downloads/grid.csv", "Keinen offenen Datensatz"),
    ],
)
def test_unknown_names_are_404_in_german(published: Published, path: str, phrase: str) -> None:
    with TestClient(create_app(published.settings)) as client:
        response = client.get(path)
        assert response.status_code == 404
        assert phrase in response.json()["detail"]
        assert client.head(path).status_code == 404


def test_a_second_refresh_regenerates_nothing(published: Published) -> None:
    settings = published.settings
    before = {p.name: p.stat().st_mtime_ns for p in settings.downloads_dir.iterdir()}
    assert refresh_downloads(published.engine, settings) == []
    after = {p.name: p.stat().st_mtime_ns for p in settings.downloads_dir.iterdir()}
    assert after == before


def test_a_new_version_replaces_the_files(
    engine: Engine, settings: Settings, sample_source: SourceDefinition
) -> None:
    harvest(engine, sample_source, settings)
    first = {f.format: f for f in refresh_downloads(engine, settings)}
    assert set(first) == set(FORMATS)
    result = harvest(engine, sample_source, settings, force=True)
    assert result.status == "succeeded"
    second = {f.format: f for f in refresh_downloads(engine, settings)}
    assert set(second) == set(FORMATS)
    for ext in FORMATS:
        assert second[ext].dataset_version_ids == result.version_ids
        assert first[ext].dataset_version_ids != second[ext].dataset_version_ids
        assert not download_path(settings, first[ext]).exists()
        assert download_path(settings, second[ext]).is_file()
    assert sorted(p.name for p in settings.downloads_dir.iterdir()) == sorted(
        [INDEX_FILE, *(f.stored_name for f in second.values())]
    )
    assert {f.file_name for f in downloads_index(settings)} == {
        f"municipalities.{ext}" for ext in FORMATS
    }


def test_missing_files_are_generated_on_demand(
    engine: Engine, settings: Settings, sample_source: SourceDefinition
) -> None:
    harvest(engine, sample_source, settings)
    with TestClient(create_app(settings)) as client:
        entries = client.get("/downloads/").json()
        assert len(entries) == 3 and all(e["sha256"] is None for e in entries)
        response = client.get("/downloads/municipalities.geojson")
        assert response.status_code == 200
        assert len(response.json()["features"]) == 8
        assert all(e["sha256"] for e in client.get("/downloads/").json())
    assert len(downloads_index(settings)) == 3


def test_restricted_sources_are_never_offered(
    engine: Engine, settings: Settings, sample_source: SourceDefinition
) -> None:
    harvest(engine, sample_source, settings)
    refresh_downloads(engine, settings)
    assert len(downloads_index(settings)) == 3
    # the same source declared restricted: a new version that must not be published
    restricted = sample_source.model_copy(update={"access": "restricted"})
    assert harvest(engine, restricted, settings).status == "succeeded"
    assert refresh_downloads(engine, settings) == []
    assert downloads_index(settings) == []
    assert [p.name for p in settings.downloads_dir.iterdir()] == [INDEX_FILE]
    with TestClient(create_app(settings)) as client:
        assert client.get("/downloads/").json() == []
        response = client.get("/downloads/municipalities.gpkg")
        assert response.status_code == 404
        assert "Keinen offenen Datensatz" in response.json()["detail"]


def test_the_harvest_command_refreshes_the_downloads(
    definitions: Path, database_url: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    env = {"PLANUNGSDATEN_DATABASE_URL": database_url, "PLANUNGSDATEN_DATA_DIR": str(data_dir)}
    result = CliRunner().invoke(cli.app, ["harvest", "--all", "--dir", str(definitions)], env=env)
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (data_dir / "downloads").iterdir())
    assert len(names) == 4 and INDEX_FILE in names


def test_a_failed_refresh_does_not_fail_the_harvest(
    definitions: Path,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(engine: Engine, settings: Settings) -> list[DownloadFile]:
        raise OSError("disk full")

    monkeypatch.setattr(cli, "refresh_downloads", broken)
    env = {"PLANUNGSDATEN_DATABASE_URL": database_url, "PLANUNGSDATEN_DATA_DIR": str(tmp_path)}
    with caplog.at_level(logging.ERROR, logger="planungsdaten"):
        result = CliRunner().invoke(
            cli.app, ["harvest", "--all", "--dir", str(definitions)], env=env
        )
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.output
    assert any("bulk downloads could not be generated" in r.getMessage() for r in caplog.records)


def test_the_harvest_route_refreshes_the_downloads(
    settings: Settings, engine: Engine, definitions: Path
) -> None:
    app_settings = settings.app.model_copy(update={"harvesters_dir": definitions})
    settings = dataclasses.replace(settings, app=app_settings)
    with TestClient(create_app(settings)) as client:
        url = "/api/sources/sample-gemeinden/harvest"
        assert client.post(url, headers=bearer(engine)).status_code == 202
        for _ in range(300):
            if len(downloads_index(settings)) == 3:
                break
            time.sleep(0.1)
        assert {f.file_name for f in downloads_index(settings)} == {
            f"municipalities.{ext}" for ext in FORMATS
        }
        assert client.get("/downloads/municipalities.csv").status_code == 200
