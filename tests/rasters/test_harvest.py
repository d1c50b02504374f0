"""Raster sources harvested: the COG lands beside the previous version's, registered in the
transaction that makes it current; an unchanged file is skipped; a failed harvest (corrupt,
truncated, wrong or missing CRS, outside Sachsen-Anhalt, wrong band count) records a failed
run with a German message and changes nothing served."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from sqlalchemy import Engine, text

from planungsdaten.checksums import sha256_file
from planungsdaten.harvest.errors import ConflictError, HarvestError
from planungsdaten.harvest.run import harvest
from planungsdaten.harvest.sources import SourceDefinition
from planungsdaten.rasters import store
from planungsdaten.rasters.store import current_rasters
from planungsdaten.settings import Settings
from tests.harvest.conftest import LocalServer, Reply
from tests.rasters.conftest import (
    HEIGHT,
    ORIGIN,
    RES,
    WIDTH,
    raster_definition,
    write_geotiff,
    zipped,
)
from tests.rasters.test_store import assert_cog


def _files(settings: Settings, source_id: str = "test-dgm") -> list[str]:
    folder = settings.rasters_dir / source_id
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _versions(engine: Engine, source_id: str = "test-dgm") -> dict[int, str]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, status FROM dataset_version WHERE source_id = :s ORDER BY id"),
            {"s": source_id},
        )
        return {int(r.id): r.status for r in rows}


def _last_run(engine: Engine) -> tuple[str, str | None, int, int]:
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT status, message, records_read, records_loaded FROM harvest_run "
                "ORDER BY id DESC LIMIT 1"
            )
        ).one()
    return row.status, row.message, row.records_read, row.records_loaded


def test_harvest_stores_and_registers_a_cog(
    engine: Engine, settings: Settings, dgm: Path, tmp_path: Path
) -> None:
    source = raster_definition(tmp_path, dgm, crs="EPSG:25832", extra="  nodata: -9999\n")
    result = harvest(engine, source, settings)
    assert result.status == "succeeded", result.message
    # a raster is one record: read and loaded
    assert (result.read, result.loaded, result.rejected, result.skipped) == (1, 1, 0, 0)
    version = result.version_ids[0]
    path = settings.rasters_dir / "test-dgm" / f"{version}.tif"
    assert _files(settings) == [f"{version}.tif"]
    assert_cog(path)
    with rasterio.open(dgm) as src, rasterio.open(path) as cog:
        assert np.array_equal(cog.read(1), src.read(1))
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT r.*, ST_AsText(r.footprint) AS wkt, ST_AsText(v.extent) AS extent, "
                "v.status, v.target_table, v.layer AS version_layer, v.feature_count "
                "FROM raster_version r JOIN dataset_version v ON v.id = r.dataset_version_id"
            )
        ).one()
        layers = current_rasters(conn, settings.rasters_dir)
    assert (row.status, row.target_table, row.version_layer) == ("current", "raster", "gelaende")
    assert row.feature_count is None
    assert (row.layer, row.path) == ("gelaende", f"test-dgm/{version}.tif")
    assert (row.width, row.height, row.resolution_m) == (WIDTH, HEIGHT, RES)
    assert (row.nodata, row.dtype) == (-9999, "float32")
    assert row.bands == [
        {"name": "hoehe", "description": "Geländehöhe über NHN (DHHN2016)", "unit": "m"}
    ]
    assert (row.size_bytes, row.sha256) == (path.stat().st_size, sha256_file(path))
    expected = shapely.box(ORIGIN[0], ORIGIN[1] - HEIGHT * RES, ORIGIN[0] + WIDTH * RES, ORIGIN[1])
    assert shapely.from_wkt(row.wkt).equals(expected)
    assert shapely.from_wkt(row.extent).equals(expected)

    [layer] = layers
    assert (layer.source_id, layer.layer, layer.version_id) == ("test-dgm", "gelaende", version)
    assert layer.path == path and layer.path.is_absolute()
    assert layer.footprint.equals(expected)
    assert (layer.access, layer.licence) == ("open", source.licence)
    assert layer.title == source.title and layer.attribution == source.attribution
    assert layer.bands[0]["unit"] == "m"
    assert layer.published_at is not None


def test_unchanged_raster_is_skipped(
    engine: Engine, settings: Settings, dgm: Path, tmp_path: Path
) -> None:
    source = raster_definition(tmp_path, dgm)
    first = harvest(engine, source, settings)
    again = harvest(engine, source, settings)
    assert again.status == "unchanged"
    assert again.version_ids == first.version_ids
    assert _files(settings) == [f"{first.version_ids[0]}.tif"]
    # a changed definition converts the same file anew
    resampled = raster_definition(tmp_path, dgm, extra="  resolution_m: 20\n")
    third = harvest(engine, resampled, settings)
    assert third.status == "succeeded"
    with rasterio.open(settings.rasters_dir / "test-dgm" / f"{third.version_ids[0]}.tif") as cog:
        assert cog.res == (20.0, 20.0)


def test_new_version_keeps_the_previous_file_and_drops_older_ones(
    engine: Engine, settings: Settings, dgm: Path, tmp_path: Path
) -> None:
    source = raster_definition(tmp_path, dgm)
    ids = []
    for offset in (0.0, 1.0, 2.0):
        write_geotiff(dgm, values=np.full((1, HEIGHT, WIDTH), 50 + offset, dtype="float32"))
        result = harvest(engine, source, settings)
        assert result.status == "succeeded"
        ids.append(result.version_ids[0])
        with rasterio.open(settings.rasters_dir / "test-dgm" / f"{ids[-1]}.tif") as cog:
            assert cog.read(1)[0, 0] == 50 + offset
    assert _versions(engine) == {ids[0]: "superseded", ids[1]: "superseded", ids[2]: "current"}
    assert _files(settings) == sorted(f"{i}.tif" for i in ids[1:])


def test_raster_inside_a_zip(engine: Engine, settings: Settings, dgm: Path, tmp_path: Path) -> None:
    archive = zipped(dgm, "dgm/dgm10.tif")
    source = raster_definition(tmp_path, archive, member="dgm/dgm10.tif")
    result = harvest(engine, source, settings)
    assert result.status == "succeeded", result.message
    # without `member` the only GeoTIFF of the archive is taken
    other = raster_definition(tmp_path, archive, source_id="test-dgm-zip", layer="dgm_zip")
    assert harvest(engine, other, settings).status == "succeeded"
    path = settings.rasters_dir / "test-dgm-zip" / f"{_last_version(engine, 'test-dgm-zip')}.tif"
    with rasterio.open(dgm) as src, rasterio.open(path) as cog:
        assert np.array_equal(cog.read(1), src.read(1))


def _last_version(engine: Engine, source_id: str) -> int:
    return max(_versions(engine, source_id))


def test_raster_over_http(
    engine: Engine, settings: Settings, dgm: Path, tmp_path: Path, http_server: LocalServer
) -> None:
    body = dgm.read_bytes()
    http_server.route("/dgm/dgm10.tif", Reply(body=body, headers={"ETag": '"dgm-1"'}))
    source = raster_definition(tmp_path, url=http_server.url("/dgm/dgm10.tif"))
    result = harvest(engine, source, settings)
    assert result.status == "succeeded", result.message
    assert_cog(settings.rasters_dir / "test-dgm" / f"{result.version_ids[0]}.tif")
    assert harvest(engine, source, settings).status == "unchanged"


def test_municipalities_extent_replaces_the_state_box(
    engine: Engine,
    settings: Settings,
    sample_source: SourceDefinition,
    tmp_path: Path,
) -> None:
    # in Sachsen-Anhalt (Magdeburg), but far from the sample municipalities
    magdeburg = write_geotiff(tmp_path / "magdeburg.tif", origin=(680_000.0, 5_779_000.0))
    source = raster_definition(tmp_path, magdeburg, source_id="test-md", layer="md")
    assert harvest(engine, sample_source, settings).status == "succeeded"
    with pytest.raises(HarvestError, match="liegt außerhalb Sachsen-Anhalts"):
        harvest(engine, source, settings)
    with engine.begin() as conn:  # without municipalities the state's box applies
        conn.execute(text("DELETE FROM municipality"))
    assert harvest(engine, source, settings).status == "succeeded"


# --- failures keep the previous raster --------------------------------------------------------


def _corrupt(path: Path) -> None:
    path.write_bytes(os.urandom(40_000))


def _truncated(path: Path) -> None:
    whole = write_geotiff(path.with_name("ganz.tif"), width=1200, height=1000, cog=True)
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])


def _utm33(path: Path) -> None:
    write_geotiff(path, crs="EPSG:25833", origin=(276_000.0, 5_689_300.0))


def _no_crs(path: Path) -> None:
    write_geotiff(path, crs=None)


def _outside(path: Path) -> None:
    # UTM 33 coordinates written as UTM 32: somewhere in the North Sea
    write_geotiff(path, origin=(276_000.0, 5_689_300.0))


def _two_bands(path: Path) -> None:
    write_geotiff(path, count=2)


FAILURES = {
    "corrupt": (_corrupt, "dgm.tif ist kein lesbares GeoTIFF"),
    "truncated": (_truncated, "Lesen der Rasterdaten abgebrochen – die Datei ist beschädigt"),
    "crs-mismatch": (_utm33, "im Koordinatenreferenzsystem EPSG:25833, die Quelldefinition"),
    "no-crs": (_no_crs, "gibt kein Koordinatenreferenzsystem an"),
    "outside": (_outside, "außerhalb Sachsen-Anhalts.*falsches Koordinatenreferenzsystem\\?"),
    "band-count": (_two_bands, "hat 2 Band/Bänder, die Quelldefinition beschreibt 1"),
}


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_failed_harvest_keeps_the_previous_raster(
    engine: Engine, settings: Settings, dgm: Path, tmp_path: Path, case: str
) -> None:
    damage, message = FAILURES[case]
    # the CRS-mismatch case needs the declaration; the missing-CRS case must not have one
    crs = None if case == "no-crs" else "EPSG:25832"
    source = raster_definition(tmp_path, dgm, crs=crs)
    good = harvest(engine, source, settings)
    assert good.status == "succeeded"
    previous = good.version_ids[0]
    damage(dgm)
    with pytest.raises(HarvestError, match=message) as info:
        harvest(engine, source, settings)
    assert str(info.value).startswith("Quelle 'test-dgm': ")
    assert str(info.value).endswith("die bisherigen Daten bleiben bestehen")
    status, recorded, read, loaded = _last_run(engine)
    assert (status, recorded, loaded) == ("failed", str(info.value), 0)
    assert read == 1
    versions = _versions(engine)
    assert versions[previous] == "current"
    assert list(versions.values()).count("current") == 1
    assert _files(settings) == [f"{previous}.tif"]  # no new, temporary or partial file
    with engine.connect() as conn:
        [layer] = current_rasters(conn, settings.rasters_dir)
    assert layer.version_id == previous and layer.path.is_file()


def test_file_is_deleted_when_the_transaction_fails_after_the_conversion(
    engine: Engine,
    settings: Settings,
    dgm: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = raster_definition(tmp_path, dgm)
    previous = harvest(engine, source, settings).version_ids[0]
    write_geotiff(dgm, values=np.ones((1, HEIGHT, WIDTH), dtype="float32"))

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Platte voll")

    monkeypatch.setattr(store, "register", broken)
    with pytest.raises(RuntimeError, match="Platte voll"):
        harvest(engine, source, settings)
    assert _files(settings) == [f"{previous}.tif"]
    assert _versions(engine)[previous] == "current"
    assert _last_run(engine)[0] == "failed"


def test_two_sources_cannot_share_a_layer_name(
    engine: Engine, settings: Settings, dgm: Path, tmp_path: Path
) -> None:
    assert harvest(engine, raster_definition(tmp_path, dgm), settings).status == "succeeded"
    other = raster_definition(tmp_path, dgm, source_id="anderes-dgm")
    with pytest.raises(ConflictError, match="Rasterebene 'gelaende' ist schon von der Quelle"):
        harvest(engine, other, settings)
    assert _files(settings, "anderes-dgm") == []
