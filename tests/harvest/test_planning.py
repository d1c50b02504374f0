"""Planning sources through the pipeline: XPlanGML plans (real and sample), Zensus grids,
BASt and municipal traffic counts."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from planungsdaten.harvest.errors import HarvestError
from planungsdaten.harvest.run import harvest
from planungsdaten.harvest.sources import FileProtocol, SourceDefinition, load_source
from planungsdaten.settings import PROJECT_DIR, Settings
from sample_data import planning
from tests.conftest import with_file

SAMPLE_DEFS = PROJECT_DIR / "harvesters" / "sample"


def _sample(name: str, path: Path) -> SourceDefinition:
    return with_file(load_source(SAMPLE_DEFS / name), path)


def _xplan(path: Path) -> SourceDefinition:
    source = load_source(SAMPLE_DEFS / "xplan.yaml")
    return source.model_copy(
        update={
            "id": f"xplan-{path.stem.lower()}",
            "protocol": FileProtocol(type="file", path=path),
        }
    )


def test_real_xplan_5_3_in_25833(engine: Engine, settings: Settings, shared_fixtures: Path) -> None:
    result = harvest(
        engine, _xplan(shared_fixtures / "real/xplan/bp_plan1_wustermark.gml"), settings
    )
    assert (result.read, result.loaded, result.rejected) == (1, 1, 0)
    with engine.connect() as conn:
        plan = conn.execute(
            text(
                "SELECT *, ST_SRID(geom) AS srid, ST_X(ST_Centroid(geom)) AS x, "
                "ST_IsValid(geom) AS valid FROM development_plan"
            )
        ).one()
    assert plan.ags == "12063357" and plan.plan_type == "BP_Plan" and plan.xplan_version == "5.3"
    assert plan.name == "Denkmalbereichssatzung Eisenbahnersiedlung"
    assert plan.srid == 25832 and plan.valid
    # Wustermark lies west of Berlin: in UTM 32 its easting is beyond the zone's 500 km
    assert 700_000 < plan.x < 800_000


def test_real_xplan_archive_6_0(engine: Engine, settings: Settings, shared_fixtures: Path) -> None:
    result = harvest(engine, _xplan(shared_fixtures / "real/xplan/BPlan001_6-0.zip"), settings)
    assert result.loaded == 1
    with engine.connect() as conn:
        plan = conn.execute(text("SELECT * FROM development_plan")).one()
    assert plan.ags == "02000000" and plan.xplan_version == "6.0"
    assert plan.name == "BPlan001_6-0"


def test_sample_plan(engine: Engine, settings: Settings, sample_dir: Path) -> None:
    harvest(engine, _sample("xplan.yaml", sample_dir / planning.XPLAN_FILE), settings)
    with engine.connect() as conn:
        plan = conn.execute(text("SELECT * FROM development_plan")).one()
    assert plan.name == "Bebauungsplan Nr. 12 „Wohngebiet Am Geiseltalsee“"
    assert plan.ags == "15088235" and plan.number == "12"
    assert str(plan.in_force_date) == "2023-01-20" and str(plan.decision_date) == "2019-05-14"
    assert plan.document_urls == ["https://www.stadt-muecheln.de/bplan/12/begruendung.pdf"]
    assert plan.legal_status == "4000"


def test_zensus_grid(engine: Engine, settings: Settings, sample_dir: Path) -> None:
    archive = sample_dir / planning.ZENSUS_POPULATION_FILE
    result = harvest(engine, _sample("zensus-bevoelkerung.yaml", archive), settings)
    with zipfile.ZipFile(archive) as z:
        lines = sum(len(z.read(n).decode().splitlines()) - 1 for n in z.namelist())
    assert result.read == lines == result.loaded + result.rejected + result.skipped
    assert result.rejected == 0
    with engine.connect() as conn:
        stats = conn.execute(
            text(
                "SELECT count(*) FILTER (WHERE flag = '–' AND value IS NULL) AS suppressed, "
                "count(*) FILTER (WHERE flag = 'KLAMMERN') AS uncertain, "
                "count(DISTINCT resolution_m) AS resolutions, min(indicator) AS indicator, "
                "min(reference_date)::text AS stichtag FROM grid_value"
            )
        ).one()
        cells = conn.execute(
            text(
                "SELECT count(*), round(avg(ST_Area(geom))) FROM grid_cell WHERE resolution_m = 100"
            )
        ).one()
    assert stats.suppressed > 0 and stats.uncertain > 0 and stats.resolutions == 2
    assert stats.indicator == "einwohner" and stats.stichtag == "2022-05-15"
    assert cells[0] > 100 and 9_900 < cells[1] < 10_100  # 100 m squares, reprojected
    # a second indicator brings its own cells, swapped in with its values
    with engine.connect() as conn:
        population_cells = conn.execute(text("SELECT count(*) FROM grid_cell")).scalar_one()
    assert population_cells == result.loaded
    vacancy = harvest(
        engine,
        _sample("zensus-leerstand.yaml", sample_dir / planning.ZENSUS_VACANCY_FILE),
        settings,
    )
    with engine.connect() as conn:
        own = conn.execute(
            text("SELECT count(*) FROM grid_cell WHERE dataset_version_id = :v"),
            {"v": vacancy.version_id},
        ).scalar_one()
        total = conn.execute(text("SELECT count(*) FROM grid_cell")).scalar_one()
    assert own == vacancy.loaded and total == own + population_cells


def test_zensus_truncated_zip_is_a_clear_failure(
    engine: Engine, settings: Settings, sample_dir: Path, tmp_path: Path
) -> None:
    data = (sample_dir / planning.ZENSUS_POPULATION_FILE).read_bytes()
    broken = tmp_path / "Zensus2022_Bevoelkerungszahl.zip"
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(HarvestError, match="beschädigt"):
        harvest(engine, _sample("zensus-bevoelkerung.yaml", broken), settings)


def test_traffic_counts(engine: Engine, settings: Settings, sample_dir: Path) -> None:
    harvest(engine, _sample("bast-jawe.yaml", sample_dir / planning.JAWE_FILE), settings)
    harvest(
        engine,
        _sample("verkehrszaehlung-muecheln.yaml", sample_dir / planning.MUNICIPAL_COUNTS_FILE),
        settings,
    )
    with engine.connect() as conn:
        rows = {
            r.station_id: r
            for r in conn.execute(
                text("SELECT *, ST_X(geom) AS x, ST_Y(geom) AS y FROM traffic_count")
            )
        }
    a38 = rows["4503"]
    assert a38.name == "Mücheln (Geiseltal)" and a38.road == "A 38" and a38.year == 2023
    assert a38.dtv_kfz == 31250 and a38.dtv_sv == 5210 and a38.counter == "BASt"
    assert abs(a38.sv_share_pct - 16.7) < 0.05
    assert (round(a38.x), round(a38.y)) == (693400, 5690900)
    town = rows["MÜ-01"]
    assert town.dtv_kfz == 4820 and town.dtv_sv == 310 and town.year == 2024  # "4.820"
    assert town.road == "Hauptstraße" and abs(town.sv_share_pct - 6.43) < 0.01
    assert (round(town.x), round(town.y)) == (693880, 5688150)


def test_csv_with_wrong_delimiter_names_the_problem(
    engine: Engine, settings: Settings, sample_dir: Path, tmp_path: Path
) -> None:
    content = (sample_dir / planning.MUNICIPAL_COUNTS_FILE).read_bytes().replace(b";", b"|")
    path = tmp_path / "komma.csv"
    path.write_bytes(content)
    source = _sample("verkehrszaehlung-muecheln.yaml", path)
    with pytest.raises(HarvestError) as info:
        harvest(engine, source, settings)
    message = str(info.value)
    assert "komma.csv" in message and "Rechtswert" in message


def test_latin1_umlauts_and_duplicates(
    engine: Engine, settings: Settings, sample_dir: Path, tmp_path: Path
) -> None:
    lines = (sample_dir / planning.MUNICIPAL_COUNTS_FILE).read_bytes().split(b"\r\n")
    path = tmp_path / "doppelt.csv"
    path.write_bytes(b"\r\n".join([*lines[:3], lines[2], *lines[3:]]))  # MÜ-02 twice
    result = harvest(engine, _sample("verkehrszaehlung-muecheln.yaml", path), settings)
    assert (result.read, result.loaded, result.rejected) == (5, 4, 1)
    with engine.connect() as conn:
        rejected = conn.execute(text("SELECT record_ref, reason FROM rejected_record")).one()
        streets = conn.execute(text("SELECT road FROM traffic_count ORDER BY 1")).scalars().all()
    assert "MÜ-02" in rejected.record_ref and "mehrfach" in rejected.reason
    assert "Straße der Einheit" in streets
