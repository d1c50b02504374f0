"""Vacancy registers: located by coordinates, parcel or address; rejected with reasons when
they cannot be; never published record by record; aggregates never reveal small counts."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from planungsdaten.app import create_app
from planungsdaten.harvest.errors import SourceDefinitionError
from planungsdaten.harvest.run import HarvestResult, harvest
from planungsdaten.harvest.sources import SourceDefinition, load_source
from planungsdaten.settings import PROJECT_DIR, Settings
from sample_data import generate, vacancy
from tests.conftest import bearer, with_file

SAMPLE_DEFS = PROJECT_DIR / "harvesters" / "sample"


@pytest.fixture
def cadastre(engine: Engine, settings: Settings, sample_dir: Path) -> None:
    """The sample cadastre (addresses, parcels) the register is matched against."""
    nas = with_file(load_source(SAMPLE_DEFS / "alkis-nas.yaml"), sample_dir / generate.NAS_FILE)
    harvest(engine, nas, settings)


def _xlsx(sample_dir: Path) -> SourceDefinition:
    return with_file(
        load_source(SAMPLE_DEFS / "leerstand.yaml"), sample_dir / vacancy.VACANCY_XLSX_FILE
    )


def _csv(sample_dir: Path) -> SourceDefinition:
    return with_file(
        load_source(SAMPLE_DEFS / "leerstand-csv.yaml"), sample_dir / vacancy.VACANCY_CSV_FILE
    )


@pytest.fixture
def loaded(cadastre: None, engine: Engine, settings: Settings, sample_dir: Path) -> HarvestResult:
    return harvest(engine, _xlsx(sample_dir), settings)


def test_register_is_matched_against_alkis_addresses(loaded: HarvestResult, engine: Engine) -> None:
    expected = vacancy.expected_matches()
    unmatched = {k for k, v in expected.items() if v is None}
    assert loaded.read == len(expected) == loaded.loaded + loaded.rejected
    assert loaded.rejected == len(unmatched) > 0
    assert loaded.message is not None and "verortet" in loaded.message
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT v.source_object_id, v.location_method, "
                "  (SELECT a.street || ' ' || a.house_number "
                "          || coalesce(a.house_number_suffix, '') "
                "   FROM address a ORDER BY a.geom <-> v.geom LIMIT 1) AS nearest, "
                "  (SELECT min(ST_Distance(a.geom, v.geom)) FROM address a) AS distance "
                "FROM vacancy v"
            )
        ).all()
        rejected = conn.execute(
            text("SELECT record_ref, reason FROM rejected_record WHERE harvest_run_id = :id"),
            {"id": loaded.run_id},
        ).all()
    by_address = [r for r in rows if r.location_method.startswith("Adresse")]
    assert by_address, "no entry was located by its address"
    for row in by_address:
        street, number = expected[int(row.source_object_id)]  # type: ignore[misc]
        assert row.distance < 0.01 and row.nearest == f"{street} {number}"
    # "vacancy Zeile 17 (Nr. 14)": the sheet row and the register number
    assert {int(r.record_ref.rstrip(")").split()[-1]) for r in rejected} == unmatched
    assert all(r.record_ref.startswith("vacancy Zeile ") for r in rejected)
    assert all("nicht im Liegenschaftskataster gefunden" in r.reason for r in rejected)


def test_csv_export_latin1_coordinates_and_duplicates(
    cadastre: None, engine: Engine, settings: Settings, sample_dir: Path
) -> None:
    result = harvest(engine, _csv(sample_dir), settings)
    assert result.read == result.loaded + result.rejected
    with engine.connect() as conn:
        methods: dict[str, int] = dict(
            conn.execute(text("SELECT location_method, count(*) FROM vacancy GROUP BY 1")).all()
        )
        reasons = (
            conn.execute(
                text("SELECT reason FROM rejected_record WHERE harvest_run_id = :id"),
                {"id": result.run_id},
            )
            .scalars()
            .all()
        )
        streets = conn.execute(text("SELECT street FROM vacancy")).scalars().all()
    assert methods.get("Koordinaten", 0) >= 5
    assert any("mehrfach" in r for r in reasons)  # the copy-pasted row
    assert any(s and ("ß" in s or "ü" in s or "ä" in s) for s in streets)  # Latin-1 decoded


def test_vacancy_must_be_restricted(tmp_path: Path) -> None:
    text_ = (SAMPLE_DEFS / "leerstand.yaml").read_text("utf-8")
    path = tmp_path / "offen.yaml"
    path.write_text(text_.replace("access: restricted", "access: open"), "utf-8")
    with pytest.raises(SourceDefinitionError, match="personal data and must be 'restricted'"):
        load_source(path)


# four entries in one 100 m cell (one Gewerbe) and two in another, by coordinates
CLUSTER = [
    ("1", "Wohnen", 693_905.0, 5_688_205.0),
    ("2", "Wohnen", 693_910.0, 5_688_210.0),
    ("3", "Wohnen", 693_915.0, 5_688_215.0),
    ("4", "Gewerbe", 693_920.0, 5_688_220.0),
    ("5", "Wohnen", 696_505.0, 5_689_505.0),
    ("6", "Wohnen", 696_510.0, 5_689_510.0),
]


def _write_register(path: Path, rows: list[tuple[str, str, float, float]]) -> Path:
    path.write_text(
        "Lfd. Nr.;Straße;Hausnr.;Flurstück;Nutzung;Status;leer seit;Fläche m²;Bemerkung;"
        "Rechtswert;Hochwert\n"
        + "".join(
            f"{n};;;;{u};leer;;;;{str(x).replace('.', ',')};{str(y).replace('.', ',')}\n"
            for n, u, x, y in rows
        ),
        encoding="cp1252",
    )
    return path


def _cluster_source(tmp_path: Path) -> SourceDefinition:
    path = _write_register(tmp_path / "leerstand.csv", CLUSTER)
    return with_file(load_source(SAMPLE_DEFS / "leerstand-csv.yaml"), path)


@pytest.fixture
def municipalities(engine: Engine, settings: Settings, sample_dir: Path) -> None:
    boundaries = with_file(
        load_source(SAMPLE_DEFS / "gemeinden.yaml"), sample_dir / generate.BOUNDARIES_FILE
    )
    harvest(engine, boundaries, settings)


@pytest.fixture
def public(
    loaded: HarvestResult, engine: Engine, settings: Settings, tmp_path: Path
) -> Iterator[TestClient]:
    """The sample register and a dense cluster that yields one publishable cell."""
    harvest(engine, _cluster_source(tmp_path), settings)
    with TestClient(create_app(settings)) as client:
        yield client


def test_nothing_address_level_is_public(
    public: TestClient, loaded: HarvestResult, engine: Engine, settings: Settings
) -> None:
    collections = public.get("/ogc/collections", params={"f": "json"}).json()["collections"]
    ids = {c["id"] for c in collections}
    assert "vacancy" in ids  # the aggregate
    assert not any("vacancy" in i and i != "vacancy" for i in ids)
    items = public.get("/ogc/collections/vacancy/items", params={"f": "json", "limit": 1000}).json()
    threshold = settings.harvest.vacancy_min_count
    with engine.connect() as conn:
        entries = conn.execute(text("SELECT count(*) FROM vacancy")).scalar_one()
        addresses = (
            conn.execute(
                text("SELECT street || ' ' || house_number FROM vacancy WHERE street IS NOT NULL")
            )
            .scalars()
            .all()
        )
    body = str(items)
    for feature in items["features"]:
        props = feature["properties"]
        assert set(props) <= {
            "unit",
            "unit_id",
            "vacant_total",
            "vacant_residential",
            "vacant_commercial",
            "vacant_mixed",
            "dataset_version_id",
        }
        assert props["vacant_total"] >= threshold
        for part in ("vacant_residential", "vacant_commercial", "vacant_mixed"):
            assert props[part] is None or props[part] == 0 or props[part] >= threshold
    assert sum(f["properties"]["vacant_total"] for f in items["features"]) <= entries
    assert not any(a in body for a in addresses)
    # no public endpoint lists the entries or the rejected ones
    run = public.get(f"/api/runs/{loaded.run_id}").json()
    assert run["records_withheld"] is True and run["rejected_records"] == []
    assert run["records_rejected"] == loaded.rejected
    assert loaded.rejected > 0
    planner = public.get(
        f"/api/runs/{loaded.run_id}", headers=bearer(engine, "planner", ["15088235"])
    ).json()
    assert planner["records_withheld"] is True and planner["rejected_records"] == []
    # the operator sees what was rejected, to correct the register
    full = public.get(f"/api/runs/{loaded.run_id}", headers=bearer(engine)).json()
    assert full["records_withheld"] is False
    assert len(full["rejected_records"]) == loaded.rejected
    assert public.get("/ogc/collections/vacancy_aggregate/items").status_code == 404
    spec = public.get("/openapi.json").json()
    assert not any("vacan" in p or "leerstand" in p for p in spec["paths"])


def test_small_counts_are_suppressed(
    cadastre: None, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    source = _cluster_source(tmp_path)
    result = harvest(engine, source, settings)
    assert result.loaded == 6
    with engine.connect() as conn:
        cells = conn.execute(
            text(
                "SELECT vacant_total, vacant_residential, vacant_commercial "
                "FROM vacancy_aggregate WHERE dataset_version_id = :v"
            ),
            {"v": result.version_id},
        ).all()
    # the cell of two is left out; 3 + 1 by use would reveal the single shop
    assert [tuple(c) for c in cells] == [(4, None, None)]
    stricter = dataclasses.replace(
        settings, harvest=settings.harvest.model_copy(update={"vacancy_min_count": 5})
    )
    again = harvest(engine, source, stricter, force=True)
    with engine.connect() as conn:
        count = conn.execute(
            text("SELECT count(*) FROM vacancy_aggregate WHERE dataset_version_id = :v"),
            {"v": again.version_id},
        ).scalar_one()
    assert count == 0


def test_coordinates_outside_the_municipality_are_rejected(
    cadastre: None, municipalities: None, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    # the second lies in Merseburg
    rows = [("1", "Wohnen", 693_905.0, 5_688_205.0), ("2", "Wohnen", 707_100.0, 5_692_400.0)]
    path = _write_register(tmp_path / "leerstand.csv", rows)
    result = harvest(
        engine, with_file(load_source(SAMPLE_DEFS / "leerstand-csv.yaml"), path), settings
    )
    assert (result.read, result.loaded, result.rejected) == (2, 1, 1)
    with engine.connect() as conn:
        reason = conn.execute(
            text("SELECT reason FROM rejected_record WHERE harvest_run_id = :id"),
            {"id": result.run_id},
        ).scalar_one()
    assert reason == "Koordinaten (707100.0, 5692400.0) liegen außerhalb der Gemeinde 15088235"


def test_block_counts_match_an_independent_computation(
    cadastre: None, municipalities: None, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    ways_sql = (
        "SELECT ST_AsBinary(geom) FROM land_use WHERE nutzart IN "
        "('AX_Strassenverkehr', 'AX_Weg', 'AX_Platz', 'AX_Bahnverkehr')"
    )
    with engine.connect() as conn:
        muni = shapely.from_wkb(
            conn.execute(
                text("SELECT ST_AsBinary(geom) FROM municipality WHERE ags = '15088235'")
            ).scalar_one()
        )
        ways = [shapely.from_wkb(g) for g in conn.execute(text(ways_sql)).scalars()]
        # two houses off the streets: four entries at one, two at the other
        houses = conn.execute(
            text(
                "SELECT ST_X(a.geom), ST_Y(a.geom) FROM address a WHERE NOT EXISTS ("
                "SELECT 1 FROM land_use l WHERE l.nutzart IN ('AX_Strassenverkehr', 'AX_Weg', "
                "'AX_Platz', 'AX_Bahnverkehr') AND ST_DWithin(l.geom, a.geom, 3)) "
                "ORDER BY a.source_object_id LIMIT 2"
            )
        ).all()
    (x1, y1), (x2, y2) = houses
    rows = [(str(i), "Wohnen", x1 + i * 0.5, y1) for i in range(1, 5)]
    rows += [(str(i), "Gewerbe", x2, y2 + i * 0.5) for i in range(5, 7)]
    source = with_file(
        load_source(SAMPLE_DEFS / "leerstand-csv.yaml"), _write_register(tmp_path / "l.csv", rows)
    )
    result = harvest(engine, source, settings)
    with engine.connect() as conn:
        published = conn.execute(
            text(
                "SELECT vacant_total, vacant_residential, ST_Area(geom) AS area "
                "FROM vacancy_aggregate WHERE unit = 'block' AND dataset_version_id = :v "
                "ORDER BY 1, 3"
            ),
            {"v": result.version_id},
        ).all()
    blocks = shapely.get_parts(muni.difference(shapely.union_all(ways)))
    points = [shapely.Point(x, y) for _, _, x, y in rows]
    expected = sorted(
        (n, block.area)
        for block in blocks
        if (n := sum(block.contains(p) for p in points)) >= settings.harvest.vacancy_min_count
    )
    assert expected, "the four entries at one house should make a published block"
    assert [p.vacant_total for p in published] == [n for n, _ in expected]
    for row, (_, area) in zip(published, expected, strict=True):
        assert abs(row.area - area) / area < 1e-6
    # a block holding both houses would count six, with the two shops shown only if >= 3
    assert all(p.vacant_residential in (None, 0) or p.vacant_residential >= 3 for p in published)
