"""Feature ids for the tables without a natural key (OGC API single features, downloads),
and the Zensus grid as features (values with their cell geometry).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLES = ("land_use", "address", "traffic_count")


def upgrade() -> None:
    # one sequence for all: a harvest's staging table (LIKE … INCLUDING DEFAULTS) draws ids
    # while COPY runs; cached so COPY does not wait on it row by row
    op.execute("CREATE SEQUENCE feature_fid_seq CACHE 1000")
    for table in TABLES:
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN fid bigint NOT NULL DEFAULT nextval('feature_fid_seq')"
        )
        op.execute(f"CREATE INDEX {table}_fid ON {table} (fid)")
    op.execute(
        """
        CREATE VIEW grid_value_feature AS
        SELECT v.cell_id || '-' || v.indicator AS id, v.cell_id, v.resolution_m, v.indicator,
               v.value, v.flag, v.reference_date, c.geom, v.dataset_version_id
        FROM grid_value v
        JOIN grid_cell c ON c.cell_id = v.cell_id AND c.dataset_version_id = v.dataset_version_id
        """
    )


def downgrade() -> None:
    op.execute("DROP VIEW grid_value_feature")
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} DROP COLUMN fid")
    op.execute("DROP SEQUENCE feature_fid_seq")
