"""The assertions of the OGC conformance suite for OGC API Features Part 1 (core, GeoJSON,
OpenAPI 3.0) and Part 2 (CRS by reference), run against every open collection."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Transformer

from planungsdaten.harvest.sources import load_sources
from planungsdaten.publish.ogc_config import COLLECTIONS, OUTPUT_CRS
from planungsdaten.settings import PROJECT_DIR
from tests.conftest import sample_client

COLLECTION_IDS = sorted(spec.collection_id for spec in COLLECTIONS.values())
# the open sample rasters: OGC API Coverages collections beside the feature collections
RASTER_IDS = {
    source.raster.layer
    for source in load_sources(PROJECT_DIR / "harvesters" / "sample").values()
    if source.raster is not None and source.enabled and source.access == "open"
}
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
JSON = {"f": "json"}


@pytest.fixture(scope="module")
def client(
    server_url: str, sample_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    data_dir = tmp_path_factory.mktemp("conformance") / "data"
    name = "planungsdaten_conformance"
    with sample_client(server_url, sample_database, data_dir, name) as client:
        yield client


def local(href: str) -> str:
    """A link of the service as a path for the test client."""
    parts = urlsplit(href)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def rels(document: dict[str, object]) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for link in document["links"]:  # type: ignore[attr-defined]
        out.setdefault(link["rel"], []).append(link)
    return out


def test_landing_page_and_conformance(client: TestClient) -> None:
    landing = client.get("/ogc/", params=JSON)
    assert landing.status_code == 200
    links = rels(landing.json())
    for rel in ("self", "service-desc", "service-doc", "conformance", "data"):
        assert rel in links, rel
    (desc,) = [x for x in links["service-desc"] if "json" in x["type"]]
    assert desc["type"] == "application/vnd.oai.openapi+json;version=3.0"
    openapi = client.get(local(desc["href"]))
    assert openapi.status_code == 200 and openapi.json()["openapi"].startswith("3.0")
    assert "/collections/parcels/items" in openapi.json()["paths"]
    # where QGIS and GDAL read the page size they may ask for (else QGIS pages by 100)
    limit = openapi.json()["components"]["parameters"]["limit"]["schema"]
    assert (limit["default"], limit["maximum"]) == (100, 10000)
    conforms = set(client.get(local(links["conformance"][0]["href"])).json()["conformsTo"])
    base = "http://www.opengis.net/spec/ogcapi-features-"
    assert {
        f"{base}1/1.0/conf/core",
        f"{base}1/1.0/conf/geojson",
        f"{base}1/1.0/conf/oas30",
        f"{base}1/1.0/conf/html",
        f"{base}2/1.0/conf/crs",
    } <= conforms


def test_every_open_dataset_is_a_collection(client: TestClient) -> None:
    collections = client.get("/ogc/collections", params=JSON).json()
    assert "self" in rels(collections)
    ids = {c["id"] for c in collections["collections"]}
    assert ids == set(COLLECTION_IDS) | RASTER_IDS
    assert "vacancy_register" not in ids and all("leerstand" not in i for i in ids)


@pytest.mark.parametrize("collection", COLLECTION_IDS)
def test_collection_metadata(client: TestClient, collection: str) -> None:
    response = client.get(f"/ogc/collections/{collection}", params=JSON)
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == collection and body["title"]
    links = rels(body)
    assert {"self", "alternate", "items"} <= set(links)
    assert any(x["type"] == "application/geo+json" for x in links["items"])
    assert any(x["rel"] == "license" for x in body["links"])
    bbox = body["extent"]["spatial"]["bbox"][0]
    assert 10.5 < bbox[0] < bbox[2] < 13.5 and 50.9 < bbox[1] < bbox[3] < 53.1  # Sachsen-Anhalt
    assert set(body["crs"]) == set(OUTPUT_CRS)
    assert body["storageCrs"] == f"{EPSG}25832"
    queryables = client.get(f"/ogc/collections/{collection}/queryables", params=JSON)
    assert queryables.status_code == 200 and queryables.json()["properties"]


@pytest.mark.parametrize("collection", COLLECTION_IDS)
def test_items_paging_adds_up(client: TestClient, collection: str) -> None:
    url: str | None = f"/ogc/collections/{collection}/items?f=json&limit=500"
    seen: list[str] = []
    matched = None
    pages = 0
    while url and pages < 50:
        response = client.get(url)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/geo+json")
        page = response.json()
        assert page["type"] == "FeatureCollection"
        assert page["numberReturned"] == len(page["features"]) <= 500
        matched = page["numberMatched"] if matched is None else matched
        assert page["numberMatched"] == matched
        seen += [str(f["id"]) for f in page["features"]]
        nexts = [x for x in page["links"] if x["rel"] == "next"]
        url = local(nexts[0]["href"]) if nexts else None
        pages += 1
    assert matched is not None and matched > 0
    assert len(seen) == matched and len(set(seen)) == matched


@pytest.mark.parametrize("collection", COLLECTION_IDS)
def test_limit_and_bad_parameters(client: TestClient, collection: str) -> None:
    items = f"/ogc/collections/{collection}/items"
    one = client.get(items, params={**JSON, "limit": 1}).json()
    assert one["numberReturned"] == 1 == len(one["features"])
    for bad in ({"limit": "unlimited"}, {"limit": 0}, {"limitt": 5}, {"bbox": "1,2,3"}):
        response = client.get(items, params={**JSON, **bad})
        assert response.status_code == 400, bad
    unknown = client.get(items, params={**JSON, "colour": "red"})
    assert "Unbekannte(r) Parameter: colour" in unknown.json()["description"]


@pytest.mark.parametrize("collection", COLLECTION_IDS)
def test_single_feature(client: TestClient, collection: str) -> None:
    first = client.get(f"/ogc/collections/{collection}/items", params={**JSON, "limit": 1}).json()[
        "features"
    ][0]
    one = client.get(f"/ogc/collections/{collection}/items/{first['id']}", params=JSON)
    assert one.status_code == 200
    assert one.json()["id"] == first["id"] and one.json()["type"] == "Feature"
    assert "self" in rels(one.json()) and "collection" in rels(one.json())
    missing = client.get(f"/ogc/collections/{collection}/items/gibt-es-nicht", params=JSON)
    assert missing.status_code == 404


@pytest.mark.parametrize("collection", COLLECTION_IDS)
def test_bbox_selects_intersecting_features(client: TestClient, collection: str) -> None:
    items = f"/ogc/collections/{collection}/items"
    everything = client.get(items, params={**JSON, "limit": 10000}).json()["features"]
    geometries = [shapely.geometry.shape(f["geometry"]) for f in everything]
    # the western half of the features' centres, widened a little
    centres = shapely.MultiPoint([g.centroid for g in geometries])
    minx, miny, maxx, maxy = centres.bounds
    box = shapely.box(minx - 0.01, miny - 0.01, (minx + maxx) / 2 + 0.01, maxy + 0.01)
    params = {**JSON, "limit": 10000, "bbox": ",".join(f"{v:.6f}" for v in box.bounds)}
    selected = {str(f["id"]) for f in client.get(items, params=params).json()["features"]}
    # the box is a rectangle in lon/lat but a curved one in the storage CRS: exactly what
    # it touches is found (to 1e-6°, the rounding of the coordinates returned)
    inner, outer = box.buffer(-1e-6), box.buffer(1e-6)
    ids = [str(f["id"]) for f in everything]
    surely = {i for i, g in zip(ids, geometries, strict=True) if g.intersects(inner)}
    maybe = {i for i, g in zip(ids, geometries, strict=True) if g.intersects(outer)}
    assert surely and surely <= selected <= maybe
    far = client.get(items, params={**JSON, "bbox": "-10,-10,-9,-9"}).json()
    assert far["numberReturned"] == 0
    polar = client.get(items, params={**JSON, "bbox": "-180,80,180,90"}).json()
    assert polar["numberReturned"] == 0
    # across the antimeridian: 170°E eastwards to the box's east edge
    antimeridian = client.get(items, params={**JSON, "bbox": "170,-10,-170,10"}).json()
    assert antimeridian["numberReturned"] == 0 and antimeridian["numberMatched"] == 0
    wrapped = {**params, "bbox": ",".join(f"{v:.6f}" for v in (170, *box.bounds[1:]))}
    assert {str(f["id"]) for f in client.get(items, params=wrapped).json()["features"]} == selected
    # EPSG:4326 is latitude first, in bbox as in coordinates
    latlon = ",".join(f"{v:.6f}" for v in (box.bounds[1], box.bounds[0], *box.bounds[3:1:-1]))
    by_latlon = {**params, "bbox": latlon, "bbox-crs": EPSG + "4326"}
    assert {
        str(f["id"]) for f in client.get(items, params=by_latlon).json()["features"]
    } == selected


@pytest.mark.parametrize("collection", COLLECTION_IDS)
def test_datetime_is_accepted(client: TestClient, collection: str) -> None:
    items = f"/ogc/collections/{collection}/items"
    response = client.get(items, params={**JSON, "limit": 1, "datetime": "2020-01-01T00:00:00Z/.."})
    assert response.status_code == 200
    bad = client.get(items, params={**JSON, "datetime": "gestern"})
    assert bad.status_code == 400


@pytest.mark.parametrize("collection", COLLECTION_IDS)
@pytest.mark.parametrize("epsg", [25832, 25833, 3035, 4326])
def test_crs_transforms_coordinates(client: TestClient, collection: str, epsg: int) -> None:
    items = f"/ogc/collections/{collection}/items"
    plain = client.get(items, params={**JSON, "limit": 5, "sortby": "+" + _id(collection)})
    assert plain.headers["content-crs"] == f"<{CRS84}>"
    response = client.get(
        items, params={**JSON, "limit": 5, "sortby": "+" + _id(collection), "crs": f"{EPSG}{epsg}"}
    )
    assert response.status_code == 200
    assert response.headers["content-crs"] == f"<{EPSG}{epsg}>"
    to_target = Transformer.from_crs("OGC:CRS84", f"EPSG:{epsg}")  # axis order of the CRS
    for lonlat, projected in zip(
        plain.json()["features"], response.json()["features"], strict=True
    ):
        assert lonlat["id"] == projected["id"]
        x, y = shapely.get_coordinates(shapely.geometry.shape(lonlat["geometry"]))[0]
        expected = to_target.transform(x, y)
        got = shapely.get_coordinates(shapely.geometry.shape(projected["geometry"]))[0]
        tolerance = 1e-6 if epsg == 4326 else 0.01
        assert got == pytest.approx(expected, abs=tolerance)


def _id(collection: str) -> str:
    return next(s.id_field for s in COLLECTIONS.values() if s.collection_id == collection)


@pytest.mark.parametrize("collection", COLLECTION_IDS)
def test_unsupported_crs_and_bbox_crs(client: TestClient, collection: str) -> None:
    items = f"/ogc/collections/{collection}/items"
    assert client.get(items, params={**JSON, "crs": f"{EPSG}31468"}).status_code == 400
    everything = client.get(items, params={**JSON, "limit": 10000}).json()
    to_utm = Transformer.from_crs(4326, 25832, always_xy=True)
    utm = to_utm.transform_bounds(11.0, 51.0, 12.5, 51.8)
    by_utm = client.get(
        items,
        params={
            **JSON,
            "limit": 10000,
            "bbox": ",".join(map(str, utm)),
            "bbox-crs": f"{EPSG}25832",
        },
    )
    assert by_utm.status_code == 200
    assert by_utm.json()["numberMatched"] == everything["numberMatched"]  # all lie inside
    query = parse_qs(urlsplit(str(by_utm.url)).query)
    assert query["bbox-crs"] == [f"{EPSG}25832"]
