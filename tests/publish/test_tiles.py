"""OGC API Tiles at /ogc: the documents, and vector tiles decoded by a real client (GDAL's
MVT driver) compared with independent PostGIS queries over the harvested sample."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pyogrio
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Transformer

from planungsdaten.app import create_app
from planungsdaten.publish.provider import dispose_engines
from planungsdaten.publish.tiles import Tile, tile_bounds
from tests.conftest import SAMPLE_AGS, clone_sample, package_test_settings

PUBLIC = "https://planung.example.org"
OGC = f"{PUBLIC}/ogc"
MVT = "application/vnd.mapbox-vector-tile"
JSON = {"f": "json"}
REL = "http://www.opengis.net/def/rel/ogc/1.0/"
TILED = ("parcels", "buildings", "land_use")
TABLES = {"parcels": "parcel", "buildings": "building", "land_use": "land_use"}
MARGIN = 64 / 4096  # the buffer of each tile, as a fraction of its size


@pytest.fixture(scope="module")
def database(server_url: str, sample_database: str) -> Iterator[str]:
    with clone_sample(server_url, sample_database, "planungsdaten_tiles") as url:
        yield url
        dispose_engines()  # the tile provider's pool, before the clone is dropped


@pytest.fixture(scope="module")
def client(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = package_test_settings(database, tmp_path_factory.mktemp("tiles") / "data")
    app_settings = settings.app.model_copy(update={"public_url": PUBLIC})
    with TestClient(create_app(dataclasses.replace(settings, app=app_settings))) as client:
        yield client


def sql(database: str, statement: str, *params: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(database) as conn:
        return conn.execute(statement, params).fetchall()


@pytest.fixture(scope="module")
def centre(database: str) -> tuple[float, float]:
    """Lon/lat of the middle of the sample municipality's parcels."""
    ((lon, lat),) = sql(
        database,
        "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Transform(ST_Centroid(ST_SetSRID("
        "ST_Extent(geom)::geometry, 25832)), 4326) AS c FROM parcel WHERE ags = %s) x",
        SAMPLE_AGS,
    )
    return lon, lat


def web_mercator_tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    """(tileRow, tileCol) of WebMercatorQuad at zoom z holding lon/lat."""
    n = 2**z
    col = int((lon + 180) / 360 * n)
    row = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return row, col


def local(href: str) -> str:
    """A link of the service as a path for the test client (and it is under the public URL)."""
    assert href.startswith(OGC + "/"), href
    parts = urlsplit(href)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def link(document: dict[str, Any], rel: str, type_: str | None = None) -> dict[str, Any]:
    found = [x for x in document["links"] if x["rel"] == rel and type_ in (None, x["type"])]
    assert found, (rel, type_, document["links"])
    return found[0]


def tile_template(client: TestClient, collection: str, tms: str) -> str:
    """The templated tile URL, found as a client finds it: collection → tilesets → tileset."""
    description = client.get(f"/ogc/collections/{collection}", params=JSON).json()
    tilesets_href = link(description, REL + "tilesets-vector", "application/json")["href"]
    tilesets = client.get(local(tilesets_href)).json()
    (entry,) = [t for t in tilesets["tilesets"] if t["tileMatrixSetURI"].endswith("/" + tms)]
    tileset = client.get(local(link(entry, "self", "application/json")["href"])).json()
    template = link(tileset, "item", MVT)
    assert template.get("templated") is True
    return str(template["href"])


def fetch(client: TestClient, template: str, z: int, row: int, col: int) -> bytes:
    href = template.format(tileMatrix=z, tileRow=row, tileCol=col)
    response = client.get(local(href))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == MVT
    return response.content


def decode(tmp_path: Path, content: bytes, z: int, row: int, col: int, layer: str) -> Any:
    """The tile read by GDAL's MVT driver (a {z}/{x}/{y}.pbf path tells it the tile's place
    in WebMercatorQuad; it returns EPSG:3857)."""
    path = tmp_path / str(z) / str(col) / f"{row}.pbf"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    layers = pyogrio.list_layers(path)
    assert list(layers[:, 0]) == [layer]
    # CLIP=NO: keep what the tile's buffer holds beyond its edge
    return pyogrio.read_dataframe(path, layer=layer, CLIP="NO")


def features_in(database: str, table: str, envelope: str, *params: object) -> set[str]:
    """Keys of the rows whose geometry meets `envelope` (SQL, in its own CRS)."""
    key = {"parcel": "flurstueckskennzeichen", "building": "source_object_id"}.get(table, "fid")
    rows = sql(
        database,
        f"SELECT {key}::text FROM {table} t, (SELECT {envelope} AS e) b "
        "WHERE ST_Intersects(ST_Transform(t.geom, ST_SRID(b.e)), b.e)",
        *params,
    )
    return {r[0] for r in rows}


# -- documents -------------------------------------------------------------------------------


def test_conformance_lists_ogc_api_tiles(client: TestClient) -> None:
    conforms = set(client.get("/ogc/conformance", params=JSON).json()["conformsTo"])
    base = "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/"
    for part in ("core", "mvt", "tileset", "tilesets-list", "geodata-tilesets", "oas30"):
        assert base + part in conforms, part
    paths = client.get("/ogc/openapi", params=JSON).json()["paths"]
    assert "/collections/parcels/tiles" in paths
    assert "/collections/addresses/tiles" not in paths


@pytest.mark.parametrize("collection", TILED)
def test_tilesets_list_and_tileset(client: TestClient, collection: str) -> None:
    tilesets = client.get(f"/ogc/collections/{collection}/tiles", params=JSON)
    assert tilesets.status_code == 200
    body = tilesets.json()
    assert link(body, "self")["href"].startswith(f"{OGC}/collections/{collection}/tiles")
    uris = {t["tileMatrixSetURI"].rsplit("/", 1)[1]: t for t in body["tilesets"]}
    assert set(uris) == {"WebMercatorQuad", "WorldCRS84Quad"}
    for tms, entry in uris.items():
        assert entry["dataType"] == "vector" and entry["crs"]
        scheme = client.get(local(link(entry, REL + "tiling-scheme")["href"]))
        assert scheme.status_code == 200 and scheme.json()["id"] == tms
        tileset = client.get(local(link(entry, "self", "application/json")["href"])).json()
        assert tileset["dataType"] == "vector"
        assert tileset["tileMatrixSetURI"] == entry["tileMatrixSetURI"]
        assert tileset["crs"] == entry["crs"]
        assert link(tileset, "self")["href"] == f"{OGC}/collections/{collection}/tiles/{tms}?f=json"
        assert client.get(local(link(tileset, REL + "tiling-scheme")["href"])).status_code == 200
        item = link(tileset, "item", MVT)["href"]
        assert item == (
            f"{OGC}/collections/{collection}/tiles/{tms}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}"
            "?f=mvt"
        )
        (layer,) = tileset["layers"]
        assert layer["id"] == collection
        limits = tileset["tileMatrixSetLimits"]
        assert limits[0]["tileMatrix"] == layer["minTileMatrix"]
        assert limits[-1]["tileMatrix"] == layer["maxTileMatrix"] == "20"


def test_tilejson_for_web_maps(client: TestClient) -> None:
    response = client.get("/ogc/collections/parcels/tiles/WebMercatorQuad/metadata?f=tilejson")
    assert response.status_code == 200
    tilejson = response.json()
    assert tilejson["tiles"] == [
        f"{OGC}/collections/parcels/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}?f=mvt"
    ]
    assert (tilejson["minzoom"], tilejson["maxzoom"]) == (10, 20)
    (layer,) = tilejson["vector_layers"]
    assert layer["id"] == "parcels" and "flurstueckskennzeichen" in layer["fields"]
    assert layer["fields"]["amtliche_flaeche"] == "Number"
    west, south, east, north = tilejson["bounds"]
    assert 10.5 < west < east < 13.5 and 50.9 < south < north < 53.1


def test_tile_matrix_sets(client: TestClient) -> None:
    listing = client.get("/ogc/tileMatrixSets", params=JSON).json()
    ids = {t["id"] for t in listing["tileMatrixSets"]}
    assert {"WebMercatorQuad", "WorldCRS84Quad"} <= ids
    one = client.get("/ogc/tileMatrixSets/WebMercatorQuad", params=JSON)
    assert one.status_code == 200 and len(one.json()["tileMatrices"]) == 25


def test_collection_without_tiles_has_no_tiles_endpoint(client: TestClient) -> None:
    description = client.get("/ogc/collections/addresses", params=JSON).json()
    assert not [x for x in description["links"] if x["rel"].startswith(REL + "tilesets")]
    for path in ("", "/WebMercatorQuad", "/WebMercatorQuad/metadata", "/WebMercatorQuad/15/0/0"):
        response = client.get(f"/ogc/collections/addresses/tiles{path}")
        assert response.status_code == 404, path
    assert client.get("/ogc/collections/nothing/tiles").status_code == 404


# -- tiles -----------------------------------------------------------------------------------


def test_parcel_tile_matches_postgis(
    client: TestClient, database: str, centre: tuple[float, float], tmp_path: Path
) -> None:
    z = 15
    row, col = web_mercator_tile(*centre, z)
    content = fetch(client, tile_template(client, "parcels", "WebMercatorQuad"), z, row, col)
    frame = decode(tmp_path, content, z, row, col, "parcels")
    expected = features_in(
        database, "parcel", "ST_TileEnvelope(%s, %s, %s, margin => %s)", z, col, row, MARGIN
    )
    assert len(expected) > 10  # the centre of a town: a real test, not an empty tile
    assert len(frame) == len(expected)
    assert set(frame["flurstueckskennzeichen"]) == expected
    assert {"gemarkung", "flur", "zaehler", "amtliche_flaeche"} <= set(frame.columns)
    assert "dataset_version_id" not in frame.columns and "ags" not in frame.columns
    assert frame["amtliche_flaeche"].dtype.kind == "f"

    # a parcel wholly inside the tile: its decoded centroid is where PostGIS puts it
    key, area, gemarkung, x, y = sql(
        database,
        "SELECT flurstueckskennzeichen::text, amtliche_flaeche, gemarkung::text, ST_X(c), "
        "ST_Y(c) FROM (SELECT *, "
        "ST_Centroid(ST_Transform(geom, 3857)) AS c FROM parcel) p "
        "WHERE ST_Within(ST_Transform(geom, 3857), ST_TileEnvelope(%s, %s, %s)) "
        "ORDER BY amtliche_flaeche DESC LIMIT 1",
        z,
        col,
        row,
    )[0]
    parcel = frame.set_index("flurstueckskennzeichen").loc[key]
    assert parcel["amtliche_flaeche"] == area and parcel["gemarkung"] == gemarkung
    decoded = parcel.geometry.centroid
    xmin, ymin, xmax, ymax = tile_bounds(Tile("WebMercatorQuad", z, row, col))
    assert xmin < decoded.x < xmax and ymin < decoded.y < ymax
    pixel = (xmax - xmin) / 4096
    assert math.dist((decoded.x, decoded.y), (x, y)) < 2 * pixel
    lon, lat = Transformer.from_crs(3857, 4326, always_xy=True).transform(decoded.x, decoded.y)
    assert abs(lon - centre[0]) < 0.05 and abs(lat - centre[1]) < 0.05


def test_world_crs84_tile(
    client: TestClient, database: str, centre: tuple[float, float], tmp_path: Path
) -> None:
    z = 14
    span = 180 / 2**z
    row, col = int((90 - centre[1]) / span), int((centre[0] + 180) / span)
    content = fetch(client, tile_template(client, "parcels", "WorldCRS84Quad"), z, row, col)
    # GDAL georeferences a lone tile in WebMercatorQuad: read it as WebMercatorQuad tile
    # 0/0/0 and map its coordinates (fractions of the tile) onto the CRS84 tile
    frame = decode(tmp_path, content, 0, 0, 0, "parcels")
    lon0, lat0, lon1, lat1 = tile_bounds(Tile("WorldCRS84Quad", z, row, col))
    m = lon1 - lon0
    expected = features_in(
        database,
        "parcel",
        "ST_MakeEnvelope(%s, %s, %s, %s, 4326)",
        lon0 - MARGIN * m,
        lat0 - MARGIN * m,
        lon1 + MARGIN * m,
        lat1 + MARGIN * m,
    )
    assert len(expected) > 10
    assert set(frame["flurstueckskennzeichen"]) == expected and len(frame) == len(expected)
    world = 20037508.342789244
    points = shapely.get_coordinates(frame.geometry.values)
    lons = lon0 + (points[:, 0] + world) / (2 * world) * m
    lats = lat1 - (world - points[:, 1]) / (2 * world) * m
    edge = (MARGIN + 1 / 4096) * m  # the buffer, and a pixel for rounding
    assert lons.min() >= lon0 - edge and lons.max() <= lon1 + edge
    assert lats.min() >= lat0 - edge and lats.max() <= lat1 + edge
    # most of the geometry lies inside the tile proper
    inside = (lons > lon0) & (lons < lon1) & (lats > lat0) & (lats < lat1)
    assert inside.mean() > 0.8


@pytest.mark.parametrize("collection", ["buildings", "land_use"])
def test_building_and_land_use_tiles(
    client: TestClient,
    database: str,
    centre: tuple[float, float],
    tmp_path: Path,
    collection: str,
) -> None:
    z = 15
    row, col = web_mercator_tile(*centre, z)
    content = fetch(client, tile_template(client, collection, "WebMercatorQuad"), z, row, col)
    frame = decode(tmp_path, content, z, row, col, collection)
    table = TABLES[collection]
    expected = features_in(
        database, table, "ST_TileEnvelope(%s, %s, %s, margin => %s)", z, col, row, MARGIN
    )
    assert expected and len(frame) == len(expected)
    key = "source_object_id" if collection == "buildings" else "fid"
    assert {str(v) for v in frame[key]} == expected
    wanted = {"function_name", "storeys"} if collection == "buildings" else {"nutzart", "name"}
    assert wanted <= set(frame.columns)


def test_low_zoom_tile_is_simplified_not_empty(client: TestClient, centre: tuple[float, float]):
    row, col = web_mercator_tile(*centre, 10)
    low = client.get(f"/ogc/collections/parcels/tiles/WebMercatorQuad/10/{row}/{col}?f=mvt")
    assert low.status_code == 200 and low.content


def test_empty_and_invalid_tiles(client: TestClient) -> None:
    base = "/ogc/collections/parcels/tiles"
    # far from Sachsen-Anhalt, inside the matrix set and zoom range: an empty tile
    empty = client.get(f"{base}/WebMercatorQuad/12/0/0?f=mvt")
    assert empty.status_code == 204 and empty.content == b""
    assert client.get(f"{base}/WorldCRS84Quad/12/4000/100?f=mvt").status_code == 204
    for path, status in [
        ("WebMercatorQuad/abc/0/0", 400),
        ("WebMercatorQuad/15/x/0", 400),
        ("WebMercatorQuad/9/0/0", 404),  # below the zoom range
        ("WebMercatorQuad/21/0/0", 404),  # above it
        ("WebMercatorQuad/40/0/0", 404),  # beyond the tile matrix set
        ("WebMercatorQuad/15/-1/0", 404),
        ("WebMercatorQuad/15/0/32768", 404),
        ("WorldCRS84Quad/15/32768/0", 404),  # 2^15 rows, 2^16 columns
        ("NoSuchMatrixSet/15/0/0", 404),
        ("NoSuchMatrixSet", 404),
    ]:
        response = client.get(f"{base}/{path}?f=mvt")
        assert response.status_code == status, (path, response.text)
        assert response.json()["description"], path
    assert client.get(f"{base}/WorldCRS84Quad/15/0/32768?f=mvt").status_code == 204


def test_tiles_are_cacheable_until_the_next_harvest(
    client: TestClient, centre: tuple[float, float]
) -> None:
    row, col = web_mercator_tile(*centre, 16)
    url = f"/ogc/collections/parcels/tiles/WebMercatorQuad/16/{row}/{col}?f=mvt"
    first = client.get(url)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert etag.startswith('W/"') and "max-age" in first.headers["cache-control"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    other = client.get(url.replace(f"/{col}?", f"/{col + 1}?"))
    assert other.headers["etag"] != etag
