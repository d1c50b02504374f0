"""Real OGC API clients over HTTP: GDAL's OAPIF driver (as QGIS uses it, through pyogrio)
and OWSLib read every open collection completely, page by page, in the storage CRS and in
CRS84, and get exactly what the database holds."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import numpy as np
import pandas as pd
import psycopg
import pyogrio
import pytest
import shapely
from owslib.ogcapi.features import Features
from psycopg import sql

from planungsdaten.db.cluster import free_port
from planungsdaten.publish.ogc_config import (
    COLLECTIONS,
    CRS84,
    INTERNAL_COLUMNS,
    STORAGE_CRS,
    load_base,
)
from planungsdaten.settings import PROJECT_DIR
from tests.conftest import LiveServer, clone_sample

COLLECTION_IDS = sorted(spec.collection_id for spec in COLLECTIONS.values())
SPECS = {spec.collection_id: spec for spec in COLLECTIONS.values()}
MAX_ITEMS: int = load_base(PROJECT_DIR / "ogc")["server"]["limits"]["max_items"]
FEATURE_TYPES = {"application/geo+json", "application/json"}
NUMERIC_TYPES = ("smallint", "integer", "bigint", "real", "double precision", "numeric")


@dataclass(frozen=True)
class Target:
    """A CRS a client asks for: its URI, the SRID that gives the same coordinates from
    PostGIS (x = longitude/easting), the authority pyproj reports, and the tolerance."""

    uri: str
    srid: int
    authority: tuple[str, str]
    tolerance: float


TARGETS = {
    "EPSG:25832": Target(STORAGE_CRS, 25832, ("EPSG", "25832"), 0.001),  # 1 mm
    "CRS84": Target(CRS84, 4326, ("OGC", "CRS84"), 1e-6),  # degrees, about 0.1 m
}


@dataclass(frozen=True)
class Service:
    """The live service and the database behind it."""

    server: LiveServer
    database_url: str

    @property
    def ogc(self) -> str:
        return f"{self.server.url}/ogc"

    def truth(self, collection: str, srid: int) -> pd.DataFrame:
        """Every feature of `collection` in the database, indexed by id: its geometry in
        `srid` and its numeric properties (what a client's type guessing can get wrong)."""
        spec = SPECS[collection]
        with psycopg.connect(self.database_url) as conn:
            numeric = [
                name
                for (name,) in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema ="
                    " 'public' AND table_name = %s AND data_type = ANY(%s) ORDER BY 1",
                    (spec.table, list(NUMERIC_TYPES)),
                )
                if name != spec.id_field and name not in INTERNAL_COLUMNS
            ]
            statement = sql.SQL(
                "SELECT {id}::text, ST_AsBinary(ST_Transform({geom}, %s)){numeric} FROM {table}"
            ).format(
                id=sql.Identifier(spec.id_field),
                geom=sql.Identifier(spec.geom_field),
                numeric=sql.SQL("").join(
                    sql.SQL(", {}").format(sql.Identifier(n)) for n in numeric
                ),
                table=sql.Identifier(spec.table),
            )
            rows = conn.execute(statement, (srid,)).fetchall()
        frame = pd.DataFrame(rows, columns=["id", "geometry", *numeric]).set_index("id")
        frame["geometry"] = shapely.from_wkb([bytes(wkb) for wkb in frame["geometry"]])
        return frame

    def item_requests(self, collection: str, since: int) -> list[dict[str, list[str]]]:
        """Query parameters of the requests for `collection`'s items since the mark."""
        path = f"/ogc/collections/{collection}/items"
        targets = [urlsplit(t) for t in self.server.requests(since)]
        return [parse_qs(t.query) for t in targets if t.path == path]


@pytest.fixture(scope="module")
def service(
    server_url: str, sample_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    tmp: Path = tmp_path_factory.mktemp("clients")
    port = free_port()
    with clone_sample(server_url, sample_database, "planungsdaten_clients") as url:
        env = {
            "PLANUNGSDATEN_DATABASE_URL": url,
            "PLANUNGSDATEN_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "PLANUNGSDATEN_DATA_DIR": str(tmp / "data"),
        }
        with LiveServer(port, env, access_log=tmp / "access.log") as server:
            yield Service(server, url)


def page_size(count: int) -> int:
    """A page size that needs three pages (two for two features), within the server's limit."""
    return max(1, min(MAX_ITEMS, math.ceil(count / 3)))


def assert_same_features(
    ids: list[str],
    geometries: list[shapely.Geometry],
    properties: pd.DataFrame,
    truth: pd.DataFrame,
    tolerance: float,
) -> None:
    """The features a client read are the database's: every id once, the same vertices
    within `tolerance` (whatever ring orientation and start the server chose) and the same
    numbers in the numeric properties."""
    assert len(ids) == len(truth) and set(ids) == set(truth.index)
    expected = truth.loc[ids]
    got_n = shapely.normalize(np.asarray(geometries))
    expected_n = shapely.normalize(expected["geometry"].to_numpy())
    assert list(shapely.get_num_coordinates(got_n)) == list(shapely.get_num_coordinates(expected_n))
    np.testing.assert_allclose(
        shapely.get_coordinates(got_n), shapely.get_coordinates(expected_n), rtol=0, atol=tolerance
    )
    for column in expected.columns.drop("geometry"):
        np.testing.assert_allclose(
            pd.to_numeric(properties[column]).to_numpy(dtype=float),
            pd.to_numeric(expected[column]).to_numpy(dtype=float),
            rtol=1e-12,
            equal_nan=True,
            err_msg=f"property {column}",
        )


# -- GDAL ---------------------------------------------------------------------------------


def test_gdal_lists_every_collection_in_the_storage_crs(service: Service) -> None:
    layers = pyogrio.list_layers(f"OAPIF:{service.ogc}")
    assert sorted(layers[:, 0]) == COLLECTION_IDS
    # without a CRS option GDAL takes the storageCrs the collection announces
    frame = pyogrio.read_dataframe(f"OAPIF:{service.ogc}", layer="municipalities")
    assert frame.crs is not None and frame.crs.to_authority() == ("EPSG", "25832")
    muecheln = frame.set_index("ags").loc["15088235"]
    assert muecheln["name"] == "Mücheln (Geiseltal)"
    centre = muecheln.geometry.centroid
    assert 680_000 < centre.x < 705_000 and 5_680_000 < centre.y < 5_700_000


@pytest.mark.parametrize("target", TARGETS.values(), ids=TARGETS.keys())
@pytest.mark.parametrize("collection", COLLECTION_IDS)
def test_gdal_reads_the_whole_collection(service: Service, collection: str, target: Target) -> None:
    truth = service.truth(collection, target.srid)
    size = page_size(len(truth))
    mark = service.server.log_mark()
    frame = pyogrio.read_dataframe(
        f"OAPIF:{service.ogc}",
        layer=collection,
        fid_as_index=True,
        CRS=target.uri,
        PAGE_SIZE=size,
    )
    # GDAL probes the schema with one small request, then follows the `next` links
    pages = [q for q in service.item_requests(collection, mark) if q.get("crs") == [target.uri]]
    assert len(pages) >= math.ceil(len(truth) / size) >= min(len(truth), 3)
    assert frame.crs is not None and frame.crs.to_authority() == target.authority
    # integer ids become the FID, others a field `id`
    ids = [str(i) for i in (frame["id"] if "id" in frame.columns else frame.index)]
    assert_same_features(ids, list(frame.geometry.array), frame, truth, target.tolerance)


# -- OWSLib -------------------------------------------------------------------------------


def next_page(page: dict[str, Any], items_path: str) -> dict[str, str] | None:
    """Query parameters of the page's `next` link (GeoJSON), or None on the last page."""
    hrefs = [
        x["href"]
        for x in page["links"]
        if x["rel"] == "next" and x.get("type", "application/geo+json") in FEATURE_TYPES
    ]
    if not hrefs:
        return None
    parts = urlsplit(hrefs[0])
    assert parts.path == items_path, hrefs[0]
    return dict(parse_qsl(parts.query))


def test_owslib_sees_every_collection(service: Service) -> None:
    api = Features(service.ogc)
    assert sorted(api.feature_collections()) == COLLECTION_IDS
    for collection in COLLECTION_IDS:
        metadata = api.collection(collection)
        assert metadata["id"] == collection
        assert {CRS84, STORAGE_CRS} <= set(metadata["crs"])
        assert metadata["storageCrs"] == STORAGE_CRS


@pytest.mark.parametrize("target", TARGETS.values(), ids=TARGETS.keys())
@pytest.mark.parametrize("collection", COLLECTION_IDS)
def test_owslib_pages_through_the_whole_collection(
    service: Service, collection: str, target: Target
) -> None:
    truth = service.truth(collection, target.srid)
    size = page_size(len(truth))
    api = Features(service.ogc)
    items_path = urlsplit(f"{service.ogc}/collections/{collection}/items").path
    params: dict[str, Any] | None = {"limit": size, "crs": target.uri}
    features: list[dict[str, Any]] = []
    matched: set[int] = set()
    pages = 0
    while params is not None:
        page = api.collection_items(collection, **params)
        pages += 1
        assert pages <= math.ceil(len(truth) / size) + 1, "the next links do not end"
        assert api.response_headers["Content-Crs"] == f"<{target.uri}>", api.request
        assert page["numberReturned"] == len(page["features"]) <= size
        matched.add(page["numberMatched"])
        features += page["features"]
        params = next_page(page, items_path)
    assert pages >= min(len(truth), 3)
    assert matched == {len(truth)}
    assert_same_features(
        [str(f["id"]) for f in features],
        [shapely.geometry.shape(f["geometry"]) for f in features],
        pd.DataFrame([f["properties"] for f in features]),
        truth,
        target.tolerance,
    )
