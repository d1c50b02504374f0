"""/ogc: pygeoapi mounted with a configuration generated from the catalogue."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pygeoapi.config import validate_config
from sqlalchemy import Engine, text

from planungsdaten.app import create_app
from planungsdaten.harvest.run import harvest
from planungsdaten.harvest.sources import SourceDefinition
from planungsdaten.publish.ogc_config import OUTPUT_CRS, STORAGE_CRS, build_config, load_base
from planungsdaten.settings import Settings
from sample_data.generate import boundaries

EPSG_25832 = "http://www.opengis.net/def/crs/EPSG/0/25832"
PUBLIC = "https://planung.example.org"


@pytest.fixture
def public_settings(settings: Settings) -> Settings:
    app = settings.app.model_copy(update={"public_url": PUBLIC})
    return dataclasses.replace(settings, app=app)


@pytest.fixture
def ogc(
    engine: Engine, public_settings: Settings, sample_source: SourceDefinition
) -> Iterator[TestClient]:
    harvest(engine, sample_source, public_settings)
    with TestClient(create_app(public_settings)) as client:
        yield client


def _coordinates(feature: dict[str, object]) -> list[list[float]]:
    geometry = feature["geometry"]
    assert isinstance(geometry, dict)
    return [pt for polygon in geometry["coordinates"] for ring in polygon for pt in ring]


def test_generated_config_is_valid_and_complete(
    engine: Engine, settings: Settings, sample_source: SourceDefinition
) -> None:
    harvest(engine, sample_source, settings)
    url = settings.database.url.get_secret_value()  # type: ignore[union-attr]
    config = build_config(engine, load_base(settings.app.ogc_dir), PUBLIC, url)
    assert validate_config(config)
    assert config["server"]["url"] == f"{PUBLIC}/ogc"
    collection = config["resources"]["municipalities"]
    provider = collection["providers"][0]
    assert provider["storage_crs"] == STORAGE_CRS
    assert provider["crs"] == OUTPUT_CRS
    assert {
        "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
        "http://www.opengis.net/def/crs/EPSG/0/4326",
        EPSG_25832,
        "http://www.opengis.net/def/crs/EPSG/0/3035",
    } <= set(provider["crs"])
    # the extent covers the data (computed independently) and is not much larger
    west, south, east, north = collection["extents"]["spatial"]["bbox"]
    x0, y0, x1, y1 = boundaries().to_crs(4326).total_bounds
    assert west <= x0 and south <= y0 and east >= x1 and north >= y1
    assert max(x0 - west, y0 - south, east - x1, north - y1) < 0.02
    assert collection["links"][0]["rel"] == "license"


def test_restricted_or_empty_datasets_are_not_published(
    engine: Engine, settings: Settings, sample_source: SourceDefinition
) -> None:
    url = settings.database.url.get_secret_value()  # type: ignore[union-attr]
    base = load_base(settings.app.ogc_dir)
    assert build_config(engine, base, PUBLIC, url)["resources"] == {}
    restricted = sample_source.model_copy(update={"access": "restricted"})
    harvest(engine, restricted, settings)
    assert build_config(engine, base, PUBLIC, url)["resources"] == {}


def test_items_default_to_crs84(ogc: TestClient) -> None:
    response = ogc.get("/ogc/collections/municipalities/items", params={"f": "json"})
    assert response.status_code == 200
    assert response.headers["Content-Crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
    body = response.json()
    assert body["type"] == "FeatureCollection" and body["numberMatched"] == 8
    assert len(body["features"]) == 8
    for lon, lat in _coordinates(body["features"][0]):
        assert 11.4 < lon < 12.4 and 51.1 < lat < 51.5


def test_items_in_storage_crs_on_request(ogc: TestClient) -> None:
    response = ogc.get(
        "/ogc/collections/municipalities/items/15088235", params={"f": "json", "crs": EPSG_25832}
    )
    assert response.status_code == 200
    assert response.headers["Content-Crs"] == f"<{EPSG_25832}>"
    feature = response.json()
    assert feature["properties"]["name"] == "Mücheln (Geiseltal)"
    for x, y in _coordinates(feature):
        assert 660_000 < x < 730_000 and 5_670_000 < y < 5_715_000


def test_collection_metadata_and_links_use_public_url(ogc: TestClient) -> None:
    body = ogc.get("/ogc/collections/municipalities", params={"f": "json"}).json()
    assert body["title"] == "Gemeinden"
    assert body["storageCrs"] == STORAGE_CRS
    assert EPSG_25832 in body["crs"]
    hrefs = [link["href"] for link in body["links"] if link["rel"] in ("self", "items")]
    assert hrefs and all(h.startswith(f"{PUBLIC}/ogc/") for h in hrefs)
    licence = next(link for link in body["links"] if link["rel"] == "license")
    assert licence["href"] == "https://creativecommons.org/licenses/by/4.0/"


def test_openapi_is_generated_and_lists_the_collection(ogc: TestClient) -> None:
    response = ogc.get("/ogc/openapi", params={"f": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/collections/municipalities/items" in paths
    conformance = ogc.get("/ogc/conformance", params={"f": "json"}).json()
    assert any("ogcapi-features-1/1.0/conf/core" in c for c in conformance["conformsTo"])


def test_cql2_filter_and_bbox(ogc: TestClient) -> None:
    filtered = ogc.get(
        "/ogc/collections/municipalities/items",
        params={"f": "json", "filter": "name = 'Merseburg'", "filter-lang": "cql2-text"},
    ).json()
    assert [f["id"] for f in filtered["features"]] == ["15088220"]
    west = ogc.get(
        "/ogc/collections/municipalities/items", params={"f": "json", "bbox": "11.5,51.2,11.7,51.4"}
    ).json()
    assert "15088305" in {f["id"] for f in west["features"]}  # Querfurt lies furthest west
    assert "15088020" not in {f["id"] for f in west["features"]}


def test_new_harvest_is_visible_without_restart(
    ogc: TestClient, engine: Engine, public_settings: Settings, sample_source: SourceDefinition
) -> None:
    assert (
        ogc.get("/ogc/collections/municipalities/items/15088235", params={"f": "json"}).status_code
        == 200
    )
    with engine.begin() as conn:
        conn.execute(text("UPDATE source SET access = 'restricted', updated_at = now()"))
    assert ogc.get("/ogc/collections/municipalities", params={"f": "json"}).status_code == 404
