"""Clipping a terrain raster to a municipality: our `clip_to_area` against gdalwarp in the same run.

Generates a 20,000 x 20,000 float32 terrain model (EPSG:25832, 2 m pixels south-west of
Halle, smooth synthetic hills at cm precision, written strip by strip as a tiled 512 +
DEFLATE GeoTIFF: never the whole array in memory) and an irregular municipality-like
polygon (6,000 vertices, an enclave, about 55 % of the raster), then clips the raster to
the polygon, each measured in its own child process (wall time, CPU time, peak RSS):

- ours: `planungsdaten.rasters.clip.clip_to_area` (the child reports its own VmHWM);
- gdal: the same with Debian's `gdal-bin` in the fastest way we found, the same steps as
  ours: `gdalwarp -cutline -crop_to_cutline` to an uncompressed tiled GeoTIFF, `gdaladdo
  -r average`, `gdal_translate -of COG`, with the same COG options (DEFLATE, floating-point
  predictor, 512 tiles, average overviews, all cores, the same GDAL block cache);
- gdalwarp -of COG: `gdalwarp -cutline -crop_to_cutline -of COG` in one step with the same
  options, run once only (GDAL 3.6 warps every 512-pixel block separately, twice: about
  11 minutes here); `--skip-direct` leaves it out.

Peak RSS of the gdal-bin processes is their VmHWM, polled every 20 ms (`ru_maxrss` of a
child counts its parent's memory from before exec). Every output is checked against ours
block by block: the same grid (pixel size, transform offset by whole pixels), equal values
where both have data, valid pixel counts within 0.1 % (the cutline's edge rules may
differ). Then, informational, `planungsdaten.rasters.store.to_cog` (the stored COG form)
against `gdal_translate -of COG` with its options, and `zonal_stats` / `slope_share` over
the polygon. Targets: ours within 1.5x of the faster gdal route's wall time, our peak RSS
under 1 GB, outputs agreeing; exit code 1 when one is missed.

Run: `make bench` or `.venv/bin/python bench/raster_bench.py [--size 20000] [--repeat 2]
[--keep DIR] [--skip-direct] [--skip-store]`; `--keep DIR` keeps the generated raster in
DIR and reuses it (about 40 s to generate, 170 MB). Quick check: `--size 5000 --skip-direct`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import shapely
from rasterio.transform import from_origin
from rasterio.windows import Window
from shapely.geometry import Polygon, mapping

from planungsdaten.rasters.clip import overview_factors
from planungsdaten.rasters.store import CACHE_MB, cog_options

# top-left corner: between Merseburg and Mücheln (Geiseltal), EPSG:25832
ORIGIN = (680_000.0, 5_700_000.0)
NODATA = -9999.0
TILE = 512
VALID_TOLERANCE = 0.001
TARGET_RATIO = 1.5
TARGET_RSS_MIB = 1024

CLIP_CHILD = r"""
import json, sys, time
from pathlib import Path
import shapely
from planungsdaten.rasters.clip import clip_to_area
source, area_wkb, target = sys.argv[1:4]
area = shapely.from_wkb(Path(area_wkb).read_bytes())
start = time.perf_counter()
result = clip_to_area(Path(source), area, Path(target))
seconds = time.perf_counter() - start
status = Path("/proc/self/status").read_text()
peak_kib = int(next(l for l in status.splitlines() if l.startswith("VmHWM")).split()[1])
print(json.dumps({"seconds": seconds, "peak_rss_mib": peak_kib / 1024,
                  "valid_pixels": result.valid_pixels}))
"""

STORE_CHILD = r"""
import json, sys, time
from pathlib import Path
from planungsdaten.rasters.store import to_cog
source, target = sys.argv[1:3]
start = time.perf_counter()
to_cog(Path(source), Path(target), crs=None, nodata=None, resolution_m=None,
       resampling="bilinear")
seconds = time.perf_counter() - start
status = Path("/proc/self/status").read_text()
peak_kib = int(next(l for l in status.splitlines() if l.startswith("VmHWM")).split()[1])
print(json.dumps({"seconds": seconds, "peak_rss_mib": peak_kib / 1024}))
"""

ANALYSIS_CHILD = r"""
import json, sys, time
from pathlib import Path
import shapely
from planungsdaten.rasters.analysis import slope_share, zonal_stats
source, area_wkb = sys.argv[1:3]
area = shapely.from_wkb(Path(area_wkb).read_bytes())
start = time.perf_counter()
stats = zonal_stats(Path(source), area)
middle = time.perf_counter()
share = slope_share(Path(source), area, 5.0)
end = time.perf_counter()
status = Path("/proc/self/status").read_text()
peak_kib = int(next(l for l in status.splitlines() if l.startswith("VmHWM")).split()[1])
print(json.dumps({"zonal_s": middle - start, "slope_s": end - middle, "count": stats.count,
                  "mean": stats.mean, "max": stats.max, "share": share,
                  "peak_rss_mib": peak_kib / 1024}))
"""


@dataclass
class Run:
    """One measured child process (or a chain of them): wall and CPU seconds, peak RSS."""

    seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    report: dict[str, Any]


def _vm_hwm_kib(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1])
    return 0


def measured(command: list[str], log: Path) -> Run:
    """Run a command, polling its VmHWM; its wall and CPU time from `os.wait4`."""
    with log.open("w") as out:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        peak = 0
        while True:
            peak = max(peak, _vm_hwm_kib(process.pid))
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.02)
        seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text()
    if process.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({process.returncode}):\n{text[-3000:]}")
    report: dict[str, Any] = {}
    lines = text.strip().splitlines()
    if lines and lines[-1].startswith("{"):
        report = json.loads(lines[-1])
    peak_mib = max(peak / 1024, float(report.get("peak_rss_mib", 0.0)))
    return Run(seconds, usage.ru_utime + usage.ru_stime, peak_mib, report)


def chained(runs: list[Run]) -> Run:
    """Steps run one after the other: times add up, memory is the largest step's."""
    return Run(
        sum(r.seconds for r in runs),
        sum(r.cpu_seconds for r in runs),
        max(r.peak_rss_mib for r in runs),
        {},
    )


def best(runs: list[Run]) -> Run:
    return min(runs, key=lambda r: r.seconds)


# --- data ------------------------------------------------------------------------------------


def make_terrain(path: Path, size: int, pixel: float) -> None:
    """A size x size float32 terrain model at cm precision, written strip by strip."""
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:25832",
        "transform": from_origin(*ORIGIN, pixel, pixel),
        "nodata": NODATA,
        "tiled": True,
        "blockxsize": TILE,
        "blockysize": TILE,
        "compress": "deflate",
        "predictor": 3,
        "num_threads": "all_cpus",
        "bigtiff": "if_safer",
    }
    rng = np.random.default_rng(25832)
    extent = size * pixel
    # (x, y, height, radius) in metres from the corner
    ranges = ((0, extent), (0, extent), (20, 90), (300, 2500))
    hills = [tuple(rng.uniform(low, high) for low, high in ranges) for _ in range(25)]
    xs = (np.arange(size) + 0.5) * pixel
    partial = path.with_suffix(".partial.tif")
    with rasterio.Env(GDAL_CACHEMAX=CACHE_MB), rasterio.open(partial, "w", **profile) as out:
        for row in range(0, size, TILE):
            rows = min(TILE, size - row)
            ys = ((np.arange(row, row + rows) + 0.5) * pixel)[:, None]
            x = xs[None, :]
            z = (
                110
                + 35 * np.sin(x / 3100) * np.cos(ys / 4300)
                + 10 * np.sin((x + ys) / 950)
                + 3 * np.sin(x / 230) * np.cos(ys / 310)
            )
            for hx, hy, height, radius in hills:
                dy2 = ((ys - hy) / radius) ** 2
                if dy2.min() < 25:
                    z = z + height * np.exp(-(((x - hx) / radius) ** 2) - dy2)
            out.write(np.round(z, 2).astype("float32"), 1, window=Window(0, row, size, rows))
    partial.rename(path)


def make_area(size: int, pixel: float) -> Polygon:
    """An irregular municipality-like polygon with 6,000 vertices and an enclave."""
    extent = size * pixel
    cx, cy = ORIGIN[0] + extent / 2, ORIGIN[1] - extent / 2
    rng = np.random.default_rng(15088)
    n = 6000
    angle = np.linspace(0, 2 * np.pi, n, endpoint=False)
    radius = (
        extent
        * 0.42
        * (1 + 0.12 * np.sin(3 * angle + 0.4) + 0.07 * np.sin(7 * angle + 1.3))
        * (1 + 0.03 * np.sin(23 * angle) + rng.normal(0, 0.003, n))
    )
    shell = np.column_stack([cx + radius * np.cos(angle), cy + radius * np.sin(angle)])
    hole = shapely.Point(cx + extent * 0.12, cy - extent * 0.08).buffer(extent * 0.04, 64)
    area = shapely.make_valid(Polygon(shell, [hole.exterior.coords]))
    assert isinstance(area, Polygon), area.geom_type
    return area


def write_area(area: Polygon, folder: Path) -> tuple[Path, Path]:
    """The area as WKB (for our child) and as GeoJSON with its CRS named (for gdalwarp)."""
    wkb = folder / "area.wkb"
    wkb.write_bytes(shapely.to_wkb(area))
    geojson = folder / "area.geojson"
    collection = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::25832"}},
        "features": [{"type": "Feature", "properties": {}, "geometry": mapping(area)}],
    }
    geojson.write_text(json.dumps(collection))
    return wkb, geojson


# --- the runs --------------------------------------------------------------------------------


def gdal_cog_options(options: dict[str, Any]) -> list[str]:
    return [arg for key, value in options.items() for arg in ("-co", f"{key}={value}")]


# the same block cache and threads as ours
GDAL_CONFIG = ["--config", "GDAL_CACHEMAX", str(CACHE_MB)]
GDAL_CONFIG += ["--config", "GDAL_NUM_THREADS", "ALL_CPUS"]


def run_ours(source: Path, area_wkb: Path, target: Path) -> Run:
    target.unlink(missing_ok=True)
    return measured(
        [sys.executable, "-c", CLIP_CHILD, str(source), str(area_wkb), str(target)],
        target.with_suffix(".log"),
    )


def run_gdal_steps(source: Path, cutline: Path, target: Path, factors: list[int]) -> Run:
    """gdalwarp to an uncompressed tiled GeoTIFF, gdaladdo, gdal_translate -of COG."""
    work = target.with_suffix(".work.tif")
    target.unlink(missing_ok=True)
    work.unlink(missing_ok=True)
    log = target.with_suffix(".log")
    warp = measured(
        ["gdalwarp", "-q", "-cutline", str(cutline), "-crop_to_cutline", "-of", "GTiff",
         "-co", "TILED=YES", "-co", f"BLOCKXSIZE={TILE}", "-co", f"BLOCKYSIZE={TILE}",
         "-co", "SPARSE_OK=TRUE", "-co", "BIGTIFF=IF_NEEDED", "-multi",
         "-wo", "NUM_THREADS=ALL_CPUS", *GDAL_CONFIG, str(source), str(work)],
        log,
    )  # fmt: skip
    addo = measured(
        ["gdaladdo", "-q", "-r", "average", *GDAL_CONFIG, str(work), *map(str, factors)], log
    )
    options = cog_options("float32", "average")
    translate = measured(
        ["gdal_translate", "-q", "-of", "COG", *gdal_cog_options(options), *GDAL_CONFIG,
         str(work), str(target)],
        log,
    )  # fmt: skip
    work.unlink()
    return chained([warp, addo, translate])


def run_gdalwarp_cog(source: Path, cutline: Path, target: Path) -> Run:
    """gdalwarp -of COG in one step."""
    target.unlink(missing_ok=True)
    options = cog_options("float32", "average")
    return measured(
        ["gdalwarp", "-q", "-cutline", str(cutline), "-crop_to_cutline", "-of", "COG",
         *gdal_cog_options(options), "-multi", "-wo", "NUM_THREADS=ALL_CPUS", *GDAL_CONFIG,
         str(source), str(target)],
        target.with_suffix(".log"),
    )  # fmt: skip


def run_store(source: Path, target: Path) -> Run:
    target.unlink(missing_ok=True)
    return measured(
        [sys.executable, "-c", STORE_CHILD, str(source), str(target)], target.with_suffix(".log")
    )


def run_translate(source: Path, target: Path) -> Run:
    target.unlink(missing_ok=True)
    options = cog_options("float32", "bilinear")
    return measured(
        ["gdal_translate", "-q", "-of", "COG", *gdal_cog_options(options), *GDAL_CONFIG,
         str(source), str(target)],
        target.with_suffix(".log"),
    )  # fmt: skip


# --- agreement -------------------------------------------------------------------------------


@dataclass
class Agreement:
    ours_shape: tuple[int, int]
    theirs_shape: tuple[int, int]
    offset: tuple[float, float]  # their origin minus ours, in pixels (col, row)
    ours_valid: int
    theirs_valid: int
    both_valid: int
    differing: int
    cog: bool

    @property
    def valid_difference(self) -> float:
        return abs(self.ours_valid - self.theirs_valid) / max(self.ours_valid, 1)

    @property
    def ok(self) -> bool:
        whole = all(float(v).is_integer() for v in self.offset)
        return (
            whole and self.cog and self.differing == 0 and self.valid_difference <= VALID_TOLERANCE
        )


def _valid_count(dataset: Any) -> int:
    count = 0
    for _, window in dataset.block_windows(1):
        data = dataset.read(1, window=window)
        count += int(np.count_nonzero(data != dataset.nodata))
    return count


def agreement(ours: Path, theirs: Path) -> Agreement:
    """Compare two clipped rasters on the same grid, strip by strip."""
    with rasterio.Env(GDAL_CACHEMAX=CACHE_MB), rasterio.open(ours) as a, rasterio.open(theirs) as b:
        assert (a.res, a.crs) == (b.res, b.crs), (a.res, b.res, a.crs, b.crs)
        col, row = ~a.transform @ (b.transform.c, b.transform.f)
        offset = (round(col, 6), round(row, 6))
        c0, r0 = round(col), round(row)
        # the overlap, in a's pixels
        left, top = max(0, c0), max(0, r0)
        right, bottom = min(a.width, c0 + b.width), min(a.height, r0 + b.height)
        both = differing = 0
        for strip in range(top, bottom, TILE):
            rows = min(TILE, bottom - strip)
            da = a.read(1, window=Window(left, strip, right - left, rows))
            db = b.read(1, window=Window(left - c0, strip - r0, right - left, rows))
            valid = (da != a.nodata) & (db != b.nodata)
            both += int(np.count_nonzero(valid))
            differing += int(np.count_nonzero(valid & (da != db)))
        return Agreement(
            ours_shape=(a.height, a.width),
            theirs_shape=(b.height, b.width),
            offset=offset,
            ours_valid=_valid_count(a),
            theirs_valid=_valid_count(b),
            both_valid=both,
            differing=differing,
            cog=b.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
            and a.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG",
        )


# --- main ------------------------------------------------------------------------------------


def line(label: str, run: Run) -> str:
    return (
        f"{label:<28} {run.seconds:>8.1f} s {run.cpu_seconds:>8.1f} s {run.peak_rss_mib:>8.0f} MiB"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=20_000, help="raster width and height")
    parser.add_argument("--pixel", type=float, default=2.0, help="pixel size in metres")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each; the best counts")
    parser.add_argument("--keep", type=Path, help="keep the generated raster here, reuse it")
    parser.add_argument("--skip-direct", action="store_true", help="no gdalwarp -of COG")
    parser.add_argument("--skip-store", action="store_true", help="no to_cog measurement")
    args = parser.parse_args()
    for tool in ("gdalwarp", "gdaladdo", "gdal_translate"):
        if shutil.which(tool) is None:
            print(f"{tool} not found: sudo apt-get install gdal-bin", file=sys.stderr)
            return 1
    version = subprocess.run(["gdalinfo", "--version"], capture_output=True, text=True).stdout
    root = Path(tempfile.mkdtemp(prefix="planungsdaten-raster-bench-"))
    try:
        data = args.keep or root
        data.mkdir(parents=True, exist_ok=True)
        source = data / f"terrain_{args.size}_{args.pixel:g}m.tif"
        if not source.exists():
            print(f"generating {source.name} ({args.size:,} x {args.size:,} float32) …")
            start = time.perf_counter()
            make_terrain(source, args.size, args.pixel)
            print(f"  {time.perf_counter() - start:.0f} s, {source.stat().st_size / 2**20:.0f} MiB")
        area = make_area(args.size, args.pixel)
        area_wkb, cutline = write_area(area, root)
        with open(source, "rb") as f:  # into the page cache: no run pays for the first read
            while f.read(1 << 24):
                pass
        print(
            f"area: {shapely.get_num_coordinates(area):,} vertices, "
            f"{area.area / (args.size * args.pixel) ** 2:.0%} of the raster; "
            f"gdal-bin: {version.strip()}, ours: GDAL {rasterio.__gdal_version__}"
        )
        ours_tif, gdal_tif, direct_tif = root / "ours.tif", root / "gdal.tif", root / "direct.tif"
        ours_runs: list[Run] = []
        gdal_runs: list[Run] = []
        factors: list[int] = []
        for i in range(args.repeat):
            ours_runs.append(run_ours(source, area_wkb, ours_tif))
            if not factors:
                with rasterio.open(ours_tif) as clipped:
                    factors = overview_factors(clipped.width, clipped.height)
            gdal_runs.append(run_gdal_steps(source, cutline, gdal_tif, factors))
            print(
                f"  run {i + 1}: ours {ours_runs[-1].seconds:.1f} s, "
                f"gdal {gdal_runs[-1].seconds:.1f} s"
            )
        direct = None
        if not args.skip_direct:
            print("  gdalwarp -of COG (once) …")
            direct = run_gdalwarp_cog(source, cutline, direct_tif)
        mine, theirs = best(ours_runs), best(gdal_runs)
        checks = [("gdal steps", agreement(ours_tif, gdal_tif))]
        if direct is not None:
            checks.append(("gdalwarp -of COG", agreement(ours_tif, direct_tif)))

        store_rows: list[tuple[str, Run]] = []
        if not args.skip_store:
            stored, translated = root / "stored.tif", root / "translated.tif"
            store_runs = [run_store(source, stored) for _ in range(args.repeat)]
            translate_runs = [run_translate(source, translated) for _ in range(args.repeat)]
            store_rows = [
                ("ours: store.to_cog", best(store_runs)),
                ("gdal_translate -of COG", best(translate_runs)),
            ]
        analysis = measured(
            [sys.executable, "-c", ANALYSIS_CHILD, str(source), str(area_wkb)],
            root / "analysis.log",
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print(f"\nclip {args.size:,} x {args.size:,} float32 to the area (best of {args.repeat})")
    print(f"{'':<28} {'wall':>10} {'CPU':>10} {'peak RSS':>12}")
    print(line("ours: clip_to_area", mine))
    print(line("gdalwarp+gdaladdo+translate", theirs))
    if direct is not None:
        print(line("gdalwarp -of COG (1 run)", direct))
    fastest = min([theirs] + ([direct] if direct is not None else []), key=lambda r: r.seconds)
    ratio = mine.seconds / fastest.seconds
    cpu_ratio = mine.cpu_seconds / fastest.cpu_seconds
    print(f"ratio ours/fastest gdal: wall {ratio:.2f}, CPU {cpu_ratio:.2f}")
    if direct is not None:
        print(f"ratio ours/gdalwarp -of COG: wall {mine.seconds / direct.seconds:.3f}")

    print("\nagreement with ours")
    for label, check in checks:
        print(
            f"  {label}: {check.theirs_shape[1]} x {check.theirs_shape[0]} "
            f"(ours {check.ours_shape[1]} x {check.ours_shape[0]}), origin offset "
            f"{check.offset[0]:g}, {check.offset[1]:g} px; valid pixels {check.theirs_valid:,} "
            f"(ours {check.ours_valid:,}, {check.valid_difference:.4%} apart); "
            f"{check.differing:,} of {check.both_valid:,} differ where both valid; "
            f"{'COG' if check.cog else 'not a COG'} -> {'ok' if check.ok else 'MISMATCH'}"
        )
    if store_rows:
        print(f"\nconvert the whole raster to the stored COG form (best of {args.repeat})")
        for label, run in store_rows:
            print(line(label, run))
        store_ratio = store_rows[0][1].seconds / store_rows[1][1].seconds
        print(f"ratio to_cog/gdal_translate: wall {store_ratio:.2f}")
    report = analysis.report
    print(
        f"\nanalysis over the area: zonal_stats {report['zonal_s']:.1f} s (mean "
        f"{report['mean']:.2f} m, max {report['max']:.2f} m of {report['count']:,} pixels), "
        f"slope_share > 5 % {report['slope_s']:.1f} s (share {report['share']:.3f}); "
        f"peak RSS {analysis.peak_rss_mib:.0f} MiB"
    )

    targets = [
        (f"clip wall time within {TARGET_RATIO}x of gdal", ratio <= TARGET_RATIO),
        (f"clip peak RSS under {TARGET_RSS_MIB} MiB", mine.peak_rss_mib < TARGET_RSS_MIB),
        ("outputs agree", all(check.ok for _, check in checks)),
    ]
    print("\ntargets")
    for label, met in targets:
        print(f"  {'met   ' if met else 'MISSED'} {label}")
    return 0 if all(met for _, met in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
