"""A package of the sample municipality, requested over the API and built by the service's
worker: every file checked against independent SQL on the same data."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pyogrio
import pypdf
import pyproj
import pytest
import shapely
from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy import Engine, text

from planungsdaten.app import create_app
from planungsdaten.db.engine import make_engine
from planungsdaten.packages import jobs
from planungsdaten.packages.area import resolve_area
from planungsdaten.packages.build import BuildSpec, build_package
from planungsdaten.packages.request import parse_request
from planungsdaten.packages.worker import Worker
from planungsdaten.security.identity import Identity
from planungsdaten.settings import Settings
from tests.conftest import SAMPLE_AGS, clone_sample, package_test_settings

EXPECTED_LAYERS = {
    "untersuchungsgebiet",
    "gemeindegrenze",
    "flurstuecke",
    "hausnummern",
    "gebaeude",
    "tatsaechliche_nutzung",
    "zensus_gitter_100m",
    "leerstand_aggregiert",
    "verkehrszaehlstellen",
    "bebauungsplaene",
}
# the municipality's geometry, as the package takes it
MUNI = "(SELECT geom FROM municipality WHERE ags = :ags ORDER BY dataset_version_id DESC LIMIT 1)"


@dataclass
class Built:
    """A package built through the API, unpacked."""

    root: Path
    zip_bytes: bytes
    status: dict[str, object]
    engine: Engine
    settings: Settings

    def file(self, name: str) -> Path:
        return self.root / name


def wait_for(client: TestClient, url: str, timeout_s: float = 120) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = client.get(url).json()
        if status["status"] in ("succeeded", "failed"):
            return status
        time.sleep(0.2)
    raise AssertionError(f"package not finished in {timeout_s} s: {status}")


@pytest.fixture(scope="module")
def built(
    server_url: str, sample_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Built]:
    tmp = tmp_path_factory.mktemp("package")
    with clone_sample(server_url, sample_database, "planungsdaten_pkg_module") as url:
        settings = package_test_settings(url, tmp / "data", workers=1)
        engine = make_engine(settings.database)
        with TestClient(create_app(settings)) as client:
            response = client.post("/api/packages", json={"ags": SAMPLE_AGS})
            assert response.status_code == 202, response.text
            location = response.headers["location"]
            status = wait_for(client, location)
            assert status["status"] == "succeeded", status
            download = client.get(f"{location}/download")
            assert download.status_code == 200
            assert download.headers["content-type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
            assert archive.testzip() is None
            archive.extractall(tmp / "unpacked")
        (root,) = (tmp / "unpacked").iterdir()
        yield Built(root, download.content, status, engine, settings)
        engine.dispose()


def sql_count(engine: Engine, statement: str, **params: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(statement), {"ags": SAMPLE_AGS, **params}).scalar_one())


def test_zip_holds_every_file(built: Built) -> None:
    names = {p.relative_to(built.root).as_posix() for p in built.root.rglob("*") if p.is_file()}
    assert {
        "datenpaket.gpkg",
        "indikatoren.csv",
        "indikatoren.xlsx",
        "flurstuecksliste.csv",
        "bericht.html",
        "bericht.pdf",
        "metadaten.json",
        "manifest.json",
        "LIZENZEN.txt",
    } <= names
    assert "karten/karte_uebersicht.png" in names
    assert built.root.name == "Datenpaket_Muecheln_Geiseltal"
    file = built.status["file"]
    assert isinstance(file, dict)
    assert file["sha256"] == hashlib.sha256(built.zip_bytes).hexdigest()
    assert file["size"] == len(built.zip_bytes)


def test_geopackage_layers_match_sql_selections(built: Built) -> None:
    gpkg = built.file("datenpaket.gpkg")
    layers = {name for name, _ in pyogrio.list_layers(gpkg)}
    assert layers >= EXPECTED_LAYERS
    assert "leerstand" not in layers  # anonymous caller: no personal data
    counts = {
        "flurstuecke": sql_count(
            built.engine,
            f"SELECT count(*) FROM parcel p WHERE ST_Area(ST_Intersection(p.geom, {MUNI})) > 0",
        ),
        "gebaeude": sql_count(
            built.engine,
            f"SELECT count(*) FROM building b WHERE ST_Area(ST_Intersection(b.geom, {MUNI})) > 0",
        ),
        "hausnummern": sql_count(
            built.engine, f"SELECT count(*) FROM address a WHERE ST_Intersects(a.geom, {MUNI})"
        ),
        "zensus_gitter_100m": sql_count(
            built.engine,
            "SELECT count(DISTINCT cell_id) FROM grid_cell c WHERE resolution_m = 100 "
            f"AND ST_Area(ST_Intersection(c.geom, {MUNI})) > 0",
        ),
        "verkehrszaehlstellen": sql_count(
            built.engine,
            f"SELECT count(*) FROM traffic_count t WHERE ST_DWithin(t.geom, {MUNI}, 1000)",
        ),
        "bebauungsplaene": sql_count(
            built.engine,
            "SELECT count(*) FROM development_plan p "
            f"WHERE ST_Area(ST_Intersection(p.geom, {MUNI})) > 0",
        ),
        "leerstand_aggregiert": sql_count(
            built.engine,
            "SELECT count(*) FROM vacancy_aggregate g WHERE unit = 'grid_100m' "
            f"AND ST_Area(ST_Intersection(g.geom, {MUNI})) > 0",
        ),
        "untersuchungsgebiet": 1,
        "gemeindegrenze": 1,
    }
    assert counts["flurstuecke"] > 3000 and counts["leerstand_aggregiert"] > 0
    for layer, expected in counts.items():
        assert pyogrio.read_info(gpkg, layer=layer)["features"] == expected, layer
    info = pyogrio.read_info(gpkg, layer="flurstuecke")
    assert info["crs"] == "EPSG:25832" and info["geometry_type"] == "MultiPolygon"
    parcels = pyogrio.read_dataframe(gpkg, layer="flurstuecke")
    assert parcels["flurstueckskennzeichen"].is_monotonic_increasing


def test_every_layer_has_a_qgis_style(built: Built) -> None:
    with sqlite3.connect(built.file("datenpaket.gpkg")) as db:
        styles = dict(
            db.execute(
                "SELECT f_table_name, styleQML FROM layer_styles WHERE useAsDefault"
            ).fetchall()
        )
        geometry_layers = {r[0] for r in db.execute("SELECT table_name FROM gpkg_geometry_columns")}
    assert set(styles) == geometry_layers
    for qml in styles.values():
        root = etree.fromstring(qml.encode())
        assert root.tag == "qgis" and root.find("renderer-v2") is not None


def test_indicators_equal_independent_sql(built: Built) -> None:
    with built.file("indikatoren.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = {r["schluessel"]: r for r in csv.DictReader(f, delimiter=";")}

    def number(key: str, column: str = "wert_gebiet") -> float:
        return float(rows[key][column].replace(",", "."))

    residents = sql_count(
        built.engine,
        "SELECT round(sum(v.value * ST_Area(ST_Intersection(c.geom, m.geom)) / ST_Area(c.geom))) "
        f"FROM grid_value v JOIN grid_cell c USING (cell_id, dataset_version_id), {MUNI} m(geom) "
        "WHERE v.indicator = 'einwohner' AND v.resolution_m = 100",
    )
    buildings = sql_count(
        built.engine,
        f"SELECT count(*) FROM building b WHERE ST_Within(ST_PointOnSurface(b.geom), {MUNI})",
    )
    assert residents > 10_000 and round(number("einwohner")) == residents
    assert number("gebaeude") == buildings
    assert number("einwohner") == number("einwohner", "wert_gemeinde")  # area = municipality
    assert rows["einwohner"]["stand"] == "15.05.2022"
    assert rows["einwohner"]["einheit"] == "EW" and "gewichtet" in rows["einwohner"]["methode"]
    sheet = openpyxl.load_workbook(built.file("indikatoren.xlsx")).active
    assert sheet is not None
    values = {
        row[8]: row[3] for row in sheet.iter_rows(values_only=True) if row and row[8] is not None
    }
    assert values["einwohner"] == pytest.approx(number("einwohner"))
    assert isinstance(values["gebaeude"], int | float)


def test_parcel_list_has_every_parcel_with_its_share(built: Built) -> None:
    with built.file("flurstuecksliste.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    gpkg = pyogrio.read_dataframe(built.file("datenpaket.gpkg"), layer="flurstuecke")
    assert len(rows) == len(gpkg)
    assert {r["kennzeichen"] for r in rows} == set(gpkg["flurstueckskennzeichen"])
    first = rows[0]
    assert set(first) >= {"gemarkung", "flur", "nummer", "amtliche_flaeche_m2", "lage"}
    assert all(0 < float(r["anteil_im_gebiet_prozent"].replace(",", ".")) <= 100 for r in rows)


def test_report_has_pages_with_maps(built: Built) -> None:
    reader = pypdf.PdfReader(built.file("bericht.pdf"))
    assert len(reader.pages) >= 5
    maps = sorted(p.name for p in built.file("karten").iterdir())
    assert sum(len(page.images) for page in reader.pages) >= len(maps) >= 6
    first = reader.pages[0].extract_text()
    assert "Mücheln (Geiseltal)" in first and "Datenstand" in first
    html = built.file("bericht.html").read_text("utf-8")
    assert html.count('src="data:image/png;base64,') == len(maps)
    assert 'src="http' not in html
    assert "Beispieldaten planungsdaten (synthetisch), CC BY 4.0" in html


def test_manifest_checksums_and_versions(built: Built) -> None:
    manifest = json.loads(built.file("manifest.json").read_text("utf-8"))
    listed = {f["path"]: f for f in manifest["files"]}
    on_disk = {
        p.relative_to(built.root).as_posix()
        for p in built.root.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }
    assert set(listed) == on_disk
    for path, entry in listed.items():
        data = built.file(path).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest(), path
        assert entry["bytes"] == len(data)
    with built.engine.connect() as conn:
        current = set(
            conn.execute(text("SELECT id FROM dataset_version WHERE status = 'current'")).scalars()
        )
    assert {d["dataset_version"] for d in manifest["datasets"]} == current
    assert manifest["request"]["ags"] == SAMPLE_AGS
    assert manifest["software"]["planungsdaten"]
    metadata = json.loads(built.file("metadaten.json").read_text("utf-8"))
    assert metadata["@type"] == "dcat:Dataset"
    assert len(metadata["dcat:distribution"]) == len(on_disk) - 1  # all but metadaten.json
    licences = built.file("LIZENZEN.txt").read_text("utf-8")
    for dataset in manifest["datasets"]:
        assert dataset["attribution"] in licences


def test_same_request_is_answered_from_the_cache(built: Built) -> None:
    with TestClient(create_app(built.settings)) as client:
        again = client.post("/api/packages", json={"ags": SAMPLE_AGS, "themes": []})
        assert again.status_code == 422  # an empty theme list is an error, not "all"
        again = client.post("/api/packages", json={"ags": SAMPLE_AGS})
        assert again.status_code == 200, again.text
        body = again.json()
        assert body["status"] == "succeeded" and body["cached"] is True
        assert body["file"]["sha256"] == hashlib.sha256(built.zip_bytes).hexdigest()
        assert client.get(body["links"]["download"]).content == built.zip_bytes
        listed = client.get("/api/packages").json()
        assert [p["id"] for p in listed] == [body["id"]]  # this client's packages only


def test_content_is_deterministic(built: Built, tmp_path: Path) -> None:
    request = parse_request({"ags": SAMPLE_AGS})
    with built.engine.connect() as conn:
        area = resolve_area(conn, request, built.settings.package)
    spec = BuildSpec(identifier="x", request=request, area=area)
    with built.engine.connect() as conn:
        first = build_package(conn, spec, tmp_path / "a.zip")
    with built.engine.connect() as conn:
        second = build_package(conn, spec, tmp_path / "b.zip")
    assert first.sha256 == second.sha256


def test_restricted_layer_only_for_authorised_callers(built: Built) -> None:
    worker = Worker(built.settings, built.engine, built.engine)
    request = parse_request({"ags": SAMPLE_AGS, "themes": ["vacancy"], "formats": ["gpkg"]})
    results = {}
    for who in (
        Identity(subject="planner:a", role="planner", ags=frozenset({SAMPLE_AGS})),
        Identity(subject="planner:b", role="planner", ags=frozenset({"15088205"})),
        Identity.anonymous("0" * 32),
    ):
        job, cached = jobs.submit(built.engine, request, who, built.settings)
        # the open package of planner b is the anonymous caller's too: same content
        assert cached == (who.role == "anonymous")
        if not cached:
            assert worker.run_once(job.id) == job.id
        with built.engine.connect() as conn:
            job = jobs.get(conn, job.id, who)
        assert job.status == "succeeded", job.error
        assert job.restricted_ags == ([SAMPLE_AGS] if who.subject == "planner:a" else [])
        path = built.root.parent / f"{who.subject.replace(':', '_')}.gpkg"
        with zipfile.ZipFile(jobs.package_path(built.settings, job.cached_from or job.id)) as zf:
            (gpkg,) = [n for n in zf.namelist() if n.endswith(".gpkg")]
            path.write_bytes(zf.read(gpkg))
        results[who.subject] = {name for name, _ in pyogrio.list_layers(path)}
    assert "leerstand" in results["planner:a"]
    assert "leerstand" not in results["planner:b"]
    assert "leerstand" not in results[f"anonymous:{'0' * 32}"]
    assert all("leerstand_aggregiert" in layers for layers in results.values())
    detail = pyogrio.read_dataframe(built.root.parent / "planner_a.gpkg", layer="leerstand")
    located = sql_count(
        built.engine, "SELECT count(*) FROM vacancy WHERE geom IS NOT NULL AND ags = :ags"
    )
    assert len(detail) == located > 0


def test_drawn_area_cuts_parcels_and_land_use(built: Built) -> None:
    # an area in EPSG:25832 across the town centre, cutting parcels and land use
    area = shapely.Polygon(
        [(693_350, 5_687_720), (694_430, 5_687_800), (694_380, 5_688_630), (693_300, 5_688_560)]
    )
    request = parse_request(
        {
            "area": shapely.geometry.mapping(area),
            "area_crs": "EPSG:25832",
            "name": "Fördergebiet Altstadt",
            "themes": ["cadastre", "land_use"],
            "formats": ["gpkg", "csv"],
        }
    )
    worker = Worker(built.settings, built.engine, built.engine)
    job, _ = jobs.submit(built.engine, request, Identity.anonymous("1" * 32), built.settings)
    worker.run_once(job.id)
    with built.engine.connect() as conn:
        job = jobs.get(conn, job.id, Identity.anonymous("1" * 32))
    assert job.status == "succeeded", job.error
    assert job.area_name == "Fördergebiet Altstadt" and job.ags == [SAMPLE_AGS]
    out = built.root.parent / "drawn"
    with zipfile.ZipFile(jobs.package_path(built.settings, job.id)) as archive:
        archive.extractall(out)
    (root,) = out.iterdir()
    parcels = pyogrio.read_dataframe(root / "datenpaket.gpkg", layer="flurstuecke")
    expected_share = parcels.geometry.intersection(area).area / parcels.geometry.area * 100
    assert parcels["anteil_im_gebiet_prozent"].to_numpy() == pytest.approx(
        expected_share.to_numpy(), abs=1e-6
    )
    cut = parcels[(parcels["anteil_im_gebiet_prozent"] < 99.9)]
    assert len(cut) > 10 and (parcels["anteil_im_gebiet_prozent"] > 99.999).sum() > 10
    with (root / "flurstuecksliste.csv").open(encoding="utf-8-sig", newline="") as f:
        listed = {r["kennzeichen"]: r for r in csv.DictReader(f, delimiter=";")}
    sample = cut.iloc[0]
    share = float(
        listed[sample["flurstueckskennzeichen"]]["anteil_im_gebiet_prozent"].replace(",", ".")
    )
    assert share == pytest.approx(sample["anteil_im_gebiet_prozent"], abs=0.01)
    land_use = pyogrio.read_dataframe(root / "datenpaket.gpkg", layer="tatsaechliche_nutzung")
    assert land_use.geometry.within(area.buffer(0.01)).all()
    with (root / "indikatoren.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = {r["schluessel"]: r for r in csv.DictReader(f, delimiter=";")}
    total_ha = float(rows["nutzung_gesamt_ha"]["wert_gebiet"].replace(",", "."))
    assert land_use.geometry.area.sum() / 1e4 == pytest.approx(total_ha, rel=1e-6)
    covered = sql_count(
        built.engine,
        "SELECT round(ST_Area(ST_Intersection(ST_Union(geom), ST_GeomFromText(:wkt, 25832)))) "
        "FROM land_use",
        wkt=area.wkt,
    )
    assert total_ha * 1e4 == pytest.approx(covered, abs=1)
    assert total_ha * 1e4 == pytest.approx(area.area, rel=1e-6)  # the cadastre covers it all


def test_other_output_crs_and_geojson(built: Built) -> None:
    request = parse_request(
        {
            "ags": SAMPLE_AGS,
            "themes": ["buildings"],
            "formats": ["gpkg", "geojson"],
            "output_crs": "http://www.opengis.net/def/crs/EPSG/0/25833",
        }
    )
    who = Identity.anonymous("4" * 32)
    job, _ = jobs.submit(built.engine, request, who, built.settings)
    Worker(built.settings, built.engine, built.engine).run_once(job.id)
    out = built.root.parent / "utm33"
    with zipfile.ZipFile(jobs.package_path(built.settings, job.id)) as archive:
        archive.extractall(out)
    (root,) = out.iterdir()
    names = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert "geojson/gebaeude.geojson" in names and "bericht.pdf" not in names
    gpkg = pyogrio.read_dataframe(root / "datenpaket.gpkg", layer="gebaeude")
    assert gpkg.crs.to_epsg() == 25833
    first = gpkg.iloc[0]
    with built.engine.connect() as conn:
        x, y = conn.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_StartPoint(ST_ExteriorRing("
                "ST_GeometryN(geom, 1))) AS p FROM building WHERE source_object_id = :id) s"
            ),
            {"id": first["objekt_id"]},
        ).one()
    expected = pyproj.Transformer.from_crs(25832, 25833, always_xy=True).transform(x, y)
    start = shapely.get_coordinates(first.geometry)[0]
    assert start == pytest.approx(expected, abs=0.001)
    geojson = json.loads((root / "geojson" / "gebaeude.geojson").read_text("utf-8"))
    lon, lat = geojson["features"][0]["geometry"]["coordinates"][0][0][0][:2]
    assert 11.5 < lon < 12.0 and 51.2 < lat < 51.4
    assert len(geojson["features"]) == len(gpkg)
