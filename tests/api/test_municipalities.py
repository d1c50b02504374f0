"""/api/municipalities and /health."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import shape


def test_health_reports_postgis(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["postgis"].startswith("3.")


def test_list_without_query_is_paged(client: TestClient) -> None:
    page = client.get("/api/municipalities", params={"limit": 3}).json()
    assert [m["ags"] for m in page] == ["15088020", "15088025", "15088065"]
    rest = client.get("/api/municipalities", params={"limit": 100, "offset": 3}).json()
    assert len(rest) == 5


@pytest.mark.parametrize("q", ["Mücheln", "mücheln", "MUECHELN", "mucheln", "Geiseltal", "150882"])
def test_search_finds_muecheln(client: TestClient, q: str) -> None:
    response = client.get("/api/municipalities", params={"q": q})
    assert response.status_code == 200
    ags = [m["ags"] for m in response.json()]
    assert "15088235" in ags
    if not q.isdigit():
        assert ags == ["15088235"]


def test_search_by_ags_prefix_and_umlaut_in_other_names(client: TestClient) -> None:
    result = client.get("/api/municipalities", params={"q": "1508802"}).json()
    assert {m["ags"] for m in result} == {"15088020", "15088025"}
    duerrenberg = client.get("/api/municipalities", params={"q": "dürrenb"}).json()
    assert [m["name"] for m in duerrenberg] == ["Bad Dürrenberg"]
    assert client.get("/api/municipalities", params={"q": "Magdeburg"}).json() == []


def test_get_one_as_geojson_feature(client: TestClient) -> None:
    response = client.get("/api/municipalities/15088235")
    assert response.status_code == 200
    feature = response.json()
    assert feature["type"] == "Feature" and feature["id"] == "15088235"
    props = feature["properties"]
    assert props["name"] == "Mücheln (Geiseltal)" and props["district"] == "Saalekreis"
    assert props["source_id"] == "sample-gemeinden" and props["area_ha"] > 10_000
    geom = shape(feature["geometry"])
    assert geom.geom_type == "MultiPolygon"
    lon, lat = geom.centroid.x, geom.centroid.y
    assert 11.5 < lon < 12.0 and 51.2 < lat < 51.45  # CRS84: longitude first
    west, south, east, north = feature["bbox"]
    assert west < lon < east and south < lat < north


def test_unknown_ags_is_404_with_german_message(client: TestClient) -> None:
    response = client.get("/api/municipalities/15099999")
    assert response.status_code == 404
    assert response.json()["detail"].startswith("Keine Gemeinde mit dem AGS 15099999 gefunden")


@pytest.mark.parametrize("bad", ["1508823", "15O88235", "150882355", "Mücheln"])
def test_malformed_ags_is_422(client: TestClient, bad: str) -> None:
    response = client.get(f"/api/municipalities/{bad}")
    assert response.status_code == 422
    assert "kein gültiger Amtlicher Gemeindeschlüssel" in response.json()["detail"]


def test_invalid_parameters_are_422_in_german(client: TestClient) -> None:
    response = client.get("/api/municipalities", params={"limit": 0})
    assert response.status_code == 422
    assert response.json()["detail"] == "Ungültige Anfrage: query.limit: muss mindestens 1 sein"
    response = client.get("/api/municipalities", params={"limit": "viele"})
    assert response.json()["detail"] == "Ungültige Anfrage: query.limit: muss eine ganze Zahl sein"


def test_docs_and_openapi_work_offline(client: TestClient) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs.text
    assert "cdn.jsdelivr.net" not in docs.text
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/api/municipalities/{ags}" in spec["paths"]
    assert client.get("/").status_code == 200
