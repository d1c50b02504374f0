"""OGC API Features: our service against pygeoapi's stock PostgreSQL provider in the same run.

Builds a bench database in its own throwaway PostGIS cluster: migrations, a harvest of the
sample ALKIS NAS file, then the current parcel and building partitions grown to `--rows`
parcels (default 500,000) and `--client-rows` buildings (default 200,000) with shifted
copies of the sample rows (a grid of copies that do not overlap; ids made unique), the
catalogue's count and extent updated, ANALYZE. The same data is then served, one server
after the other (never both at once, so they do not share the 2 cores), by

- stock: plain pygeoapi as it is deployed: `pygeoapi.starlette_app:APP` under uvicorn,
  a YAML config with the same collections on pygeoapi's `PostgreSQL` provider and the
  baseline limits `default_items: 10, max_items: 10000` (set explicitly: with no
  `limits` pygeoapi 0.24 caps every page at 10), its OpenAPI document from
  `pygeoapi.openapi.generate_openapi_document`;
- ours: the planungsdaten service (`uvicorn --factory planungsdaten.app:create_app`), /ogc.

and measured with the same requests:

1. `limit=100` bbox queries on parcels in CRS84: random 300–800 m boxes around random
   parcels (seeded, the same list for both), 8 concurrent clients, a fixed number of
   requests after a warm-up: requests/s, p50 and p95 latency.
2. `limit=10000` pages of parcels in CRS84 at offsets spread over the table: features/s.
3. A whole collection (buildings, `--client-rows` features) loaded by the clients planners
   use, with default options: GDAL's OAPIF driver (pyogrio) and QGIS (Debian's
   `python3-qgis`, headless, provider `OAPIF`), each in a child process. The issue measured
   225 s (QGIS 3.22) and 30 s (GDAL) for 200,000 features on the stock provider.

Every response is checked (status 200, features present, page and collection counts).
Prints a table per measurement with stock, ours and the ratio (ours/stock; stock/ours for
latencies and load times), then the targets: at least 3x on 1 and 2, at least 5x faster
loads on 3. Exit code 1 when a measurement failed (a server error, a wrong count).

Run: `make bench` or `.venv/bin/python bench/ogc_bench.py [--rows 500000]
[--client-rows 200000] [--skip-qgis] [--json result.json]`; a quick check:
`--rows 50000 --client-rows 20000` (4 minutes). The full size takes half an hour or more,
most of it QGIS (stock alone: 7 minutes for 200,000 features). QGIS needs
`sudo apt-get install --no-install-recommends python3-qgis qgis-providers`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import numpy as np
import yaml
from pydantic import SecretStr
from pyproj import Transformer
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url

from planungsdaten.db.cluster import ManagedCluster, free_port
from planungsdaten.db.engine import make_engine, sqlalchemy_url
from planungsdaten.db.migrate import upgrade
from planungsdaten.db.queries import query
from planungsdaten.harvest.run import harvest
from planungsdaten.harvest.sources import FileProtocol, load_source
from planungsdaten.publish.ogc_config import (
    COLLECTIONS,
    CRS84,
    OUTPUT_CRS,
    STORAGE_CRS,
    load_base,
)
from planungsdaten.settings import PROJECT_DIR, AppSettings, DatabaseSettings, Settings

PARCELS = COLLECTIONS["parcel"].collection_id
BUILDINGS = COLLECTIONS["building"].collection_id
# pygeoapi's baseline limits (see the module docstring)
STOCK_LIMITS = {"default_items": 10, "max_items": 10000}
GAP_M = 1000.0  # between copies of the sample area
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SYSTEM_PYTHON = "/usr/bin/python3"

GDAL_CHILD = r"""
import json, sys, time
import pyogrio
base, layer, log = sys.argv[1:4]
pyogrio.set_gdal_config_options({"CPL_DEBUG": "ON", "CPL_LOG": log})
start = time.perf_counter()
frame = pyogrio.read_dataframe(f"OAPIF:{base}", layer=layer)
print(json.dumps({"seconds": time.perf_counter() - start, "features": len(frame)}))
"""

QGIS_CHILD = r"""
import json, os, sys, time
from qgis.core import QgsApplication, QgsNetworkAccessManager, QgsVectorLayer
base, typename = sys.argv[1:3]
app = QgsApplication([], False)
app.initQgis()
urls = []
QgsNetworkAccessManager.setRequestPreprocessor(lambda r: urls.append(r.url().toString()))
start = time.perf_counter()
layer = QgsVectorLayer(f"url='{base}' typename='{typename}'", "bench", "OAPIF")
if not layer.isValid():
    print(json.dumps({"error": "layer not valid: " + layer.error().summary()}), flush=True)
    os._exit(2)
count = sum(1 for _ in layer.getFeatures())
seconds = time.perf_counter() - start
items = [u for u in urls if "/items" in u]
print(json.dumps({"seconds": seconds, "features": count, "requests": len(urls),
                  "item_requests": len(items), "first_items_urls": items[:3],
                  "last_items_url": items[-1:]}), flush=True)
os._exit(0)  # QGIS 3.22 crashes in exitQgis() when headless
"""


class BenchError(Exception):
    """A measurement could not be taken (a server failed, a count was wrong)."""


# -- data ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grid:
    """Where copy k of the sample area goes: column k % cols, row k // cols."""

    cols: int
    step_x: float
    step_y: float

    def offset(self, k: int) -> tuple[float, float]:
        return (k % self.cols) * self.step_x, (k // self.cols) * self.step_y


def harvest_sample(url: str, root: Path) -> None:
    """Generate the sample files and harvest the sample ALKIS NAS source (parcels, buildings,
    land use, addresses) as the service would."""
    sample_dir = root / "sample"
    subprocess.run(
        [sys.executable, str(PROJECT_DIR / "sample_data" / "generate.py"), str(sample_dir)],
        check=True,
        capture_output=True,
    )
    source = load_source(PROJECT_DIR / "harvesters" / "sample" / "alkis-nas.yaml")
    assert isinstance(source.protocol, FileProtocol)
    local = FileProtocol(type="file", path=sample_dir / Path(source.protocol.path).name)
    settings = Settings(
        app=AppSettings(data_dir=root / "harvest"),
        database=DatabaseSettings(url=SecretStr(url)),
    )
    engine = make_engine(settings.database)
    result = harvest(engine, source.model_copy(update={"protocol": local}), settings)
    engine.dispose()
    if result.status != "succeeded":
        raise BenchError(f"sample harvest failed: {result.message}")


def current_version(conn: Connection, table: str) -> int:
    return int(
        conn.execute(
            text("SELECT id FROM dataset_version WHERE status = 'current' AND target_table = :t"),
            {"t": table},
        ).scalar_one()
    )


def copy_expressions(conn: Connection, table: str, key: str, rename: str) -> tuple[str, str]:
    """Column list and SELECT list that copy `base` rows shifted by (dx, dy) of copy k."""
    columns = [
        r.column_name
        for r in conn.execute(
            text(
                "SELECT column_name FROM information_schema.columns WHERE table_name = :t "
                "AND column_default IS NULL ORDER BY ordinal_position"
            ),
            {"t": table},
        )
    ]
    exprs = []
    for column in columns:
        if column == "geom":
            exprs.append("ST_Translate(geom, k.dx, k.dy)")
        elif column == key:
            exprs.append(rename)
        elif column == "folge" and table == "parcel":
            exprs.append("k.tag")
        else:
            exprs.append(f'"{column}"')
    return ", ".join(f'"{c}"' for c in columns), ", ".join(exprs)


def grow(conn: Connection, table: str, key: str, rename: str, n: int, grid: Grid) -> None:
    """Fill the current partition of `table` up to n rows with shifted copies of its rows."""
    version = current_version(conn, table)
    conn.execute(text("DROP TABLE IF EXISTS base"))
    conn.execute(
        text(f"CREATE TEMP TABLE base AS SELECT * FROM {table} WHERE dataset_version_id = :v"),
        {"v": version},
    )
    base = int(conn.execute(text("SELECT count(*) FROM base")).scalar_one())
    if n < base:
        raise BenchError(f"{table}: {n} rows asked, the sample alone has {base}")
    copies, rest = divmod(n - base, base)
    if copies + 1 >= len(ALPHABET) ** 2:
        raise BenchError(f"{table}: too many copies ({copies}) for two-character ids")
    offsets = ", ".join(
        f"({k}, {grid.offset(k)[0]}, {grid.offset(k)[1]}, "
        f"'{ALPHABET[k // len(ALPHABET)]}{ALPHABET[k % len(ALPHABET)]}')"
        for k in range(1, copies + 2)
    )
    columns, exprs = copy_expressions(conn, table, key, rename)
    copies_sql = f"(VALUES {offsets}) AS k(k, dx, dy, tag)"
    conn.execute(
        text(
            f"INSERT INTO {table} ({columns}) SELECT {exprs} FROM base "
            f"CROSS JOIN {copies_sql} WHERE k.k <= :copies"
        ),
        {"copies": copies},
    )
    if rest:
        conn.execute(
            text(
                f"INSERT INTO {table} ({columns}) SELECT {exprs} FROM "
                f"(SELECT * FROM base ORDER BY {key} LIMIT :rest) AS base "
                f"CROSS JOIN {copies_sql} WHERE k.k = :last"
            ),
            {"rest": rest, "last": copies + 1},
        )
    conn.execute(
        text(
            f"UPDATE dataset_version SET feature_count = (SELECT count(*) FROM {table} "
            "WHERE dataset_version_id = :v), extent = (SELECT ST_SetSRID(ST_Extent(geom)"
            f"::geometry, 25832) FROM {table} WHERE dataset_version_id = :v) WHERE id = :v"
        ),
        {"v": version},
    )
    count = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    if count != n:
        raise BenchError(f"{table}: {count} rows after growing, expected {n}")


def prepare(engine: Engine, rows: int, client_rows: int) -> tuple[Grid, list[Any], int]:
    """Grow parcels and buildings; the grid, the sample parcels' centroids, complete copies."""
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL statement_timeout = 0"))
        ext = conn.execute(
            text(
                "SELECT ST_XMin(e) AS xmin, ST_YMin(e) AS ymin, ST_XMax(e) AS xmax, "
                "ST_YMax(e) AS ymax FROM (SELECT ST_Extent(geom) AS e FROM "
                "(SELECT geom FROM parcel UNION ALL SELECT geom FROM building) g) x"
            )
        ).one()
        centroids = conn.execute(
            text(
                "SELECT ST_X(c) AS x, ST_Y(c) AS y FROM (SELECT ST_PointOnSurface(geom) AS c, "
                "flurstueckskennzeichen FROM parcel) p ORDER BY flurstueckskennzeichen"
            )
        ).all()
        copies = max(rows, client_rows) // len(centroids) + 1
        grid = Grid(
            cols=math.ceil(math.sqrt(copies + 1)),
            step_x=ext.xmax - ext.xmin + GAP_M,
            step_y=ext.ymax - ext.ymin + GAP_M,
        )
        grow(
            conn,
            "parcel",
            "flurstueckskennzeichen",
            "left(flurstueckskennzeichen, 18) || k.tag",
            rows,
            grid,
        )
        grow(
            conn,
            "building",
            "source_object_id",
            "source_object_id || '-' || k.tag",
            client_rows,
            grid,
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE parcel"))
        conn.execute(text("ANALYZE building"))
    complete = rows // len(centroids) - 1  # copies 0..complete hold every sample parcel
    return grid, list(centroids), complete


def bbox_list(
    grid: Grid, centroids: list[Any], complete: int, n: int, seed: int
) -> list[tuple[float, float, float, float]]:
    """n boxes in CRS84, 300–800 m wide and high, each around one parcel (so never empty)."""
    rng = np.random.default_rng(seed)
    to_crs84 = Transformer.from_crs("EPSG:25832", "OGC:CRS84", always_xy=True)
    boxes = []
    for _ in range(n):
        p = centroids[int(rng.integers(len(centroids)))]
        dx, dy = grid.offset(int(rng.integers(complete + 1)))
        w, h = rng.uniform(300, 800, size=2)
        fx, fy = rng.uniform(0.1, 0.9, size=2)  # where in the box the parcel lies
        x0, y0 = p.x + dx - fx * w, p.y + dy - fy * h
        xs, ys = to_crs84.transform([x0, x0 + w, x0 + w, x0], [y0, y0, y0 + h, y0 + h])
        boxes.append((min(xs), min(ys), max(xs), max(ys)))
    return boxes


# -- servers ---------------------------------------------------------------------------------


def stock_config(engine: Engine, database_url: str, port: int) -> dict[str, Any]:
    """pygeoapi configuration of the stock deployment: our base metadata, pygeoapi's limits,
    and every collection the service publishes on pygeoapi's PostgreSQL provider."""
    config = load_base(PROJECT_DIR / "ogc")
    config["server"]["url"] = f"http://127.0.0.1:{port}"
    config["server"]["bind"] = {"host": "127.0.0.1", "port": port}
    config["server"]["limits"] = dict(STOCK_LIMITS)
    u = make_url(database_url)
    connection = {
        "host": u.host,
        "port": u.port,
        "dbname": u.database,
        "user": u.username,
        "password": u.password,
        "search_path": ["public"],
    }
    resources = {}
    with engine.connect() as conn:
        for row in conn.execute(query("published_datasets")):
            spec = COLLECTIONS.get(row.target_table)
            if spec is None or row.xmin is None:
                continue
            resources[spec.collection_id] = {
                "type": "collection",
                "title": spec.title,
                "description": spec.description,
                "keywords": list(spec.keywords),
                "links": [],
                "extents": {
                    "spatial": {"bbox": [row.xmin, row.ymin, row.xmax, row.ymax], "crs": CRS84}
                },
                "providers": [
                    {
                        "type": "feature",
                        "name": "PostgreSQL",
                        "data": connection,
                        "id_field": spec.id_field,
                        "table": spec.table,
                        "geom_field": spec.geom_field,
                        "storage_crs": STORAGE_CRS,
                        "crs": OUTPUT_CRS,
                        **({"time_field": spec.time_field} if spec.time_field else {}),
                    }
                ],
            }
    config["resources"] = resources
    return config


@dataclass
class Server:
    """One uvicorn process serving OGC API Features at `base`."""

    name: str
    app: list[str]  # uvicorn arguments naming the app
    env: dict[str, str]
    port: int
    base: str
    ready: str
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @contextmanager
    def running(self, log: Path) -> Iterator[Server]:
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "uvicorn", *self.app, "--host", "127.0.0.1"),
                    *("--port", str(self.port), "--log-level", "warning", "--no-access-log"),
                ],
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            try:
                deadline = time.monotonic() + 120
                while True:
                    try:
                        if httpx.get(self.ready, timeout=5).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline or self.process.poll() is not None:
                        raise BenchError(
                            f"{self.name} server did not start:\n{log.read_text()[-3000:]}"
                        )
                    time.sleep(0.2)
                yield self
            finally:
                if self.process.poll() is None:
                    self.process.terminate()
                    try:
                        self.process.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        self.process.kill()
                        self.process.wait()

    def peak_rss_mib(self) -> float | None:
        """VmHWM of the server process so far (None once it has ended)."""
        assert self.process is not None
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except FileNotFoundError:
            return None
        line = next(x for x in status.splitlines() if x.startswith("VmHWM"))
        return int(line.split()[1]) / 1024


def stock_server(engine: Engine, database_url: str, root: Path) -> Server:
    from pygeoapi.openapi import generate_openapi_document

    port = free_port()
    config_path = root / "stock-pygeoapi.yml"
    openapi_path = root / "stock-openapi.yml"
    config_path.write_text(
        yaml.safe_dump(stock_config(engine, database_url, port), allow_unicode=True), "utf-8"
    )
    openapi_path.write_text(generate_openapi_document(config_path, "yaml"), "utf-8")
    base = f"http://127.0.0.1:{port}"
    return Server(
        name="stock",
        app=["pygeoapi.starlette_app:APP"],
        env={"PYGEOAPI_CONFIG": str(config_path), "PYGEOAPI_OPENAPI": str(openapi_path)},
        port=port,
        base=base,
        ready=f"{base}/collections?f=json",
    )


def our_server(database_url: str, root: Path) -> Server:
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    return Server(
        name="ours",
        app=["--factory", "planungsdaten.app:create_app"],
        env={
            "PLANUNGSDATEN_DATABASE_URL": database_url,
            "PLANUNGSDATEN_PUBLIC_URL": public,
            "PLANUNGSDATEN_DATA_DIR": str(root / "service"),
            # no package worker polling beside the measured requests
            "PLANUNGSDATEN_PACKAGE_WORKERS": "0",
        },
        port=port,
        base=f"{public}/ogc",
        ready=f"{public}/health",
    )


# -- measurements ----------------------------------------------------------------------------


def _features(response: httpx.Response, what: str) -> int:
    if response.status_code != 200:
        raise BenchError(
            f"{what}: HTTP {response.status_code} for {response.request.url}\n{response.text[:500]}"
        )
    return len(response.json()["features"])


def advertised_limit(base: str, collection: str) -> dict[str, Any]:
    """The `limit` parameter in the server's OpenAPI document: on the collection's items path
    (where GDAL looks) and as `components.parameters.limit` (where QGIS 3.22 looks)."""
    doc = httpx.get(f"{base}/openapi", params={"f": "json"}, timeout=120).json()

    def resolve(parameter: dict[str, Any]) -> dict[str, Any]:
        ref = parameter.get("$ref", "")
        if not ref.startswith("#/"):
            return parameter
        node: Any = doc
        for part in ref[2:].split("/"):
            node = node.get(part, {})
        return dict(node)

    found: dict[str, Any] = {}
    path = doc.get("paths", {}).get(f"/collections/{collection}/items", {})
    for parameter in map(resolve, path.get("get", {}).get("parameters", [])):
        if parameter.get("name") == "limit":
            found["path"] = parameter.get("schema", {})
    component = doc.get("components", {}).get("parameters", {}).get("limit")
    if component is not None:
        found["components"] = resolve(component).get("schema", {})
    return {
        where: {
            "default": found.get(where, {}).get("default"),
            "maximum": found.get(where, {}).get("maximum"),
        }
        for where in ("path", "components")
    }


def bbox_load(
    base: str, boxes: list[tuple[float, float, float, float]], clients: int, warmup: int
) -> dict[str, float]:
    """`limit=100` bbox queries from `clients` threads; the first `warmup` boxes untimed."""
    url = f"{base}/collections/{PARCELS}/items"

    def params(box: tuple[float, float, float, float]) -> dict[str, str]:
        bbox = ",".join(f"{v:.7f}" for v in box)
        return {"bbox": bbox, "limit": "100", "crs": CRS84, "f": "json"}

    with httpx.Client(timeout=300) as client:
        for box in boxes[:warmup]:
            if _features(client.get(url, params=params(box)), "bbox warm-up") == 0:
                raise BenchError(f"bbox warm-up: no features in {box}")
    timed = boxes[warmup:]
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    position = iter(range(len(timed)))

    def worker() -> None:
        with httpx.Client(timeout=300) as client:
            while True:
                with lock:
                    i = next(position, None)
                if i is None:
                    return
                start = time.perf_counter()
                response = client.get(url, params=params(timed[i]))
                seconds = time.perf_counter() - start
                try:
                    if _features(response, "bbox query") == 0:
                        raise BenchError(f"bbox query: no features in {timed[i]}")
                except BenchError as e:
                    with lock:
                        errors.append(str(e))
                with lock:
                    latencies.append(seconds)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if errors:
        raise BenchError(f"{len(errors)} of {len(timed)} bbox queries failed; first: {errors[0]}")
    ms = np.array(latencies) * 1000
    return {
        "requests": len(timed),
        "seconds": wall,
        "requests_per_s": len(timed) / wall,
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
    }


def page_load(base: str, rows: int, pages: int, limit: int = 10_000) -> dict[str, Any]:
    """`limit` pages in CRS84 at offsets spread over the table, one after the other."""
    offsets = [round(i * (rows - limit) / max(pages - 1, 1)) for i in range(pages)]
    url = f"{base}/collections/{PARCELS}/items"
    total, seconds = 0, 0.0
    per_page = []
    with httpx.Client(timeout=600) as client:
        _features(client.get(url, params={"limit": "10", "crs": CRS84}), "page warm-up")
        for offset in offsets:
            start = time.perf_counter()
            response = client.get(
                url, params={"limit": str(limit), "offset": str(offset), "crs": CRS84, "f": "json"}
            )
            took = time.perf_counter() - start
            got = _features(response, f"page at offset {offset}")
            if got != limit:
                raise BenchError(f"page at offset {offset}: {got} features, expected {limit}")
            total += got
            seconds += took
            per_page.append(round(took, 3))
    return {
        "offsets": offsets,
        "features": total,
        "seconds": seconds,
        "features_per_s": total / seconds,
        "seconds_per_page": per_page,
    }


def gdal_load(base: str, collection: str, expected: int, log: Path, timeout: float) -> Any:
    """GDAL's OAPIF driver (pyogrio, default options) reading the whole collection."""
    try:
        out = subprocess.run(
            [sys.executable, "-c", GDAL_CHILD, base, collection, str(log)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as e:
        raise BenchError(f"GDAL: no result within {timeout:.0f} s") from e
    if out.returncode != 0:
        raise BenchError(f"GDAL failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    # the driver logs every HTTP request it makes (CPL_DEBUG)
    fetched = [
        line.split("Fetch(", 1)[1].rstrip(")")
        for line in log.read_text(errors="replace").splitlines()
        if "HTTP: Fetch(" in line
    ]
    items = [u for u in fetched if "/items" in u]
    result.update(
        requests=len(fetched),
        item_requests=len(items),
        first_items_urls=items[:3],
        last_items_url=items[-1:],
    )
    if result["features"] != expected:
        raise BenchError(f"GDAL read {result['features']} features, expected {expected}")
    return result


class Replay:
    """Responses recorded from a server, answered from memory at once: GDAL reading them is
    GDAL's own floor, the time no server can take away."""

    def __init__(self, pages: dict[str, tuple[bytes, str]]) -> None:
        self.pages = pages
        replay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else each response waits for a delayed ACK

            def do_GET(self) -> None:
                body, media_type = replay.pages.get(self.path, (b"", "text/plain"))
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", media_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_port}"

    @contextmanager
    def running(self) -> Iterator[Replay]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()


def gdal_floor(base: str, collection: str, expected: int, log: Path, root: Path) -> Any:
    """GDAL's OAPIF driver reading the requests it made of `base` (from its log), replayed
    from memory: what the client itself needs per feature (it parses each page three
    times), so stock seconds / these seconds is the best ratio any server could reach."""
    fetched = [
        line.split("Fetch(", 1)[1].rstrip(")")
        for line in log.read_text(errors="replace").splitlines()
        if "HTTP: Fetch(" in line
    ]
    origin = base.rsplit("/ogc", 1)[0]
    pages: dict[str, tuple[bytes, str]] = {}
    with httpx.Client(timeout=300) as client:
        recorded = {url: client.get(url) for url in dict.fromkeys(fetched)}
    replay = Replay({})
    replay_port = replay.server.server_port
    for url, response in recorded.items():
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        body = response.content.replace(origin.encode(), f"http://127.0.0.1:{replay_port}".encode())
        pages[path] = (body, response.headers.get("content-type", "application/json"))
    replay.pages.update(pages)
    with replay.running():
        result = gdal_load(
            f"{replay.base}/ogc", collection, expected, root / "gdal-replay.log", 1800
        )
    return result


def qgis_available() -> bool:
    if not Path(SYSTEM_PYTHON).exists():
        return False
    check = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import qgis.core"], capture_output=True, env=qgis_env()
    )
    return check.returncode == 0


def qgis_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return {**env, "QT_QPA_PLATFORM": "offscreen"}


def qgis_load(base: str, collection: str, expected: int, timeout: float) -> Any:
    """QGIS's OAPIF provider (system Python, headless) iterating the whole collection."""
    try:
        out = subprocess.run(
            [SYSTEM_PYTHON, "-c", QGIS_CHILD, base, collection],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=qgis_env(),
        )
    except subprocess.TimeoutExpired as e:
        raise BenchError(f"QGIS: no result within {timeout:.0f} s") from e
    lines = out.stdout.strip().splitlines()
    result = json.loads(lines[-1]) if lines else {}
    if out.returncode != 0 or "features" not in result:
        raise BenchError(
            f"QGIS failed (exit {out.returncode}):\n{out.stdout[-1500:]}\n{out.stderr[-1500:]}"
        )
    if result["features"] != expected:
        raise BenchError(f"QGIS read {result['features']} features, expected {expected}")
    return result


def measure(server: Server, args: argparse.Namespace, boxes: Any, root: Path) -> dict[str, Any]:
    """Every measurement against one running server; a failed one is recorded, not fatal."""
    result: dict[str, Any] = {"base": server.base, "errors": {}}
    steps: list[tuple[str, Any]] = [
        ("bbox", lambda: bbox_load(server.base, boxes, args.clients, args.warmup)),
        ("pages", lambda: page_load(server.base, args.rows, args.pages)),
        ("limit", lambda: advertised_limit(server.base, BUILDINGS)),
        (
            "gdal",
            lambda: gdal_load(
                server.base,
                BUILDINGS,
                args.client_rows,
                root / f"gdal-{server.name}.log",
                args.client_timeout,
            ),
        ),
    ]
    if server.name == "ours":
        steps.append(
            (
                "floor",
                lambda: gdal_floor(
                    server.base, BUILDINGS, args.client_rows, root / "gdal-ours.log", root
                ),
            )
        )
    if not args.skip_qgis:
        steps.append(
            ("qgis", lambda: qgis_load(server.base, BUILDINGS, args.client_rows, args.qgis_timeout))
        )
    for name, step in steps:
        started = time.perf_counter()
        try:
            result[name] = step()
        except (BenchError, httpx.HTTPError, ValueError, KeyError) as e:
            result["errors"][name] = f"{type(e).__name__}: {e}"
        print(
            f"  {server.name:<5} {name:<6} {time.perf_counter() - started:7.1f} s"
            + ("  FAILED" if name in result["errors"] else ""),
            flush=True,
        )
    result["peak_rss_mib"] = server.peak_rss_mib()
    return result


# -- report ----------------------------------------------------------------------------------


def _get(result: dict[str, Any], *keys: str) -> float | None:
    node: Any = result
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return float(node)


def _row(label: str, stock: float | None, ours: float | None, higher_better: bool) -> str:
    def cell(v: float | None) -> str:
        return f"{v:>12,.1f}" if v is not None else f"{'failed':>12}"

    ratio = None
    if stock and ours:
        ratio = ours / stock if higher_better else stock / ours
    shown = f"{ratio:>8.2f}x" if ratio is not None else f"{'–':>9}"
    return f"  {label:<28}{cell(stock)}{cell(ours)}{shown}"


def ratio_of(
    stock: dict[str, Any], ours: dict[str, Any], keys: tuple[str, ...], higher_better: bool
) -> float | None:
    s, o = _get(stock, *keys), _get(ours, *keys)
    if not s or not o:
        return None
    return o / s if higher_better else s / o


Metric = tuple[str, tuple[str, ...], bool]  # label, keys into a result, higher is better


def report(results: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """Print the tables; return the target lines."""
    stock, ours = results["stock"], results["ours"]
    clients: list[Metric] = [("GDAL OAPIF (pyogrio) s", ("gdal", "seconds"), False)]
    if not args.skip_qgis:
        clients.append(("QGIS OAPIF s", ("qgis", "seconds"), False))
    tables: list[tuple[str, list[Metric]]] = [
        (
            f"1. bbox queries on {PARCELS} ({args.rows:,} rows), limit=100, CRS84, "
            f"{args.clients} clients, {args.requests} requests after {args.warmup} warm-up",
            [
                ("requests/s", ("bbox", "requests_per_s"), True),
                ("p50 latency (ms)", ("bbox", "p50_ms"), False),
                ("p95 latency (ms)", ("bbox", "p95_ms"), False),
            ],
        ),
        (
            f"2. limit=10000 pages of {PARCELS} in CRS84, {args.pages} pages",
            [
                ("features/s", ("pages", "features_per_s"), True),
                ("seconds (all pages)", ("pages", "seconds"), False),
            ],
        ),
        (
            f"3. whole collection {BUILDINGS} ({args.client_rows:,} features) loaded by clients",
            clients,
        ),
    ]
    for title, rows in tables:
        print(f"\n{title}")
        print(f"  {'':<28}{'stock':>12}{'ours':>12}{'ratio':>9}")
        for label, keys, higher_better in rows:
            print(_row(label, _get(stock, *keys), _get(ours, *keys), higher_better))
    print(
        "\n  limit in the OpenAPI document (default/maximum) on the items path and in "
        "components.parameters; requests made by the clients:"
    )
    for name, result in (("stock", stock), ("ours", ours)):
        limit = result.get("limit", {})
        parts = [
            f"limit {where} {limit[where]['default'] or '–'}/{limit[where]['maximum'] or '–'}"
            for where in limit
        ]
        for client in ("gdal", "qgis"):
            if client in result:
                r = result[client]
                limits = [
                    parse_qs(urlsplit(u).query).get("limit", ["?"])[0]
                    for u in r["first_items_urls"]
                ]
                parts.append(
                    f"{client} {r['requests']} requests, {r['item_requests']} item pages "
                    f"(limit={'/'.join(limits)}, …)"
                )
        print(
            f"  {name:<6}"
            + ", ".join(parts)
            + f", server peak RSS {result['peak_rss_mib'] or 0:.0f} MiB"
        )
    if "floor" in ours:
        floor = ours["floor"]["seconds"]
        stock_gdal = _get(stock, "gdal", "seconds")
        best = f"; no server can make GDAL more than {stock_gdal / floor:.1f}x faster than stock"
        print(
            f"\n  GDAL reading the same pages replayed from memory (no server work): "
            f"{floor:.1f} s" + (best if stock_gdal else "")
        )
    for name, result in (("stock", stock), ("ours", ours)):
        for step, error in result["errors"].items():
            print(f"\n  {name} {step} FAILED: {error}")

    targets = [
        ("bbox requests/s >= 3x stock", ("bbox", "requests_per_s"), True, 3.0),
        ("limit=10000 features/s >= 3x stock", ("pages", "features_per_s"), True, 3.0),
        ("GDAL whole-collection load >= 5x faster", ("gdal", "seconds"), False, 5.0),
    ]
    if not args.skip_qgis:
        targets.append(("QGIS whole-collection load >= 5x faster", ("qgis", "seconds"), False, 5.0))
    lines = []
    for label, keys, higher_better, goal in targets:
        ratio = ratio_of(stock, ours, keys, higher_better)
        verdict = "not measured" if ratio is None else ("MET" if ratio >= goal else "NOT MET")
        shown = f"{ratio:.2f}x" if ratio is not None else "–"
        lines.append(f"  {label:<42}{shown:>8}  {verdict}")
    results["targets"] = lines
    print("\ntargets")
    print("\n".join(lines))
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=500_000, help="parcels (bbox, pages)")
    parser.add_argument("--client-rows", type=int, default=200_000, help="buildings (clients)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=400, help="timed bbox queries")
    parser.add_argument("--warmup", type=int, default=16)
    parser.add_argument("--pages", type=int, default=5)
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--skip-qgis", action="store_true")
    parser.add_argument("--client-timeout", type=float, default=1800, help="GDAL, seconds")
    parser.add_argument("--qgis-timeout", type=float, default=3600, help="seconds")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    if args.rows < 10_000 * 2:
        parser.error("--rows must be at least 20000 (limit=10000 pages)")
    if not args.skip_qgis and not qgis_available():
        print(
            "QGIS part skipped: `import qgis.core` fails in /usr/bin/python3. Install it with "
            "`sudo apt-get install -y --no-install-recommends python3-qgis qgis-providers`.",
            file=sys.stderr,
        )
        args.skip_qgis = True
    began = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="planungsdaten-ogc-bench-"))
    root.chmod(0o755)
    cluster = ManagedCluster(root / "pg", database="bench")
    results: dict[str, Any] = {}
    try:
        with cluster.running() as url:
            engine = create_engine(sqlalchemy_url(url))
            upgrade(engine)
            harvest_sample(url, root)
            grid, centroids, complete = prepare(engine, args.rows, args.client_rows)
            boxes = bbox_list(grid, centroids, complete, args.warmup + args.requests, args.seed)
            prepared = time.perf_counter() - began
            print(
                f"data ready in {prepared:.0f} s: {args.rows:,} parcels, "
                f"{args.client_rows:,} buildings",
                flush=True,
            )
            servers = [stock_server(engine, url, root), our_server(url, root)]
            engine.dispose()
            for server in servers:
                with server.running(root / f"{server.name}.log"):
                    results[server.name] = measure(server, args, boxes, root)
    finally:
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)
    results["seconds_total"] = time.perf_counter() - began
    results["seconds_data"] = prepared
    report(results, args)
    print(f"\nwhole run: {results['seconds_total']:.0f} s")
    if args.json:
        params = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        args.json.write_text(json.dumps({"params": params, **results}, indent=2), "utf-8")
    failed = any(results[name]["errors"] for name in ("stock", "ours"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
