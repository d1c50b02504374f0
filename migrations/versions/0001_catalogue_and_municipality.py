"""Catalogue tables (source, dataset_version, harvest_run, rejected_record) and municipality.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    # Search key for German names: case, umlauts and their ae/oe/ue spellings, ß/ss fold
    # to one form, so "Mücheln", "MUECHELN" and "mucheln" meet. Explicit letters, because
    # lower() leaves non-ASCII alone in a C-locale database.
    op.execute(
        """
        CREATE FUNCTION fold_german(value text) RETURNS text
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
          SELECT replace(replace(replace(replace(
                   translate(lower(translate(value, 'ÄÖÜẞÉÈ', 'äöüßéè')), 'äöüéè', 'aouee'),
                 'ß', 'ss'), 'ae', 'a'), 'oe', 'o'), 'ue', 'u')
        $$
        """
    )
    op.execute(
        """
        CREATE TABLE source (
            id              text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]*$'),
            title           text NOT NULL,
            description     text NOT NULL DEFAULT '',
            publisher       text NOT NULL,
            licence         text NOT NULL,
            attribution     text NOT NULL,
            access          text NOT NULL CHECK (access IN ('open', 'restricted')),
            target_table    text NOT NULL,
            hvd_category    text,
            schedule        text,
            definition      jsonb NOT NULL,
            definition_path text,
            created_at      timestamptz NOT NULL DEFAULT now(),
            updated_at      timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE TABLE dataset_version (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            source_id       text NOT NULL REFERENCES source (id),
            status          text NOT NULL
                            CHECK (status IN ('loading', 'current', 'superseded')),
            checksum_sha256 char(64) NOT NULL,
            raw_path        text NOT NULL,
            feature_count   integer,
            definition_sha256 char(64) NOT NULL,
            extent          geometry(Geometry, 25832),
            created_at      timestamptz NOT NULL DEFAULT now(),
            published_at    timestamptz
        )
        """
    )
    op.execute(
        "CREATE UNIQUE INDEX dataset_version_one_current ON dataset_version (source_id) "
        "WHERE status = 'current'"
    )
    op.execute(
        """
        CREATE TABLE harvest_run (
            id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            source_id          text NOT NULL REFERENCES source (id),
            dataset_version_id bigint REFERENCES dataset_version (id),
            status             text NOT NULL
                               CHECK (status IN ('running', 'succeeded', 'unchanged', 'failed')),
            started_at         timestamptz NOT NULL DEFAULT now(),
            finished_at        timestamptz,
            checksum_sha256    char(64),
            records_read       integer NOT NULL DEFAULT 0,
            records_loaded     integer NOT NULL DEFAULT 0,
            records_rejected   integer NOT NULL DEFAULT 0,
            records_skipped    integer NOT NULL DEFAULT 0,
            message            text
        )
        """
    )
    op.execute("CREATE INDEX harvest_run_source ON harvest_run (source_id, started_at DESC)")
    op.execute(
        """
        CREATE TABLE rejected_record (
            id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            harvest_run_id bigint NOT NULL REFERENCES harvest_run (id) ON DELETE CASCADE,
            record_ref     text NOT NULL,
            reason         text NOT NULL,
            record         jsonb,
            created_at     timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX rejected_record_run ON rejected_record (harvest_run_id)")
    # Gemeinde; AGS = Amtlicher Gemeindeschlüssel, ARS = Amtlicher Regionalschlüssel
    op.execute(
        """
        CREATE TABLE municipality (
            ags                char(8) PRIMARY KEY CHECK (ags ~ '^[0-9]{8}$'),
            ars                char(12) CHECK (ars ~ '^[0-9]{12}$'),
            name               text,
            district           text,
            geom               geometry(MultiPolygon, 25832) NOT NULL,
            dataset_version_id bigint NOT NULL REFERENCES dataset_version (id)
        )
        """
    )
    op.execute("CREATE INDEX municipality_geom ON municipality USING gist (geom)")
    op.execute("CREATE INDEX municipality_version ON municipality (dataset_version_id)")
    op.execute(
        "CREATE INDEX municipality_name_search ON municipality "
        "USING gin (fold_german(name) gin_trgm_ops)"
    )


def downgrade() -> None:
    for table in ("municipality", "rejected_record", "harvest_run", "dataset_version", "source"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    op.execute("DROP FUNCTION IF EXISTS fold_german(text)")
