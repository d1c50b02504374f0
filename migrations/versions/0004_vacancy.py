"""Vacancy registers (restricted, address level) and their open aggregate; address matching.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

STATEMENTS = [
    # street names as registers write them and as ALKIS does meet in one key:
    # "Hauptstraße", "Hauptstr.", "HAUPTSTRASSE" and "Haupt-Str" all give "hauptstr"
    """
    CREATE FUNCTION street_key(value text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
      SELECT regexp_replace(
               regexp_replace(fold_german(value), 'str(asse|\\.|\\M)', 'str', 'g'),
               '[^a-z0-9]', '', 'g')
    $$
    """,
    "CREATE INDEX address_street_key ON address (street_key(street), house_number)",
    # Leerstand: personal data, never published record by record (source access restricted)
    """
    CREATE TABLE vacancy (
        source_object_id    text NOT NULL,
        ags                 char(8) CHECK (ags ~ '^[0-9]{8}$'),
        street              text,
        house_number        text,
        house_number_suffix text,
        parcel_ref          text,
        use                 text,
        status              text,
        vacant_since        date,
        floor_area          double precision CHECK (floor_area >= 0),
        remarks             text,
        location_method     text,
        source_row          integer,
        geom                geometry(Point, 25832),
        dataset_version_id  bigint NOT NULL REFERENCES dataset_version (id),
        UNIQUE (source_object_id, dataset_version_id)
    ) PARTITION BY LIST (dataset_version_id)
    """,
    "CREATE INDEX vacancy_geom ON vacancy USING gist (geom)",
    # the open layer: counts per 100 m grid cell, cells below the threshold left out
    """
    CREATE TABLE vacancy_aggregate (
        unit               text NOT NULL,
        unit_id            text NOT NULL,
        vacant_total       integer NOT NULL,
        vacant_residential integer,
        vacant_commercial  integer,
        vacant_mixed       integer,
        geom               geometry(Polygon, 25832) NOT NULL,
        dataset_version_id bigint NOT NULL REFERENCES dataset_version (id),
        PRIMARY KEY (unit_id, dataset_version_id)
    ) PARTITION BY LIST (dataset_version_id)
    """,
    "CREATE INDEX vacancy_aggregate_geom ON vacancy_aggregate USING gist (geom)",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE vacancy_aggregate")
    op.execute("DROP TABLE vacancy")
    op.execute("DROP INDEX address_street_key")
    op.execute("DROP FUNCTION street_key(text)")
