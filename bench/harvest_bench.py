"""Harvest of the real VG250 extract (10,990 polygons) against a baseline in the same run.

Baseline: `ogr2ogr -f PostgreSQL` (GDAL's own loader, Debian `gdal-bin`) when installed,
otherwise geopandas `to_postgis` (GeoAlchemy2, INSERT). Prints wall time of each and the
ratio ours/baseline, plus our peak RSS growth. Run: `make bench` or
`.venv/bin/python bench/harvest_bench.py [--repeat N]`.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import make_url

from planungsdaten.db.cluster import ManagedCluster
from planungsdaten.db.engine import make_engine
from planungsdaten.db.migrate import upgrade
from planungsdaten.harvest.run import harvest
from planungsdaten.harvest.sources import FileProtocol, SourceDefinition, VectorFormat
from planungsdaten.settings import PROJECT_DIR, AppSettings, DatabaseSettings, Settings

FIXTURE = PROJECT_DIR.parent / "shared/fixtures/real/vg250/VG250_GEM_simplified_2022.zip"


def _source() -> SourceDefinition:
    return SourceDefinition(
        id="bench-vg250",
        title="VG250",
        publisher="BKG",
        licence="http://dcat-ap.de/def/licenses/dl-by-de/2.0",
        attribution="© GeoBasis-DE / BKG (2022)",
        access="open",
        protocol=FileProtocol(type="file", path=FIXTURE),
        format=VectorFormat(type="shapefile"),
        target="municipality",
        mapping={"ars": "ARS"},
    )


def _ogr2ogr(url: str) -> None:
    u = make_url(url)
    pg = (
        f"PG:host={u.host} port={u.port} dbname={u.database} "
        f"user={u.username} password={u.password}"
    )
    subprocess.run(
        [
            "ogr2ogr",
            "-f",
            "PostgreSQL",
            pg,
            f"/vsizip/{FIXTURE}",
            "-nln",
            "baseline_vg250",
            "-nlt",
            "PROMOTE_TO_MULTI",
            "-t_srs",
            "EPSG:25832",
            "-overwrite",
            "--config",
            "PG_USE_COPY",
            "YES",
        ],
        check=True,
        capture_output=True,
    )


def _geopandas(url: str) -> None:
    engine = make_engine(DatabaseSettings(url=SecretStr(url)))
    frame = gpd.read_file(FIXTURE).to_crs(25832)
    frame.to_postgis("baseline_vg250", engine, if_exists="replace", chunksize=5000)
    engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not FIXTURE.exists():
        print(f"fixture missing: {FIXTURE}", file=sys.stderr)
        return 1
    root = Path(tempfile.mkdtemp(prefix="planungsdaten-bench-"))
    root.chmod(0o755)
    cluster = ManagedCluster(root / "pg", database="bench")
    try:
        with cluster.running() as url:
            settings = Settings(
                app=AppSettings(data_dir=root / "data"),
                database=DatabaseSettings(url=SecretStr(url)),
            )
            engine = make_engine(settings.database)
            upgrade(engine)
            baseline_name, baseline = (
                ("ogr2ogr -f PostgreSQL", _ogr2ogr)
                if shutil.which("ogr2ogr")
                else ("geopandas.to_postgis", _geopandas)
            )
            ours, theirs = [], []
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            for _ in range(args.repeat):
                start = time.perf_counter()
                result = harvest(engine, _source(), settings, force=True)
                ours.append(time.perf_counter() - start)
                assert result.loaded == 10_990, result
                start = time.perf_counter()
                baseline(url)
                theirs.append(time.perf_counter() - start)
            rss_growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
            with engine.connect() as conn:
                n = conn.execute(text("SELECT count(*) FROM baseline_vg250")).scalar_one()
            assert n == 10_990, n
            engine.dispose()
    finally:
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)
    best_ours, best_theirs = min(ours), min(theirs)
    print(f"features: 10990 (VG250 GEM, zipped Shapefile), best of {args.repeat}")
    print(
        f"planungsdaten harvest: {best_ours:.2f} s (incl. validation, staging, swap, bookkeeping)"
    )
    print(f"baseline {baseline_name}: {best_theirs:.2f} s")
    print(f"ratio ours/baseline: {best_ours / best_theirs:.2f}")
    print(f"peak RSS growth during the runs: {rss_growth_mb:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
