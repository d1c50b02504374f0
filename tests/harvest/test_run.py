"""The harvest pipeline against PostGIS: load, skip unchanged, replace atomically, fail safely."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import geopandas as gpd
import pytest
from sqlalchemy import Engine, text

from planungsdaten.harvest.errors import (
    ConflictError,
    FetchError,
    NothingLoadedError,
    SourceFormatError,
)
from planungsdaten.harvest.run import HarvestResult, harvest
from planungsdaten.harvest.sources import SourceDefinition
from planungsdaten.settings import Settings
from sample_data.generate import MUNICIPALITIES, boundaries
from tests.conftest import with_file


def _municipalities(engine: Engine) -> dict[str, tuple[str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT ags, name, dataset_version_id FROM municipality"))
        return {r.ags: (r.name, r.dataset_version_id) for r in rows}


def _runs(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM harvest_run ORDER BY id"))
        return [dict(r._mapping) for r in rows]


def test_sample_loads_reprojected_with_provenance(
    engine: Engine, settings: Settings, sample_source: SourceDefinition
) -> None:
    result = harvest(engine, sample_source, settings)
    assert (result.status, result.read, result.loaded, result.rejected) == ("succeeded", 8, 8, 0)
    loaded = _municipalities(engine)
    assert set(loaded) == {ags for ags, *_ in MUNICIPALITIES}
    assert loaded["15088235"][0] == "Mücheln (Geiseltal)"
    assert {v for _, v in loaded.values()} == {result.version_id}
    with engine.connect() as conn:
        version = conn.execute(
            text(
                "SELECT status, feature_count, ST_SRID(extent) AS srid, checksum_sha256 "
                "FROM dataset_version WHERE id = :id"
            ),
            {"id": result.version_id},
        ).one()
        srid = conn.execute(text("SELECT DISTINCT ST_SRID(geom) FROM municipality")).scalar_one()
        # the synthetic cells cover their centres: the CRS survived the round trip
        inside = conn.execute(
            text(
                "SELECT ST_Contains(geom, ST_SetSRID(ST_MakePoint(693900, 5688200), 25832)) "
                "FROM municipality WHERE ags = '15088235'"
            )
        ).scalar_one()
    assert (version.status, version.feature_count, version.srid) == ("current", 8, 25832)
    assert len(version.checksum_sha256) == 64
    assert srid == 25832 and inside is True
    run = _runs(engine)[-1]
    assert (run["status"], run["records_read"], run["records_loaded"]) == ("succeeded", 8, 8)
    assert run["dataset_version_ids"] == [result.version_id] and run["finished_at"] is not None


def test_reprojects_from_another_crs(
    engine: Engine, settings: Settings, sample_source: SourceDefinition, tmp_path: Path
) -> None:
    path = tmp_path / "wgs84.gpkg"
    boundaries().to_crs(4326).to_file(path, layer="vg250_gem", driver="GPKG")
    harvest(engine, with_file(sample_source, path), settings)
    with engine.connect() as conn:
        x, y = conn.execute(
            text(
                "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(geom) c FROM municipality "
                "WHERE ags = '15088235') s"
            )
        ).one()
    expected = boundaries().set_index("AGS").loc["15088235"].geometry.centroid
    assert abs(x - expected.x) < 1 and abs(y - expected.y) < 1


def test_unchanged_source_is_skipped_and_force_replaces(
    engine: Engine, settings: Settings, sample_source: SourceDefinition
) -> None:
    first = harvest(engine, sample_source, settings)
    again = harvest(engine, sample_source, settings)
    assert again.status == "unchanged" and again.version_id == first.version_id
    forced = harvest(engine, sample_source, settings, force=True)
    assert forced.status == "succeeded" and forced.version_id != first.version_id
    assert {v for _, v in _municipalities(engine).values()} == {forced.version_id}
    with engine.connect() as conn:
        statuses: dict[int, str] = dict(
            conn.execute(text("SELECT id, status FROM dataset_version")).all()
        )
    assert statuses == {first.version_id: "superseded", forced.version_id: "current"}
    # a changed mapping reloads an unchanged file
    layer = sample_source.layers[0].model_copy(update={"mapping": {"ars": "ARS"}})
    renamed = sample_source.model_copy(update={"layers": [layer]})
    assert harvest(engine, renamed, settings).status == "succeeded"
    assert _municipalities(engine)["15088235"][0] is None


def test_rejected_records_are_kept_with_reason(
    engine: Engine, settings: Settings, sample_source: SourceDefinition, tmp_path: Path
) -> None:
    frame = boundaries()
    frame.loc[1, "ARS"] = "15088"  # too short
    frame.loc[2, "AGS"] = "15088999"  # does not match its ARS
    frame = gpd.GeoDataFrame(
        [*frame.to_dict("records"), {**frame.iloc[5].to_dict()}], crs=frame.crs
    )  # Mücheln twice
    path = tmp_path / "broken.gpkg"
    frame.to_file(path, layer="vg250_gem", driver="GPKG")
    result = harvest(engine, with_file(sample_source, path), settings)
    assert (result.read, result.loaded, result.rejected) == (9, 6, 3)
    assert result.read == result.loaded + result.rejected + result.skipped
    with engine.connect() as conn:
        rejected = conn.execute(
            text(
                "SELECT record_ref, reason, record FROM rejected_record "
                "WHERE harvest_run_id = :id ORDER BY id"
            ),
            {"id": result.run_id},
        ).all()
    reasons = [r.reason for r in rejected]
    assert "ARS '15088' hat nicht 12 Ziffern" in reasons
    assert any("passt nicht zum ARS" in r for r in reasons)
    assert any("kommt in der Quelle mehrfach vor" in r for r in reasons)
    short = next(r for r in rejected if "15088'" in r.reason)
    assert short.record["GEN"] == frame.loc[1, "GEN"]
    json.dumps(short.record)


def _assert_previous_still_served(engine: Engine, before: dict[str, tuple[str, int]]) -> None:
    assert _municipalities(engine) == before
    run = _runs(engine)[-1]
    assert run["status"] == "failed" and run["message"]
    assert run["dataset_version_ids"] == []
    with engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM dataset_version WHERE status = 'current'")
            ).scalar_one()
            == 1
        )


def test_corrupt_file_keeps_previous_version(
    engine: Engine, settings: Settings, sample_source: SourceDefinition, tmp_path: Path
) -> None:
    harvest(engine, sample_source, settings)
    before = _municipalities(engine)
    corrupt = tmp_path / "truncated.gpkg"
    corrupt.write_bytes(Path(str(sample_source.protocol.path)).read_bytes()[:5000])  # type: ignore[union-attr]
    with pytest.raises(SourceFormatError, match="nicht lesbar als gpkg"):
        harvest(engine, with_file(sample_source, corrupt), settings)
    _assert_previous_still_served(engine, before)


def test_missing_file_keeps_previous_version(
    engine: Engine, settings: Settings, sample_source: SourceDefinition, tmp_path: Path
) -> None:
    harvest(engine, sample_source, settings)
    before = _municipalities(engine)
    with pytest.raises(FetchError, match="Datei nicht gefunden"):
        harvest(engine, with_file(sample_source, tmp_path / "weg.gpkg"), settings)
    _assert_previous_still_served(engine, before)


def test_all_rejected_keeps_previous_version(
    engine: Engine, settings: Settings, sample_source: SourceDefinition, tmp_path: Path
) -> None:
    harvest(engine, sample_source, settings)
    before = _municipalities(engine)
    frame = boundaries()
    frame["ARS"] = "kaputt"
    frame["AGS"] = None
    path = tmp_path / "alles-kaputt.gpkg"
    frame.to_file(path, layer="vg250_gem", driver="GPKG")
    with pytest.raises(NothingLoadedError, match="kein einziges Objekt"):
        harvest(engine, with_file(sample_source, path), settings)
    _assert_previous_still_served(engine, before)
    assert _runs(engine)[-1]["records_rejected"] == 8


def test_second_source_with_same_ags_conflicts(
    engine: Engine, settings: Settings, sample_source: SourceDefinition, tmp_path: Path
) -> None:
    harvest(engine, sample_source, settings)
    before = _municipalities(engine)
    other = sample_source.model_copy(update={"id": "andere-gemeinden"})
    with pytest.raises(ConflictError, match=r"15088020 \(Quelle 'sample-gemeinden'\)"):
        harvest(engine, other, settings)
    _assert_previous_still_served(engine, before)


def test_readers_see_old_or_new_never_a_mix(
    engine: Engine, settings: Settings, sample_source: SourceDefinition, tmp_path: Path
) -> None:
    first = harvest(engine, sample_source, settings)
    frame = boundaries()
    frame["GEN"] = frame["GEN"] + " (neu)"
    frame.geometry = frame.geometry.buffer(-10)
    path = tmp_path / "neu.gpkg"
    frame.to_file(path, layer="vg250_gem", driver="GPKG")
    outcome: list[object] = []
    # a reader inside a snapshot taken before the swap sees the old version whole, while
    # the swap waits for it; afterwards everyone sees the new version whole
    with engine.connect() as reader:
        reader.execute(text("BEGIN ISOLATION LEVEL REPEATABLE READ"))
        assert reader.execute(text("SELECT count(*) FROM municipality")).scalar_one() == 8
        worker = threading.Thread(
            target=lambda: outcome.append(harvest(engine, with_file(sample_source, path), settings))
        )
        worker.start()
        for _ in range(20):
            rows = reader.execute(
                text("SELECT DISTINCT dataset_version_id, name LIKE '%(neu)' FROM municipality")
            ).all()
            assert rows == [(first.version_id, False)]
            time.sleep(0.05)
        reader.execute(text("COMMIT"))
    worker.join(timeout=60)
    second = outcome[0]
    assert isinstance(second, HarvestResult) and second.status == "succeeded"
    assert {v for _, v in _municipalities(engine).values()} == {second.version_id}
    assert all(name.endswith("(neu)") for name, _ in _municipalities(engine).values())


def test_result_counts_match_recorded_run(
    engine: Engine, settings: Settings, sample_source: SourceDefinition
) -> None:
    result = harvest(engine, sample_source, settings)
    assert isinstance(result, HarvestResult)
    run = _runs(engine)[-1]
    assert (run["records_read"], run["records_loaded"], run["records_rejected"]) == (
        result.read,
        result.loaded,
        result.rejected,
    )
