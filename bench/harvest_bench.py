"""Bulk harvest of parcels: our pipeline against `ogr2ogr -f PostgreSQL` in the same run.

Generates GeoPackages of N parcels (ALKIS-vereinfacht fields, valid squares in
EPSG:25832), loads each through the planungsdaten pipeline (fetch, stream, validate,
repair, COPY into a partition, atomic swap) in a child process that reports its own peak
RSS, then with `ogr2ogr -f PostgreSQL --config PG_USE_COPY YES` (Debian `gdal-bin`) into
the same database. Prints features/s for both, the ratio ours/ogr2ogr (>= 1.0 means at
least ogr2ogr's speed) and our peak RSS, for every size (default 250k and 1M: memory must
not grow with the input).

Run: `make bench` or `.venv/bin/python bench/harvest_bench.py [--sizes 250000 1000000]`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from planungsdaten.db.cluster import ManagedCluster
from planungsdaten.db.engine import sqlalchemy_url

CHILD = r"""
import json, sys, time
from pathlib import Path
from pydantic import SecretStr
from planungsdaten.db.engine import make_engine
from planungsdaten.harvest.run import harvest
from planungsdaten.harvest.sources import FileProtocol, Format, Layer, SourceDefinition
from planungsdaten.settings import AppSettings, DatabaseSettings, HarvestSettings, Settings

url, gpkg, data_dir = sys.argv[1:4]
source = SourceDefinition(
    id="bench-parcels", title="Bench", publisher="bench",
    licence="http://dcat-ap.de/def/licenses/dl-by-de/2.0", attribution="bench", access="open",
    protocol=FileProtocol(type="file", path=Path(gpkg)), format=Format(type="gpkg"),
    layers=[Layer(layer="flurstueck", target="parcel", mapping={
        "flurstueckskennzeichen": "flstkennz", "ags": "gmdschl", "amtliche_flaeche": "flaeche",
        "gemarkung_name": "gemarkung", "location_text": "lagebeztxt"})],
)
settings = Settings(app=AppSettings(data_dir=Path(data_dir)),
                    database=DatabaseSettings(url=SecretStr(url)),
                    harvest=HarvestSettings())
engine = make_engine(settings.database)
start = time.perf_counter()
result = harvest(engine, source, settings, force=True)
seconds = time.perf_counter() - start
# VmHWM, not getrusage: Linux carries ru_maxrss over exec from the forking parent
status = Path("/proc/self/status").read_text()
peak_kib = int(next(l for l in status.splitlines() if l.startswith("VmHWM")).split()[1])
print(json.dumps({"seconds": seconds, "loaded": result.loaded, "rejected": result.rejected,
                  "peak_rss_mib": peak_kib / 1024}))
"""


def make_parcels(path: Path, n: int) -> None:
    """A GeoPackage of n valid, non-overlapping 24 m squares near Mücheln, in chunks."""
    side = 2000
    chunk = 250_000
    for start in range(0, n, chunk):
        i = np.arange(start, min(start + chunk, n))
        x = 600_000 + (i % side) * 25.0
        y = 5_650_000 + (i // side) * 25.0
        ring_x = np.stack([x, x + 24, x + 24, x, x], axis=1)
        ring_y = np.stack([y, y, y + 24, y + 24, y], axis=1)
        polygons = shapely.polygons(np.stack([ring_x, ring_y], axis=2))
        kennzeichen = pd.Series(i).map(
            lambda v: (
                f"15{4700 + v // 100_000:04d}{(v // 10_000) % 1000:03d}{v % 10_000 + 1:05d}______"
            )
        )
        frame = gpd.GeoDataFrame(
            {
                "flstkennz": kennzeichen,
                "gemarkung": "Mücheln",
                "gmdschl": "15088235",
                "lagebeztxt": "Hauptstraße " + pd.Series(i % 200 + 1).astype(str),
                "flaeche": 576.0,
            },
            geometry=polygons,
            crs="EPSG:25832",
        )
        pyogrio.write_dataframe(frame, path, layer="flurstueck", append=start > 0)


def ogr2ogr(url: str, gpkg: Path) -> float:
    u = make_url(url)
    pg = (
        f"PG:host={u.host} port={u.port} dbname={u.database} "
        f"user={u.username} password={u.password}"
    )
    start = time.perf_counter()
    subprocess.run(
        [
            "ogr2ogr",
            "-f",
            "PostgreSQL",
            pg,
            str(gpkg),
            "flurstueck",
            "-nln",
            "ogr_parcels",
            "-nlt",
            "PROMOTE_TO_MULTI",
            "-overwrite",
            "--config",
            "PG_USE_COPY",
            "YES",
        ],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def ours(url: str, gpkg: Path, data_dir: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, url, str(gpkg), str(data_dir)],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(f"our loader failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[250_000, 1_000_000])
    args = parser.parse_args()
    if shutil.which("ogr2ogr") is None:
        print("ogr2ogr not found: sudo apt-get install gdal-bin", file=sys.stderr)
        return 1
    root = Path(tempfile.mkdtemp(prefix="planungsdaten-bench-"))
    root.chmod(0o755)
    cluster = ManagedCluster(root / "pg", database="bench")
    rows = []
    try:
        with cluster.running() as url:
            engine = create_engine(sqlalchemy_url(url))
            from planungsdaten.db.migrate import upgrade

            upgrade(engine)
            for n in args.sizes:
                gpkg = root / f"parcels_{n}.gpkg"
                make_parcels(gpkg, n)
                mine = ours(url, gpkg, root / "data")
                assert mine["loaded"] == n and mine["rejected"] == 0, mine
                theirs = ogr2ogr(url, gpkg)
                with engine.connect() as conn:
                    count = conn.execute(text("SELECT count(*) FROM ogr_parcels")).scalar_one()
                assert count == n, count
                rows.append((n, mine, theirs))
                gpkg.unlink()
            engine.dispose()
    finally:
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)
    print("parcels    ours feat/s  ogr2ogr feat/s  ratio  our peak RSS")
    for n, mine, theirs in rows:
        ours_rate, their_rate = n / mine["seconds"], n / theirs
        print(
            f"{n:>9,}  {ours_rate:>12,.0f}  {their_rate:>14,.0f}  {ours_rate / their_rate:>5.2f}"
            f"  {mine['peak_rss_mib']:>8.0f} MiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
