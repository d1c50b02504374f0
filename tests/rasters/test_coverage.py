"""Open rasters as OGC API Coverages under /ogc (pygeoapi's rasterio provider) and as files
under /downloads/rasters: subsets are GeoTIFFs with the stored values, bad requests are
4xx in German, and a failed harvest leaves the previous raster served."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
from fastapi.testclient import TestClient
from rasterio.io import MemoryFile
from rasterio.windows import from_bounds
from sqlalchemy import Engine

from planungsdaten.app import create_app
from planungsdaten.db.queries import query
from planungsdaten.harvest.errors import HarvestError
from planungsdaten.harvest.run import harvest
from planungsdaten.harvest.sources import SourceDefinition
from planungsdaten.rasters.store import MEDIA_TYPE
from planungsdaten.settings import LimitSettings, Settings
from tests.publish.test_ogc_html import assert_loads_only_local_assets
from tests.rasters.conftest import HEIGHT, RES, WIDTH, raster_definition, write_geotiff

EPSG_25832 = "http://www.opengis.net/def/crs/EPSG/0/25832"
COVERAGE = "/ogc/collections/gelaende/coverage"


@pytest.fixture
def source(dgm: Path, tmp_path: Path) -> SourceDefinition:
    return raster_definition(tmp_path, dgm, crs="EPSG:25832")


@pytest.fixture
def stored(engine: Engine, settings: Settings, source: SourceDefinition) -> Path:
    """The harvested COG."""
    result = harvest(engine, source, settings)
    assert result.status == "succeeded", result.message
    return settings.rasters_dir / source.id / f"{result.version_ids[0]}.tif"


@pytest.fixture
def client(settings: Settings, stored: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def _tiff(content: bytes) -> tuple[dict[str, object], np.ndarray, tuple[float, ...]]:
    with MemoryFile(content) as memory, memory.open() as tif:
        return dict(tif.profile), tif.read(1), tuple(tif.bounds)


def test_bbox_subset_is_a_geotiff_with_the_stored_values(client: TestClient, stored: Path) -> None:
    box = (694_105.0, 5_686_495.0, 695_000.0, 5_687_503.0)  # not on cell edges
    response = client.get(
        COVERAGE,
        params={"f": "GTiff", "bbox": ",".join(map(str, box)), "bbox-crs": EPSG_25832},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/tiff"
    profile, values, bounds = _tiff(response.content)
    assert profile["crs"].to_epsg() == 25832  # type: ignore[attr-defined]
    assert profile["nodata"] == -9999
    # the requested extent, within one cell
    assert all(abs(a - b) <= RES for a, b in zip(bounds, box, strict=True))
    with rasterio.open(stored) as cog:
        window = from_bounds(*bounds, transform=cog.transform)
        expected = cog.read(1, window=window.round_offsets().round_lengths())
    inner = values != -9999  # edge cells whose centre lies outside the box are no-data
    assert inner.sum() >= 0.9 * values.size
    assert np.array_equal(values[inner], expected[inner])


def test_bbox_in_crs84_and_subset_by_axes(client: TestClient, stored: Path) -> None:
    response = client.get(COVERAGE, params={"f": "GTiff", "bbox": "11.79,51.30,11.80,51.305"})
    assert response.status_code == 200, response.text
    _, values, bounds = _tiff(response.content)
    # about 700 m × 560 m around 11.795 E, 51.3025 N (the box covering its curved image)
    assert 68 <= values.shape[1] <= 74 and 55 <= values.shape[0] <= 61
    assert 694_000 < bounds[0] < 695_000 and 5_686_000 < bounds[1] < 5_688_000

    subset = "x(694500:695500),y(5686800:5687200)"
    response = client.get(COVERAGE, params={"f": "GTiff", "subset": subset})
    assert response.status_code == 200, response.text
    _, values, bounds = _tiff(response.content)
    assert values.shape == (40, 100)
    assert bounds == (694_500.0, 5_686_800.0, 695_500.0, 5_687_200.0)


def test_whole_coverage_in_geotiff_is_the_stored_cog(client: TestClient, stored: Path) -> None:
    response = client.get(COVERAGE, params={"f": "GTiff"})
    assert response.status_code == 200
    assert response.content == stored.read_bytes()
    ranged = client.get(COVERAGE, params={"f": "GTiff"}, headers={"Range": "bytes=0-15"})
    assert ranged.status_code == 206
    assert ranged.content == stored.read_bytes()[:16]


def test_coveragejson_and_schema_name_the_band(client: TestClient) -> None:
    response = client.get(
        COVERAGE,
        params={"f": "json", "bbox": "694000,5687900,694100,5688000", "bbox-crs": EPSG_25832},
    )
    assert response.status_code == 200, response.text
    coverage = response.json()
    assert coverage["type"] == "Coverage"
    assert coverage["domain"]["axes"]["x"]["num"] == 10
    schema = client.get("/ogc/collections/gelaende/schema", params={"f": "json"})
    assert schema.status_code == 200
    band = schema.json()["properties"]["1"]
    assert band["title"] == "hoehe"
    assert band["description"] == "Geländehöhe über NHN (DHHN2016)"
    assert band["x-ogc-unit"] == "m"


def test_collection_describes_the_raster(client: TestClient, settings: Settings) -> None:
    collection = client.get("/ogc/collections/gelaende", params={"f": "json"}).json()
    assert collection["title"] == "Digitales Geländemodell (Test)"
    assert (
        "Band 1 „hoehe“: Geländehöhe über NHN (DHHN2016) (Einheit m)" in (collection["description"])
    )
    assert "10 m Zellgröße" in collection["description"]
    west, south, east, north = collection["extent"]["spatial"]["bbox"][0]
    assert 11.77 < west < 11.79 < east < 11.84 and 51.28 < south < 51.30 < north < 51.32
    links = {link["rel"]: link for link in collection["links"]}
    assert links["enclosure"]["href"] == (
        f"{settings.app.public_url}/downloads/rasters/gelaende.tif"
    )
    assert links["enclosure"]["type"] == MEDIA_TYPE
    assert links["license"]["href"]
    coverage_links = [link for link in collection["links"] if link["rel"].endswith("/coverage")]
    assert {link["type"] for link in coverage_links} >= {"image/tiff", "text/html"}
    conformance = client.get("/ogc/conformance", params={"f": "json"}).json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-coverages-1/1.0/conf/coverage-bbox" in conformance


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"bbox": "a,b,c,d"}, "besteht nicht aus Zahlen"),
        ({"bbox": "694000,5687000,695000"}, "genau vier endliche Zahlen"),
        ({"bbox": "695000,5687000,694000,5688000"}, "minx muss kleiner als maxx"),
        ({"bbox": "694000,5687000,695000,5688000", "bbox-crs": "EPSG:99999"}, "kein bekanntes"),
        ({"bbox": "694000,5687000,695000,5688000"}, "nicht nach EPSG:25832 umrechnen"),
        ({"bbox": "11.0,50.0,11.1,50.1"}, "außerhalb des Rasters 'gelaende'"),
        ({"bbox": "1,2,3,4", "subset": "x(1:2)"}, "bbox und subset schließen sich aus"),
        ({"subset": "z(1:2)"}, "die Achse 'z' gibt es nicht"),
        ({"subset": "x(3:1)"}, "untere Grenze liegt über der oberen"),
        ({"subset": "x(a:b)"}, "keine Zahlen"),
        ({"bbox-crs": EPSG_25832}, "bbox-crs ohne bbox"),
    ],
)
def test_bad_requests_are_400_in_german(
    client: TestClient, params: dict[str, str], problem: str
) -> None:
    response = client.get(COVERAGE, params={"f": "GTiff", **params})
    assert response.status_code == 400, response.text
    assert problem in response.json()["description"]


def test_unknown_collection_and_format(client: TestClient) -> None:
    assert client.get("/ogc/collections/gibt_es_nicht/coverage").status_code == 404
    response = client.get(COVERAGE, params={"f": "xlsx", "bbox": "11.79,51.30,11.80,51.305"})
    assert 400 <= response.status_code < 500


def test_too_large_subsets_are_refused(settings: Settings, stored: Path) -> None:
    limited = dataclasses.replace(settings, limit=LimitSettings(max_coverage_cells=16 * 2000))
    with TestClient(create_app(limited)) as client:
        # 60 × 60 cells: within the GeoTIFF limit, beyond CoverageJSON's sixteenth of it
        square = {"bbox": "694000,5687400,694600,5688000", "bbox-crs": EPSG_25832}
        assert client.get(COVERAGE, params={"f": "GTiff", **square}).status_code == 200
        assert client.get(COVERAGE, params={"f": "json", **square}).status_code == 400
        response = client.get(COVERAGE, params={"f": "json"})
        assert response.status_code == 400
        assert (
            "Der Ausschnitt umfasst 60.000 Rasterzellen, höchstens 2.000"
            in (response.json()["description"])
        )
        assert "/downloads/rasters/gelaende.tif" in response.json()["description"]
        # the whole file needs no cells read: it is streamed as stored
        assert client.get(COVERAGE, params={"f": "GTiff"}).status_code == 200


def test_html_pages_load_only_local_assets(client: TestClient) -> None:
    for path in (
        "/ogc/collections/gelaende?f=html",
        f"{COVERAGE}?f=html",
        "/ogc/collections/gelaende/schema?f=html",
    ):
        assert_loads_only_local_assets(client, path)
    page = client.get(COVERAGE, headers={"Accept": "text/html"}).text
    assert "Geländehöhe über NHN (DHHN2016)" in page
    assert "/downloads/rasters/gelaende.tif" in page


def test_raster_file_download(client: TestClient, stored: Path) -> None:
    listed = client.get("/downloads/rasters/").json()
    assert [(d["layer"], d["bytes"], d["media_type"]) for d in listed] == [
        ("gelaende", stored.stat().st_size, MEDIA_TYPE)
    ]
    response = client.get("/downloads/rasters/gelaende.tif")
    assert response.status_code == 200
    assert response.headers["content-type"] == MEDIA_TYPE
    assert response.content == stored.read_bytes()
    etag = response.headers["etag"]
    assert client.get(
        "/downloads/rasters/gelaende.tif", headers={"If-None-Match": etag}
    ).status_code == (304)
    ranged = client.get("/downloads/rasters/gelaende.tif", headers={"Range": "bytes=100-199"})
    assert ranged.status_code == 206 and ranged.content == stored.read_bytes()[100:200]
    missing = client.get("/downloads/rasters/gibt_es_nicht.tif")
    assert missing.status_code == 404
    assert "Keine offene Rasterebene" in missing.json()["detail"]


def test_failed_harvest_leaves_the_previous_raster_served(
    engine: Engine, settings: Settings, source: SourceDefinition, dgm: Path, client: TestClient
) -> None:
    box = {"f": "GTiff", "bbox": "694000,5687800,694200,5688000", "bbox-crs": EPSG_25832}
    before = client.get(COVERAGE, params=box).content
    with engine.connect() as conn:
        generation = conn.execute(query("catalogue_generation")).one()
    # a truncated download, then a file in another CRS: both refused
    whole = write_geotiff(dgm.with_name("ganz.tif"), width=1200, height=1000, cog=True)
    dgm.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(HarvestError, match="beschädigt oder unvollständig"):
        harvest(engine, source, settings)
    write_geotiff(dgm, crs="EPSG:25833", origin=(276_000.0, 5_689_300.0))
    with pytest.raises(HarvestError, match="EPSG:25833"):
        harvest(engine, source, settings)
    assert client.get(COVERAGE, params=box).content == before
    with engine.connect() as conn:
        assert conn.execute(query("catalogue_generation")).one() == generation

    # a good new version is served at once: the catalogue generation changed, /ogc reloads
    write_geotiff(dgm, values=np.full((1, HEIGHT, WIDTH), 42.0, dtype="float32"))
    assert harvest(engine, source, settings).status == "succeeded"
    with engine.connect() as conn:
        assert conn.execute(query("catalogue_generation")).one() != generation
    _, values, _ = _tiff(client.get(COVERAGE, params=box).content)
    assert set(np.unique(values).tolist()) <= {42.0, -9999.0}
    assert 42.0 in values


def test_restricted_rasters_are_not_published(
    engine: Engine, settings: Settings, dgm: Path, tmp_path: Path
) -> None:
    source = raster_definition(tmp_path, dgm, access="restricted")
    assert harvest(engine, source, settings).status == "succeeded"
    with TestClient(create_app(settings)) as client:
        assert client.get("/ogc/collections/gelaende").status_code == 404
        assert client.get(COVERAGE).status_code == 404
        assert client.get("/downloads/rasters/gelaende.tif").status_code == 404
        assert client.get("/downloads/rasters/").json() == []


def test_pages_of_collections_added_by_a_reload_render(
    engine: Engine, settings: Settings, client: TestClient, sample_source: SourceDefinition
) -> None:
    """pygeoapi caches its translated configuration per process: after a harvest adds a
    collection, its pages must render from the new configuration, not the cached one."""
    assert client.get(f"{COVERAGE}?f=html").status_code == 200
    assert harvest(engine, sample_source, settings).status == "succeeded"
    assert client.get("/ogc/collections/municipalities", params={"f": "html"}).status_code == 200
    assert client.get("/ogc/collections/gelaende", params={"f": "html"}).status_code == 200
