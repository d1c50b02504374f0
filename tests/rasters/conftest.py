"""Small GeoTIFFs written with rasterio, and raster source definitions reading them."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import rasterio.shutil
from pyproj import Transformer
from rasterio.transform import from_origin

from planungsdaten.harvest.sources import SourceDefinition, load_source
from tests.harvest.conftest import http_server  # noqa: F401 (the local HTTP server fixture)

# near Mücheln (Geiseltal), in EPSG:25832
ORIGIN = (694_000.0, 5_688_000.0)
RES = 10.0
WIDTH, HEIGHT = 300, 200

DEFINITION = """\
id: {id}
title: Digitales Geländemodell (Test)
description: Geländehöhen eines Testgebiets bei Mücheln.
publisher: Test
licence: http://dcat-ap.de/def/licenses/dl-by-de/2.0
attribution: "© GeoBasis-DE / LVermGeo ST"
access: {access}
protocol: {protocol}
format: {format}
{crs}raster:
  layer: {layer}
  bands:
{bands}{extra}target: raster
"""
BAND = """\
    - name: {name}
      description: Geländehöhe über NHN (DHHN2016)
      unit: m
"""


def height_at(x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """A smooth, non-trivial surface (metres) of EPSG:25832 coordinates: linear
    interpolation between cells reproduces it closely."""
    return (
        100.0 + (x - ORIGIN[0]) * 0.01 + (y - ORIGIN[1]) * 0.02 + 5 * np.sin((x - ORIGIN[0]) / 500)
    )


def write_geotiff(
    path: Path,
    *,
    crs: str | None = "EPSG:25832",
    origin: tuple[float, float] = ORIGIN,
    res: float = RES,
    width: int = WIDTH,
    height: int = HEIGHT,
    dtype: str = "float32",
    nodata: float | None = -9999.0,
    count: int = 1,
    values: np.ndarray[Any, Any] | None = None,
    cog: bool = False,
) -> Path:
    """A GeoTIFF whose cells hold `height_at` of their centre (in EPSG:25832, whatever
    the file's CRS), or `values`; a COG if `cog`. The last row is no-data, if given."""
    transform = from_origin(origin[0], origin[1], res, res)
    if values is None:
        cols, rows = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
        x, y = origin[0] + cols * res, origin[1] - rows * res
        if crs not in (None, "EPSG:25832"):
            x, y = Transformer.from_crs(crs, "EPSG:25832", always_xy=True).transform(x, y)
        band = height_at(x, y).astype(dtype)
        if nodata is not None:
            band[-1, :] = nodata
        values = np.stack([band + i for i in range(count)])
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": count,
        "dtype": dtype,
        "transform": transform,
        "nodata": nodata,
        "tiled": True,
        "blockxsize": 128,
        "blockysize": 128,
        "compress": "deflate",
    }
    if crs is not None:
        profile["crs"] = crs
    target = path.with_suffix(".plain.tif") if cog else path
    with rasterio.open(target, "w", **profile) as out:
        out.write(values)
    if cog:
        rasterio.shutil.copy(target, path, driver="COG", BLOCKSIZE=256, COMPRESS="DEFLATE")
        target.unlink()
    return path


def zipped(path: Path, member: str) -> Path:
    """`path` packed into a ZIP as `member` (with a readme beside it)."""
    archive = path.with_suffix(".zip")
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(path, member)
        zf.writestr("liesmich.txt", "Digitales Geländemodell, Testdaten")
    return archive


def raster_definition(
    folder: Path,
    file: Path | str | None = None,
    *,
    source_id: str = "test-dgm",
    layer: str = "gelaende",
    url: str | None = None,
    member: str | None = None,
    crs: str | None = None,
    bands: int = 1,
    access: str = "open",
    extra: str = "",
) -> SourceDefinition:
    """A raster definition written to `folder` and loaded as the harvester would."""
    if url is not None:
        protocol = f"{{type: http, url: '{url}'}}"
    else:
        protocol = f"{{type: file, path: '{file}'}}"
    fmt = "{type: geotiff" + (f", member: '{member}'" if member else "") + "}"
    text = DEFINITION.format(
        id=source_id,
        access=access,
        protocol=protocol,
        format=fmt,
        crs=f"crs: {crs}\n" if crs else "",
        layer=layer,
        bands="".join(BAND.format(name=f"hoehe{i or ''}") for i in range(bands)),
        extra=extra,
    )
    path = folder / f"{source_id}.yaml"
    path.write_text(text, encoding="utf-8")
    return load_source(path)


@pytest.fixture
def dgm(tmp_path: Path) -> Path:
    """A small terrain model (float32, EPSG:25832, 10 m, nodata -9999)."""
    return write_geotiff(tmp_path / "dgm.tif")
