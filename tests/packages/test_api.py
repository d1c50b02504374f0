"""Bad package requests: each a 4xx with a German message saying what to change, and no job."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from planungsdaten.app import create_app
from planungsdaten.settings import Settings
from tests.conftest import SAMPLE_AGS

TOWN = shapely.box(693_400, 5_687_800, 694_400, 5_688_600)


@pytest.fixture
def client(package_settings: Settings) -> Iterator[TestClient]:
    small = package_settings.package.model_copy(
        update={"max_area_km2": 50.0, "max_vertices": 500, "max_request_bytes": 200_000}
    )
    settings = Settings(
        app=package_settings.app,
        database=package_settings.database,
        package=small,
    )
    with TestClient(create_app(settings)) as client:
        yield client


def polygon(geometry: shapely.Geometry) -> dict[str, object]:
    return dict(shapely.geometry.mapping(geometry))


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"ags": "15099999"}, 422, "Keine Gemeinde mit dem AGS 15099999"),
        ({"ags": "1508823"}, 422, "genau 8 Ziffern"),
        ({}, 422, "genau eines angeben"),
        ({"ags": SAMPLE_AGS, "area": polygon(TOWN)}, 422, "genau eines angeben"),
        (
            {"ags": SAMPLE_AGS, "themes": ["gruenflaechen"]},
            422,
            "unbekanntes Thema 'gruenflaechen'",
        ),
        ({"ags": SAMPLE_AGS, "themes": []}, 422, "mindestens ein Thema"),
        ({"ags": SAMPLE_AGS, "formats": ["shp"]}, 422, "unbekanntes Format 'shp'"),
        ({"ags": SAMPLE_AGS, "output_crs": "EPSG:31468"}, 422, "wird nicht angeboten"),
        ({"ags": SAMPLE_AGS, "colour": "rot"}, 422, "colour: ist kein bekanntes Feld"),
        (
            {"area": {"type": "LineString", "coordinates": [[11.7, 51.3], [11.8, 51.3]]}},
            422,
            "Polygon oder MultiPolygon sein, nicht 'LineString'",
        ),
        (
            # a bow tie: the ring crosses itself
            {
                "area": {
                    "type": "Polygon",
                    "coordinates": [
                        [
                            [693400, 5687800],
                            [694400, 5688600],
                            [694400, 5687800],
                            [693400, 5688600],
                            [693400, 5687800],
                        ]
                    ],
                },
                "area_crs": "EPSG:25832",
            },
            422,
            "Self-intersection",
        ),
        (
            {"area": polygon(shapely.box(8.0, 48.0, 8.05, 48.05))},  # Baden-Württemberg
            422,
            "außerhalb der Gemeinden",
        ),
        (
            {
                "area": polygon(shapely.box(692_000, 5_680_000, 702_000, 5_690_000)),
                "area_crs": "EPSG:25832",
            },
            422,
            "100 km² groß; erlaubt sind höchstens 50 km²",
        ),
        (
            {
                "area": polygon(shapely.Point(694_000, 5_688_200).buffer(300, 200)),
                "area_crs": "EPSG:25832",
            },
            422,
            "Stützpunkte; erlaubt sind höchstens 500",
        ),
        ({"area": polygon(TOWN)}, 422, "passen nicht zu CRS84"),
        (
            {"area": polygon(shapely.box(11.7, 51.3, 11.71, 51.31)), "area_crs": "EPSG:25832"},
            422,
            "sehen nach Längen-/Breitengrad aus",
        ),
    ],
)
def test_bad_request_is_refused_in_german(
    client: TestClient,
    package_engine: Engine,
    body: dict[str, object],
    status: int,
    message: str,
) -> None:
    response = client.post("/api/packages", json=body)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]
    with package_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM package_job")).scalar_one() == 0


def test_malformed_json_is_400(client: TestClient) -> None:
    response = client.post(
        "/api/packages",
        content=b'{"ags": "15088235",',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert "kein gültiges JSON" in response.json()["detail"]
    assert client.post("/api/packages", content=b"[1, 2]").status_code == 400


def test_oversized_body_is_413(client: TestClient) -> None:
    huge = b'{"ags": "15088235", "name": "' + b"x" * 300_000 + b'"}'
    response = client.post("/api/packages", content=huge)
    assert response.status_code == 413
    assert "zu groß" in response.json()["detail"]


def test_unknown_and_unfinished_packages(client: TestClient, package_engine: Engine) -> None:
    assert client.get("/api/packages/not-a-uuid").status_code == 404
    missing = client.get("/api/packages/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and "Kein Datenpaket" in missing.json()["detail"]
    queued = client.post("/api/packages", json={"ags": SAMPLE_AGS})  # no worker runs here
    assert queued.status_code == 202
    body = queued.json()
    assert body["status"] == "queued" and body["progress"] == 0
    assert queued.headers["location"] == f"/api/packages/{body['id']}"
    unfinished = client.get(f"/api/packages/{body['id']}/download")
    assert unfinished.status_code == 409 and "noch nicht fertig" in unfinished.json()["detail"]
    # the same request again while it waits is the same job, not a second one
    assert client.post("/api/packages", json={"ags": SAMPLE_AGS}).json()["id"] == body["id"]
    # another caller (no cookie) sees neither the job nor its list
    stranger = TestClient(client.app)
    assert stranger.get(f"/api/packages/{body['id']}").status_code == 404
    assert stranger.get("/api/packages").json() == []
    with package_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM package_job")).scalar_one() == 1
