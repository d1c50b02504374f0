"""Zensus grid load: 3,000,000 cells through the pipeline against a plain COPY of the same CSV.

Generates a Zensus-style CSV (`GITTER_ID_100m;x_mp_100m;y_mp_100m;Einwohner;
werterlaeuternde_Zeichen`, decimal comma, some suppressed '–' and KLAMMERN values) whose
cells all lie in Sachsen-Anhalt, loads it through the harvest pipeline (parse, validate,
COPY into a partition, build `grid_cell` squares in EPSG:25832, swap) in a child process
that reports its peak RSS, and, in the same run, with a plain `COPY … (FORMAT csv)` into a
bare table. Prints rows/s of both, the ratio and our peak RSS. Targets: under 60 s and
under 1 GB for 3 million cells.

Run: `make bench` or `.venv/bin/python bench/zensus_bench.py [--cells 3000000]`.
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

import numpy as np
import pandas as pd
import psycopg

from planungsdaten.db.cluster import ManagedCluster
from planungsdaten.db.engine import make_engine
from planungsdaten.db.migrate import upgrade
from planungsdaten.settings import DatabaseSettings

CHILD = r"""
import json, sys, time
from pathlib import Path
from pydantic import SecretStr
from planungsdaten.db.engine import make_engine
from planungsdaten.harvest.run import harvest
from planungsdaten.harvest.sources import load_source, FileProtocol
from planungsdaten.settings import AppSettings, DatabaseSettings, HarvestSettings, Settings

url, csv_path, definition, data_dir = sys.argv[1:5]
source = load_source(Path(definition)).model_copy(
    update={"id": "bench-zensus", "protocol": FileProtocol(type="file", path=Path(csv_path))})
settings = Settings(app=AppSettings(data_dir=Path(data_dir)),
                    database=DatabaseSettings(url=SecretStr(url)),
                    harvest=HarvestSettings(batch_size=100_000))
start = time.perf_counter()
result = harvest(make_engine(settings.database), source, settings, force=True)
seconds = time.perf_counter() - start
# VmHWM, not getrusage: Linux carries ru_maxrss over exec from the forking parent
status = Path("/proc/self/status").read_text()
peak_kib = int(next(l for l in status.splitlines() if l.startswith("VmHWM")).split()[1])
print(json.dumps({"seconds": seconds, "read": result.read, "loaded": result.loaded,
                  "rejected": result.rejected, "peak_rss_mib": peak_kib / 1024}))
"""

DEFINITION = Path(__file__).resolve().parents[1] / "harvesters/sample/zensus-bevoelkerung.yaml"


def make_grid_csv(path: Path, cells: int) -> None:
    """`cells` 100 m cells in a block inside Sachsen-Anhalt (EPSG:3035), in chunks."""
    columns = 1500  # 150 km wide: inside Sachsen-Anhalt's box
    rng = np.random.default_rng(4711)
    header = "GITTER_ID_100m;x_mp_100m;y_mp_100m;Einwohner;werterlaeuternde_Zeichen\n"
    path.write_text(header, encoding="utf-8")
    chunk = 500_000
    for start in range(0, cells, chunk):
        i = np.arange(start, min(start + chunk, cells))
        x = 4_400_000 + (i % columns) * 100
        y = 3_120_000 + (i // columns) * 100
        people = rng.integers(0, 120, len(i))
        value = np.where(people < 3, "–", people.astype(str))
        flag = np.where((people >= 3) & (people < 10), "KLAMMERN", "")
        frame = pd.DataFrame(
            {
                "id": "CRS3035RES100mN" + pd.Series(y).astype(str) + "E" + pd.Series(x).astype(str),
                "x": x + 50,
                "y": y + 50,
                "v": value,
                "f": flag,
            }
        )
        frame.to_csv(path, sep=";", header=False, index=False, mode="a")


def plain_copy(url: str, path: Path) -> float:
    start = time.perf_counter()
    with psycopg.connect(url) as conn:
        conn.execute(
            "CREATE TABLE bare_grid (gitter_id text, x_mp integer, y_mp integer, "
            "einwohner text, zeichen text)"
        )
        with (
            conn.cursor() as cur,
            cur.copy("COPY bare_grid FROM STDIN (FORMAT csv, DELIMITER ';', HEADER)") as copy,
            path.open("rb") as fh,
        ):
            while data := fh.read(1 << 20):
                copy.write(data)
    return time.perf_counter() - start


def ours(url: str, path: Path, data_dir: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, url, str(path), str(DEFINITION), str(data_dir)],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(f"our loader failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cells", type=int, default=3_000_000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="planungsdaten-bench-"))
    root.chmod(0o755)
    cluster = ManagedCluster(root / "pg", database="bench")
    try:
        csv_path = root / "Zensus2022_Bevoelkerungszahl_100m-Gitter.csv"
        make_grid_csv(csv_path, args.cells)
        with cluster.running() as url:
            from pydantic import SecretStr

            engine = make_engine(DatabaseSettings(url=SecretStr(url)))
            upgrade(engine)
            engine.dispose()
            mine = ours(url, csv_path, root / "data")
            theirs = plain_copy(url, csv_path)
    finally:
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)
    assert mine["read"] == args.cells and mine["rejected"] == 0, mine
    rate, base = args.cells / mine["seconds"], args.cells / theirs
    print(f"cells: {args.cells:,} (100 m, Sachsen-Anhalt)")
    print(
        f"planungsdaten harvest: {mine['seconds']:.1f} s, {rate:,.0f} rows/s, "
        f"peak RSS {mine['peak_rss_mib']:.0f} MiB (incl. grid_cell squares and indexes)"
    )
    print(f"plain COPY (bare table, no geometry, no index): {theirs:.1f} s, {base:,.0f} rows/s")
    print(f"ratio ours/plain COPY: {rate / base:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
