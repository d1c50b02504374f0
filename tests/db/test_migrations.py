"""Schema only through Alembic: head has the catalogue and municipality tables."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, inspect, text

from planungsdaten.db.migrate import current_revision, head_revision, upgrade


def test_head_creates_catalogue_and_municipality(engine: Engine) -> None:
    assert current_revision(engine) == head_revision() == "0001"
    tables = set(inspect(engine).get_table_names())
    assert {"source", "dataset_version", "harvest_run", "rejected_record", "municipality"} <= tables
    with engine.connect() as conn:
        geom = conn.execute(
            text(
                "SELECT type, srid FROM geometry_columns "
                "WHERE f_table_name = 'municipality' AND f_geometry_column = 'geom'"
            )
        ).one()
    assert tuple(geom) == ("MULTIPOLYGON", 25832)


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
                "target_table, definition) VALUES ('s', 't', 'p', 'l', 'a', 'open', "
                "'municipality', '{}')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO dataset_version (source_id, status, checksum_sha256, "
                "definition_sha256, raw_path) VALUES ('s', 'loading', repeat('0', 64), "
                "repeat('0', 64), 'x')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO municipality (ags, geom, dataset_version_id) VALUES "
                "('1508823X', ST_Multi(ST_MakeEnvelope(0, 0, 1, 1, 25832)), 1)"
            )
        )
