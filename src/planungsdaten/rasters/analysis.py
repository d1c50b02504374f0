"""Raster statistics over an area for the package indicators (terrain height, slope share).

Pure functions of a raster file and a polygon in the raster's CRS. They read the area's
window chunk by chunk (whole source blocks; chunks outside the area are skipped), so
memory stays flat whatever the size. A pixel counts when its centre lies inside the area
and it holds data (not the no-data value, not NaN), as in `planungsdaten.rasters.clip`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.io import DatasetReader
from rasterio.windows import Window
from shapely.geometry.base import BaseGeometry

from planungsdaten.rasters.clip import Chunk, area_window, chunks, is_nodata
from planungsdaten.rasters.store import CACHE_MB, open_raster

# Chunks are whole source blocks up to about this many rows and columns
CHUNK_ROWS = 512
CHUNK_COLS = 2048

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True)
class ZonalStats:
    """Statistics of the pixels inside an area that hold data; None when there are none."""

    count: int
    min: float | None
    max: float | None
    mean: float | None


def _gdal() -> rasterio.Env:
    """GDAL's block cache bounded; blocks of a chunk decompressed on all cores."""
    return rasterio.Env(GDAL_CACHEMAX=CACHE_MB, GDAL_NUM_THREADS="ALL_CPUS")


def _chunk_size(dataset: DatasetReader, band: int, chunk: int | None) -> tuple[int, int]:
    if chunk is not None:
        return chunk, chunk
    block_rows, block_cols = dataset.block_shapes[band - 1]
    rows = block_rows * (CHUNK_ROWS // block_rows) if block_rows <= CHUNK_ROWS else CHUNK_ROWS
    cols = block_cols * (CHUNK_COLS // block_cols) if block_cols <= CHUNK_COLS else CHUNK_COLS
    return rows, cols


def _chunks(
    dataset: DatasetReader, area: BaseGeometry, band: int, chunk: int | None
) -> Iterator[Chunk]:
    rows, cols = _chunk_size(dataset, band, chunk)
    return chunks(dataset, area, area_window(dataset, area), rows=rows, cols=cols)


def zonal_stats(
    source: Path, area: BaseGeometry, *, band: int = 1, chunk: int | None = None
) -> ZonalStats:
    """Count, minimum, maximum and mean of the pixels with data whose centre is inside the
    area (a Polygon/MultiPolygon in the raster's CRS).

    Raises `AreaOutsideRasterError` when the area holds no pixel centre of the raster;
    `chunk` (pixels) overrides the chunk size, for tests."""
    count, total = 0, 0.0
    low, high = math.inf, -math.inf
    with _gdal(), open_raster(source) as dataset:
        nodata = dataset.nodata
        for part in _chunks(dataset, area, band, chunk):
            data = dataset.read(band, window=part.window)
            values = data[part.mask() & ~is_nodata(data, nodata)]
            if values.size == 0:
                continue
            count += values.size
            total += float(values.sum(dtype=np.float64))
            low = min(low, float(values.min()))
            high = max(high, float(values.max()))
    if count == 0:
        return ZonalStats(count=0, min=None, max=None, mean=None)
    return ZonalStats(count=count, min=low, max=high, mean=total / count)


def _filled(elevation: FloatArray) -> FloatArray:
    """`elevation` with every missing neighbour of a pixel with data extrapolated (see
    `slope_percent`); only for pixels that lack neighbours, so the rest stays as it was."""
    missing = np.isnan(elevation)
    if not missing.any():
        return elevation
    rows, cols = elevation.shape[0] - 2, elevation.shape[1] - 2

    def view(array: FloatArray, dr: int, dc: int) -> FloatArray:
        return array[1 + dr : 1 + dr + rows, 1 + dc : 1 + dc + cols]

    centre = view(elevation, 0, 0)

    def extrapolated(dr: int, dc: int, fallback: FloatArray) -> FloatArray:
        value, opposite = view(elevation, dr, dc), view(elevation, -dr, -dc)
        through_centre = np.where(np.isnan(opposite), fallback, 2 * centre - opposite)
        return np.where(np.isnan(value), through_centre, value)

    # each pixel's own 3x3 window with the missing neighbours filled in: first across and
    # along, then the corners (by the plane through the centre and its two neighbours)
    windows = np.empty((3, 3, rows, cols))
    windows[1, 1] = centre
    for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        windows[1 + dr, 1 + dc] = extrapolated(dr, dc, centre)
    for dr in (-1, 1):
        for dc in (-1, 1):
            plane = windows[1 + dr, 1] + windows[1, 1 + dc] - centre
            windows[1 + dr, 1 + dc] = extrapolated(dr, dc, plane)
    return windows


def _gradient(elevation: FloatArray, x_size: float, y_size: float) -> tuple[FloatArray, FloatArray]:
    """Horn's dz/dx and dz/dy of the inner pixels of `elevation` (one-pixel halo)."""
    filled = _filled(elevation)
    if filled.ndim == 4:  # per-pixel windows: (3, 3, rows, cols)
        w = filled
        x_num = (w[0, 2] + 2 * w[1, 2] + w[2, 2]) - (w[0, 0] + 2 * w[1, 0] + w[2, 0])
        y_num = (w[2, 0] + 2 * w[2, 1] + w[2, 2]) - (w[0, 0] + 2 * w[0, 1] + w[0, 2])
    else:  # Horn's kernels are separable: [1, 2, 1] across, a difference along
        down = filled[:-2] + 2 * filled[1:-1] + filled[2:]
        across = filled[:, :-2] + 2 * filled[:, 1:-1] + filled[:, 2:]
        x_num = down[:, 2:] - down[:, :-2]
        y_num = across[2:] - across[:-2]
    return x_num / (8 * x_size), y_num / (8 * y_size)


def slope_percent(elevation: FloatArray, x_size: float, y_size: float) -> FloatArray:
    """Slope in percent rise (100 · tan) by Horn's method of the inner pixels of
    `elevation`, a float array with a one-pixel halo and NaN for missing pixels.

    A missing neighbour (beyond the raster's edge, no-data) is extrapolated through the
    centre from the opposite one (a one-sided difference); when that is missing too, a
    corner neighbour lies on the plane through the centre and its two neighbours beside
    it, one across or along takes the centre's height. Pixels without a height are NaN.
    A plane therefore has its slope up to the raster's edges and corners."""
    dz_dx, dz_dy = _gradient(elevation, x_size, y_size)
    slope: FloatArray = 100 * np.hypot(dz_dx, dz_dy)
    slope[np.isnan(elevation[1:-1, 1:-1])] = np.nan
    return slope


def _with_halo(dataset: DatasetReader, band: int, window: Window) -> FloatArray:
    """The window's heights and a one-pixel halo as float64, NaN outside the raster and
    for no-data."""
    row0, col0 = int(window.row_off) - 1, int(window.col_off) - 1
    rows, cols = int(window.height) + 2, int(window.width) + 2
    top, left = max(row0, 0), max(col0, 0)
    bottom, right = min(row0 + rows, dataset.height), min(col0 + cols, dataset.width)
    data = dataset.read(band, window=Window(left, top, right - left, bottom - top))
    heights = np.full((rows, cols), np.nan)
    part = heights[top - row0 : bottom - row0, left - col0 : right - col0]
    part[...] = data
    part[is_nodata(data, dataset.nodata)] = np.nan
    return heights


def slope_share(
    source: Path,
    area: BaseGeometry,
    threshold_percent: float,
    *,
    band: int = 1,
    chunk: int | None = None,
) -> float | None:
    """The share (0..1) of pixels with data inside the area whose slope (percent rise, Horn's
    method on the terrain heights, pixel size from the transform) exceeds the threshold.

    None when no pixel inside holds data; raises `AreaOutsideRasterError` when the area
    holds no pixel centre of the raster. Chunks read a one-pixel halo, so their seams do
    not show; at the raster's edge and next to no-data see `slope_percent`."""
    counted = steep = 0
    tan_squared = (threshold_percent / 100) ** 2 if threshold_percent >= 0 else -1.0
    with _gdal(), open_raster(source) as dataset:
        x_size, y_size = abs(dataset.transform.a), abs(dataset.transform.e)
        for part in _chunks(dataset, area, band, chunk):
            heights = _with_halo(dataset, band, part.window)
            dz_dx, dz_dy = _gradient(heights, x_size, y_size)
            inside = part.mask() & ~np.isnan(heights[1:-1, 1:-1])
            # tan² against the threshold's: no square root per pixel
            steeper = dz_dx * dz_dx + dz_dy * dz_dy > tan_squared
            counted += int(np.count_nonzero(inside))
            steep += int(np.count_nonzero(inside & steeper))
    return steep / counted if counted else None
