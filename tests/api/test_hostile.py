"""Hostile input to the service: oversized bodies and uploads, archives that climb out of
their folder or expand to gigabytes, files that are no area. Each is refused with a German
message that leaks no internals, and the service keeps answering."""

from __future__ import annotations

import dataclasses
import io
import json
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import httpx
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient

from planungsdaten.app import create_app
from planungsdaten.db.engine import make_engine
from planungsdaten.settings import PROJECT_DIR
from sample_data import generate
from tests.conftest import SAMPLE_AGS, LiveServer, bearer, clone_sample, package_test_settings

# a small area inside the sample municipality (Mücheln), in CRS84
INSIDE = shapely.box(11.79, 51.29, 11.81, 51.30)
LEAKS = ("Traceback", 'File "', "psycopg", "sqlalchemy", "SELECT ", "/work/", "site-packages")


def assert_clean(response: httpx.Response) -> None:
    """A clear German message and nothing of the server's insides."""
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    for leak in LEAKS:
        assert leak not in response.text, (leak, response.text)


@pytest.fixture(scope="module")
def client(
    server_url: str, sample_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    with clone_sample(server_url, sample_database, "planungsdaten_hostile") as url:
        settings = package_test_settings(url, tmp_path_factory.mktemp("hostile"))
        with TestClient(create_app(settings)) as client:
            yield client


def big_polygon_geojson(megabytes: int) -> bytes:
    """A GeoJSON area of about `megabytes` MB: a circle with very many vertices."""
    count = megabytes * 1024 * 1024 // 40
    angles = np.linspace(0, 2 * np.pi, count)
    ring = np.column_stack([11.8 + 0.01 * np.cos(angles), 51.3 + 0.01 * np.sin(angles)])
    ring[-1] = ring[0]
    return json.dumps({"area": {"type": "Polygon", "coordinates": [ring.tolist()]}}).encode()


def upload(client: TestClient, name: str, content: bytes) -> httpx.Response:
    return client.post("/api/areas", files={"file": (name, content, "application/octet-stream")})


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def shapefile_zip(tmp_path: Path, geometry: shapely.Geometry, crs: str = "EPSG:25832") -> bytes:
    frame = gpd.GeoDataFrame({"name": ["Sanierungsgebiet Altstadt"]}, geometry=[geometry], crs=4326)
    path = tmp_path / "gebiet.shp"
    frame.to_crs(crs).to_file(path)
    return zipped({p.name: p.read_bytes() for p in sorted(tmp_path.glob("gebiet.*"))})


@pytest.fixture(scope="module")
def zip_bomb(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """2 GiB of zeros deflated into about 2 MB."""
    path = tmp_path_factory.mktemp("bomb") / "bombe.zip"
    chunk = bytes(16 * 1024 * 1024)
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open("gebiet.geojson", "w", force_zip64=True) as member,
    ):
        for _ in range(2 * 1024 // 16):
            member.write(chunk)
    data = path.read_bytes()
    assert len(data) < 20 * 1024 * 1024
    return data


def test_a_50_mb_geojson_area_is_refused(client: TestClient) -> None:
    body = big_polygon_geojson(50)
    assert len(body) > 45 * 1024 * 1024
    response = client.post(
        "/api/packages", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert "zu groß" in response.json()["detail"]
    assert_clean(response)
    # sent without a length, in chunks: counted and cut off all the same
    chunks = (body[i : i + 1024 * 1024] for i in range(0, len(body), 1024 * 1024))
    response = client.post(
        "/api/packages", content=chunks, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    as_file = upload(client, "gebiet.geojson", body)
    assert as_file.status_code == 413 and "zu groß" in as_file.json()["detail"]
    assert client.get("/health").status_code == 200


def test_a_geojson_area_is_read(client: TestClient) -> None:
    feature = {
        "type": "Feature",
        "properties": {"name": "Quartier am Markt"},
        "geometry": shapely.geometry.mapping(INSIDE),
    }
    response = upload(client, "quartier.geojson", json.dumps(feature).encode())
    assert response.status_code == 200, response.text
    area = response.json()
    assert area["name"] == "Quartier am Markt"
    assert area["ags"] == [SAMPLE_AGS]
    assert shapely.geometry.shape(area["area"]).equals(INSIDE)
    assert area["area_km2"] == pytest.approx(1.55, rel=0.05)  # 0.02° x 0.01° at 51.3° N
    assert area["vertices"] == 5


def test_a_zipped_shapefile_area_is_read(client: TestClient, tmp_path: Path) -> None:
    response = upload(client, "sanierungsgebiet.zip", shapefile_zip(tmp_path, INSIDE))
    assert response.status_code == 200, response.text
    area = response.json()
    assert area["name"] == "Sanierungsgebiet Altstadt"
    assert area["ags"] == [SAMPLE_AGS]
    # through EPSG:25832 and back: within a centimetre
    assert shapely.geometry.shape(area["area"]).symmetric_difference(INSIDE).area < 1e-12


def test_a_zip_climbing_out_of_its_folder_is_refused(client: TestClient, tmp_path: Path) -> None:
    feature = json.dumps(shapely.geometry.mapping(INSIDE)).encode()
    response = upload(
        client, "gebiet.zip", zipped({"../../../../tmp/planungsdaten-escape.geojson": feature})
    )
    assert response.status_code == 422
    assert "'..'" in response.json()["detail"] and "nicht entpackt" in response.json()["detail"]
    assert_clean(response)
    assert not Path("/tmp/planungsdaten-escape.geojson").exists()
    assert client.get("/health").status_code == 200


def test_a_zip_bomb_is_refused(client: TestClient, zip_bomb: bytes) -> None:
    response = upload(client, "gebiet.zip", zip_bomb)
    assert response.status_code == 422
    assert "ZIP-Bombe" in response.json()["detail"]
    assert_clean(response)
    assert client.get("/health").status_code == 200


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("leer.geojson", b"", "ist leer"),
        ("bild.png", b"\x89PNG\r\n\x1a\n" + bytes(100), "weder GeoJSON noch ein ZIP-Archiv"),
        ("tief.json", b"[" * 100_000 + b"]" * 100_000, "zu tief verschachtelt"),
        ("punkt.geojson", b'{"type": "Point", "coordinates": [11.8, 51.3]}', "keine Fläche"),
        ("kaputt.zip", b"PK\x03\x04" + bytes(50), "keine lesbare ZIP-Datei"),
        (
            "ohne_prj.zip",
            zipped({"gebiet.shp": b"\x00" * 100, "gebiet.dbf": b"", "gebiet.shx": b""}),
            "fehlt zu gebiet.shp die .prj-Datei",
        ),
        (
            "utm.geojson",
            json.dumps(
                {
                    "type": "Polygon",
                    "crs": {"type": "name", "properties": {"name": "EPSG:25832"}},
                    "coordinates": [
                        [[693400, 5687800], [694400, 5687800], [694400, 5688600], [693400, 5687800]]
                    ],
                }
            ).encode(),
            "bitte in WGS 84",
        ),
        (
            "bayern.geojson",
            json.dumps(shapely.geometry.mapping(shapely.box(11.5, 48.1, 11.6, 48.2))).encode(),
            "außerhalb der Gemeinden",
        ),
    ],
)
def test_files_that_are_no_area_are_refused(
    client: TestClient, name: str, content: bytes, message: str
) -> None:
    response = upload(client, name, content)
    assert 400 <= response.status_code < 500, response.text
    assert message in response.json()["detail"]
    assert_clean(response)


def test_html_pages_carry_security_headers_and_cors_is_configurable(client: TestClient) -> None:
    page = client.get("/")
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    # pygeoapi's pages start their maps inline: allowed there, and only there
    assert "'unsafe-inline'" in client.get("/ogc?f=html").headers["Content-Security-Policy"]
    assert "Content-Security-Policy" not in client.get("/api/municipalities").headers
    preflight = client.options(
        "/api/packages",
        headers={
            "Origin": "https://geoportal.example.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]


def test_cors_can_be_limited(client: TestClient) -> None:
    app_settings = client.app.state.settings.app.model_copy(  # type: ignore[attr-defined]
        update={"cors_origins": ["https://geoportal.sachsen-anhalt.de"]}
    )
    settings = dataclasses.replace(client.app.state.settings, app=app_settings)  # type: ignore[attr-defined]
    with TestClient(create_app(settings)) as limited:
        allowed = limited.get(
            "/api/municipalities", headers={"Origin": "https://geoportal.sachsen-anhalt.de"}
        )
        assert (
            allowed.headers["Access-Control-Allow-Origin"] == "https://geoportal.sachsen-anhalt.de"
        )
        other = limited.get("/api/municipalities", headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in other.headers


def test_keys_never_appear_in_logs(
    server_url: str, sample_database: str, live_port: int, tmp_path: Path
) -> None:
    """Requests with a valid, an invalid and a revoked key: none of them in the server's
    access log or application log, at the most verbose level."""
    log = tmp_path / "server.log"
    with clone_sample(server_url, sample_database, "planungsdaten_keylog") as url:
        env = {
            "PLANUNGSDATEN_DATABASE_URL": url,
            "PLANUNGSDATEN_DATA_DIR": str(tmp_path / "data"),
            "PLANUNGSDATEN_LOG_LEVEL": "DEBUG",
            "PLANUNGSDATEN_PACKAGE_WORKERS": "0",
        }
        with LiveServer(live_port, env, access_log=log) as server:
            engine = make_engine(package_test_settings(url, tmp_path).database)
            operator = bearer(engine)
            planner = bearer(engine, "planner", [SAMPLE_AGS])
            engine.dispose()
            secrets_ = [h["Authorization"].split(" ")[1] for h in (operator, planner)]
            forged = "pdk_zzzzzzzzzz_" + "Q" * 43
            with httpx.Client(base_url=server.url, timeout=30) as http:
                assert http.get("/api/me", headers=planner).status_code == 200
                body = {"ags": SAMPLE_AGS, "themes": ["vacancy"], "restricted": True}
                assert http.post("/api/packages", json=body, headers=planner).status_code == 202
                assert http.get("/api/keys", headers=operator).status_code == 200
                bad = {"Authorization": f"Bearer {forged}"}
                assert http.get("/api/me", headers=bad).status_code == 401
                key_id = secrets_[1].split("_")[1]
                assert http.delete(f"/api/keys/{key_id}", headers=operator).status_code == 200
                assert http.get("/api/me", headers=planner).status_code == 401
        text_ = log.read_text("utf-8", "replace")
    assert "GET /api/me" in text_  # the log was written
    for secret in [*secrets_, forged]:
        assert secret not in text_
        assert secret.split("_", 2)[2] not in text_


def _harvest_through_the_service(
    client: TestClient, folder: Path, definition: str
) -> dict[str, object]:
    """An operator starts the harvest of `definition` over the API; the finished run."""
    (folder / "quelle.yaml").write_text(definition, "utf-8")
    settings = client.app.state.settings  # type: ignore[attr-defined]
    app_settings = settings.app.model_copy(update={"harvesters_dir": folder})
    engine = make_engine(settings.database)
    headers = bearer(engine, name="Betrieb")
    engine.dispose()
    source_id = next(
        line.split(": ", 1)[1] for line in definition.splitlines() if line.startswith("id: ")
    )
    with TestClient(create_app(dataclasses.replace(settings, app=app_settings))) as operator:
        started = operator.post(f"/api/sources/{source_id}/harvest", headers=headers)
        assert started.status_code == 202
        for _ in range(200):
            run = operator.get(started.headers["Location"]).json()
            if run["status"] != "running":
                break
            time.sleep(0.1)
        assert operator.get("/health").status_code == 200
    return run


@pytest.mark.parametrize("attack", ["bomb", "xxe"])
def test_hostile_nas_files_are_refused(
    client: TestClient, sample_dir: Path, tmp_path: Path, attack: str
) -> None:
    """A NAS file with a "billion laughs" bomb or an external entity reading a local file:
    the harvest fails at once with a message saying why, nothing is expanded or read, the
    parcels served before stay, and the service keeps answering."""
    secret = tmp_path / "geheim.txt"
    secret.write_text("Passwort=Geheim-4711", "utf-8")
    if attack == "bomb":
        entities = '<!ENTITY l0 "hahahahaha">' + "".join(
            f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)
        )
        doctype, reference = f"<!DOCTYPE adv:AX_Bestandsdatenauszug [{entities}]>", "&l9;"
    else:
        doctype = f'<!DOCTYPE adv:AX_Bestandsdatenauszug [<!ENTITY x SYSTEM "{secret.as_uri()}">]>'
        reference = "&x;"
    nas = (sample_dir / generate.NAS_FILE).read_text("utf-8")
    declaration, _, rest = nas.partition("?>\n")
    rest = rest.replace("Synthetische Beispieldaten", reference, 1)
    hostile = tmp_path / "feindlich.xml"
    hostile.write_text(f"{declaration}?>\n{doctype}\n{rest}", "utf-8")
    definition = (PROJECT_DIR / "harvesters" / "sample" / "alkis-nas.yaml").read_text("utf-8")
    definition = definition.replace("../../sample_data/ALKIS_NAS_Beispiel.xml", str(hostile))
    parcels = client.get("/ogc/collections/parcels/items", params={"limit": 1}).json()
    started = time.monotonic()
    run = _harvest_through_the_service(client, tmp_path, definition)
    assert time.monotonic() - started < 30
    assert run["status"] == "failed"
    message = str(run["message"])
    assert "feindlich.xml enthält eine DTD" in message and "XML-Bombe/XXE" in message
    assert "Geheim-4711" not in message
    after = client.get("/ogc/collections/parcels/items", params={"limit": 1}).json()
    assert after["numberMatched"] == parcels["numberMatched"] > 0


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1:9/vg250.gpkg", "eine Loopback-Adresse"),
        ("http://169.254.169.254/latest/meta-data/vg250.gpkg", "den Cloud-Metadatendienst"),
    ],
)
def test_a_harvest_url_to_internal_addresses_is_refused(
    client: TestClient, tmp_path: Path, url: str, kind: str
) -> None:
    """An operator starts a harvest whose source points inside the network: the run fails
    with a message naming the address, nothing is fetched, the service keeps answering."""
    definition = (PROJECT_DIR / "harvesters" / "sample" / "gemeinden.yaml").read_text("utf-8")
    definition = definition.replace(
        "  type: file\n  path: ../../sample_data/VG250_GEM_Beispiel.gpkg",
        f"  type: http\n  url: {url}",
    )
    settings = client.app.state.settings  # type: ignore[attr-defined]
    assert settings.harvest.allow_private_networks is False
    before = client.get("/api/municipalities", params={"limit": 100}).json()
    run = _harvest_through_the_service(client, tmp_path, definition)
    assert run["status"] == "failed"
    message = str(run["message"])
    assert kind in message and "PLANUNGSDATEN_HARVEST_ALLOW_PRIVATE_NETWORKS" in message
    # the municipalities harvested before are still served
    assert client.get("/api/municipalities", params={"limit": 100}).json() == before
