"""Schema only through Alembic: head has the catalogue and municipality tables."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, inspect, text

from planungsdaten.db.migrate import current_revision, head_revision, upgrade


def test_head_creates_catalogue_and_municipality(engine: Engine) -> None:
    assert current_revision(engine) == head_revision() == "0008"
    tables = set(inspect(engine).get_table_names())
    assert {
        "source",
        "dataset_version",
        "harvest_run",
        "rejected_record",
        "repaired_record",
        "municipality",
        "parcel",
        "building",
        "land_use",
        "address",
    } <= tables
    with engine.connect() as conn:
        geoms: dict[str, str] = dict(
            conn.execute(
                text(
                    "SELECT f_table_name, type || ' ' || srid FROM geometry_columns "
                    "WHERE f_table_name IN ('municipality', 'parcel', 'building', 'land_use', "
                    "'address')"
                )
            ).all()
        )
        partitioned = conn.execute(
            text(
                "SELECT count(*) FROM pg_partitioned_table p JOIN pg_class c "
                "ON c.oid = p.partrelid WHERE c.relname IN "
                "('municipality', 'parcel', 'building', 'land_use', 'address')"
            )
        ).scalar_one()
    assert geoms == {
        "municipality": "MULTIPOLYGON 25832",
        "parcel": "MULTIPOLYGON 25832",
        "building": "MULTIPOLYGON 25832",
        "land_use": "MULTIPOLYGON 25832",
        "address": "POINT 25832",
    }
    assert partitioned == 5


def test_upgrade_is_idempotent(engine: Engine) -> None:
    upgrade(engine)
    assert current_revision(engine) == head_revision()


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Mücheln (Geiseltal)", "MUECHELN (geiseltal)"),
        ("Mücheln", "mucheln"),
        ("Weißenfels", "WEISSENFELS"),
        ("Bad Dürrenberg", "bad duerrenberg"),
        ("Östliche Börde", "oestliche boerde"),
    ],
)
def test_fold_german_meets_spellings(engine: Engine, a: str, b: str) -> None:
    with engine.connect() as conn:
        fa, fb = conn.execute(
            text("SELECT fold_german(:a), fold_german(:b)"), {"a": a, "b": b}
        ).one()
    assert fa == fb


def test_ags_check_constraint(engine: Engine) -> None:
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO source (id, title, publisher, licence, attribution, access, "
                "definition) VALUES ('s', 't', 'p', 'l', 'a', 'open', '{}')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO dataset_version (source_id, target_table, layer, status, "
                "checksum_sha256, definition_sha256, raw_path) VALUES ('s', 'municipality', "
                "'m', 'loading', repeat('0', 64), repeat('0', 64), 'x')"
            )
        )
        conn.execute(
            text("CREATE TABLE municipality_v1 PARTITION OF municipality FOR VALUES IN (1)")
        )
        conn.execute(
            text(
                "INSERT INTO municipality (ags, geom, dataset_version_id) VALUES "
                "('1508823X', ST_Multi(ST_MakeEnvelope(0, 0, 1, 1, 25832)), 1)"
            )
        )


def test_downgrade_and_upgrade_again(engine: Engine) -> None:
    from alembic import command

    from planungsdaten.db.migrate import alembic_config

    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    assert current_revision(engine) == "0001"
    upgrade(engine)
    assert current_revision(engine) == head_revision()
