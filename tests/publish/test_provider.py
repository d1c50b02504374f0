"""Our feature provider behind /ogc: answers checked against SQL on the same database."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text

from planungsdaten.app import create_app
from planungsdaten.db.engine import sqlalchemy_url
from planungsdaten.publish import provider
from planungsdaten.publish.features import READ_AHEAD, encode_cursor
from tests.conftest import SAMPLE_AGS, clone_sample, package_test_settings

ITEMS = "/ogc/collections/parcels/items"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"


@pytest.fixture(scope="module")
def database(server_url: str, sample_database: str) -> Iterator[str]:
    with clone_sample(server_url, sample_database, "planungsdaten_provider") as url:
        yield url


@pytest.fixture(scope="module")
def client(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp: Path = tmp_path_factory.mktemp("provider")
    with TestClient(create_app(package_test_settings(database, tmp / "data"))) as client:
        yield client


@pytest.fixture(scope="module")
def db(database: str) -> Iterator[Engine]:
    engine = create_engine(sqlalchemy_url(database))
    yield engine
    engine.dispose()


def scalar(db: Engine, sql: str, **params: Any) -> Any:
    with db.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def ids(page: dict[str, Any]) -> list[str]:
    return [str(f["id"]) for f in page["features"]]


def test_a_large_page_is_streamed_whole_and_in_order(client: TestClient, db: Engine) -> None:
    total = scalar(db, "SELECT count(*) FROM parcel")
    assert total > 3000
    with client.stream("GET", ITEMS, params={"limit": 10000}) as response:
        assert response.headers["content-type"] == "application/geo+json"
        assert "content-length" not in response.headers  # written while rows arrive
        chunks = list(response.iter_bytes())
    page = __import__("json").loads(b"".join(chunks))
    assert page["numberMatched"] == page["numberReturned"] == total == len(page["features"])
    first = scalar(db, "SELECT min(flurstueckskennzeichen) FROM parcel")
    assert page["features"][0]["id"] == first
    assert ids(page) == sorted(ids(page))
    assert not [x for x in page["links"] if x["rel"] == "next"]
    assert "dataset_version_id" not in page["features"][0]["properties"]  # bookkeeping


def test_geometry_matches_postgis(client: TestClient, db: Engine) -> None:
    page = client.get(ITEMS, params={"limit": 20, "crs": EPSG + "25832"}).json()
    for feature in page["features"]:
        wkt = scalar(
            db,
            "SELECT ST_AsText(geom) FROM parcel WHERE flurstueckskennzeichen = :id",
            id=feature["id"],
        )
        expected = shapely.from_wkt(wkt)
        got = shapely.geometry.shape(feature["geometry"])
        assert shapely.hausdorff_distance(got, expected) < 0.001  # to the millimetre


def test_large_filtered_results_are_not_counted(
    client: TestClient, db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # planner estimates above the limit: numberMatched left out, paging by `next` still whole
    monkeypatch.setattr(provider, "EXACT_COUNT_LIMIT", 10)
    params = {"limit": 1000, "bbox": "-180,-90,180,90"}
    seen: list[str] = []
    url: str | None = ITEMS
    while url:
        page = client.get(url, params=params if url == ITEMS else None).json()
        assert "numberMatched" not in page
        seen += ids(page)
        nexts = [x["href"] for x in page["links"] if x["rel"] == "next"]
        url = nexts[0].split("://", 1)[1].split("/", 1)[1] if nexts else None
        url = "/" + url if url else None
    assert len(seen) == len(set(seen)) == scalar(db, "SELECT count(*) FROM parcel")
    # an unfiltered count is cached per dataset version, so it is always given
    assert "numberMatched" in client.get(ITEMS, params={"limit": 1}).json()
    # resulttype=hits always counts
    hits = client.get(ITEMS, params={**params, "resulttype": "hits"}).json()
    assert hits["numberMatched"] == len(seen) and hits["features"] == []


def test_property_filter_sort_select_and_skip_geometry(client: TestClient, db: Engine) -> None:
    gemarkung = scalar(db, "SELECT min(gemarkung_name) FROM parcel")
    expected = scalar(db, "SELECT count(*) FROM parcel WHERE gemarkung_name = :g", g=gemarkung)
    page = client.get(
        ITEMS,
        params={
            "gemarkung_name": gemarkung,
            "sortby": "-amtliche_flaeche",
            "properties": "amtliche_flaeche,gemarkung_name",
            "skipGeometry": "true",
            "limit": 10000,
        },
    ).json()
    assert page["numberMatched"] == expected == len(page["features"])
    areas = [f["properties"]["amtliche_flaeche"] for f in page["features"]]
    assert areas == sorted(areas, reverse=True)
    assert all(f["geometry"] is None for f in page["features"])
    assert set(page["features"][0]["properties"]) == {"amtliche_flaeche", "gemarkung_name"}
    assert client.get(ITEMS, params={"amtliche_flaeche": "viel"}).status_code == 400
    assert client.get(ITEMS, params={"sortby": "-gibtsnicht"}).status_code == 400
    assert client.get(ITEMS, params={"properties": "gibtsnicht"}).status_code == 400
    assert client.get(ITEMS, params={"resulttype": "alles"}).status_code == 400


def test_cql2_text_json_and_q(client: TestClient, db: Engine) -> None:
    expected = scalar(db, "SELECT count(*) FROM parcel WHERE amtliche_flaeche > 5000")
    by_text = client.get(
        ITEMS, params={"filter": "amtliche_flaeche > 5000", "filter-lang": "cql2-text"}
    ).json()
    by_json = client.post(
        ITEMS,
        json={"op": ">", "args": [{"property": "amtliche_flaeche"}, 5000]},
        headers={"Content-Type": "application/query-cql-json"},
    ).json()
    assert by_text["numberMatched"] == by_json["numberMatched"] == expected > 0
    spatial = client.get(
        ITEMS, params={"filter": "S_INTERSECTS(geom, POINT(11.81 51.30))", "limit": 5}
    )
    assert spatial.status_code == 200
    bad = client.get(ITEMS, params={"filter": "amtliche_flaeche >>> 5"})
    assert bad.status_code == 400 and "Filter" in bad.json()["description"]
    term = scalar(db, "SELECT lower(left(max(gemarkung_name), 4)) FROM parcel")
    found = client.get(ITEMS, params={"q": term, "limit": 10000}).json()
    assert (
        0
        < found["numberMatched"]
        == scalar(
            db,
            "SELECT count(*) FROM parcel WHERE location_text ILIKE :t OR gemarkung_name ILIKE :t "
            "OR flurstueckskennzeichen ILIKE :t OR ags ILIKE :t",
            t=f"%{term}%",
        )
    )


def test_html_jsonld_and_single_items(client: TestClient, db: Engine) -> None:
    html = client.get(ITEMS, params={"f": "html", "limit": 3})
    assert html.status_code == 200 and "text/html" in html.headers["content-type"]
    first = scalar(db, "SELECT min(flurstueckskennzeichen) FROM parcel")
    assert first in html.text
    jsonld = client.get(ITEMS, params={"f": "jsonld", "limit": 3})
    assert jsonld.status_code == 200 and "@context" in jsonld.json()
    one = client.get(f"{ITEMS}/{first}", params={"f": "json", "crs": EPSG + "25832"})
    assert one.status_code == 200 and one.headers["content-crs"] == f"<{EPSG}25832>"
    x = scalar(
        db,
        "SELECT ST_X(ST_PointN(ST_ExteriorRing(ST_GeometryN(geom, 1)), 1)) FROM parcel "
        "WHERE flurstueckskennzeichen = :id",
        id=first,
    )
    assert one.json()["geometry"]["coordinates"][0][0][0][0] == pytest.approx(x, abs=0.001)
    # an integer id that is no number is simply not there
    assert (
        client.get("/ogc/collections/addresses/items/abc", params={"f": "json"}).status_code == 404
    )
    municipality = client.get(f"/ogc/collections/municipalities/items/{SAMPLE_AGS}").json()
    assert municipality["properties"]["name"] == "Mücheln (Geiseltal)"


def test_next_links_continue_after_the_last_id(client: TestClient, db: Engine) -> None:
    everything = scalar(
        db, "SELECT array_agg(flurstueckskennzeichen ORDER BY flurstueckskennzeichen) FROM parcel"
    )
    seen: list[str] = []
    url: str | None = f"{ITEMS}?limit=1000"
    while url:
        page = client.get(url).json()
        seen += ids(page)
        nexts = [x["href"] for x in page["links"] if x["rel"] == "next"]
        url = nexts[0].split("/ogc/", 1)[1] if nexts else None
        url = "/ogc/" + url if url else None
        if url:
            assert "cursor=" in url and f"offset={len(seen)}" in url
    assert seen == everything
    # the cursor, not the offset, says where a page starts (so deep pages need no scan)…
    cursor = encode_cursor(0, everything[9])
    page = client.get(ITEMS, params={"limit": 5, "offset": 0, "cursor": cursor}).json()
    assert ids(page) == everything[10:15]
    # …but only for the offset it was made for; a garbled one is refused
    page = client.get(ITEMS, params={"limit": 5, "offset": 20, "cursor": cursor}).json()
    assert ids(page) == everything[20:25]
    assert client.get(ITEMS, params={"cursor": "%%%"}).status_code == 400


def test_pages_followed_by_next_links_are_built_ahead(client: TestClient, db: Engine) -> None:
    everything = scalar(
        db, "SELECT array_agg(flurstueckskennzeichen ORDER BY flurstueckskennzeichen) FROM parcel"
    )
    first = client.get(ITEMS, params={"limit": 500}).json()
    second_url = next(x["href"] for x in first["links"] if x["rel"] == "next")
    second = client.get("/ogc/" + second_url.split("/ogc/", 1)[1]).json()
    third_url = next(x["href"] for x in second["links"] if x["rel"] == "next")

    # the second page came from a next link: the third is being built while it is read
    def ahead() -> list[tuple[object, ...]]:
        return [k for k in READ_AHEAD._pages if {("offset", "1000"), ("limit", "500")} <= set(k[2])]

    deadline = time.monotonic() + 30
    while not ahead() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(ahead()) == 1
    third = client.get("/ogc/" + third_url.split("/ogc/", 1)[1]).json()
    assert not ahead()  # taken
    assert ids(first) + ids(second) + ids(third) == everything[:1500]
    assert third["numberMatched"] == len(everything) and third["numberReturned"] == 500
    fourth_url = next(x["href"] for x in third["links"] if x["rel"] == "next")
    assert "offset=1500" in fourth_url
    # served from the read-ahead, which then builds the fourth; asked again, all is the same
    again = client.get("/ogc/" + third_url.split("/ogc/", 1)[1]).json()
    assert ids(again) == ids(third)
