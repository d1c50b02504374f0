"""Development plans (XPlanung), Zensus grid cells and values, traffic counts.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

STATEMENTS = [
    # Bebauungsplan/Flächennutzungsplan from XPlanGML: Geltungsbereich in EPSG:25832
    """
    CREATE TABLE development_plan (
        source_object_id   text NOT NULL,
        plan_type          text NOT NULL,
        xplan_version      text,
        name               text,
        number             text,
        plan_art           text,
        plan_art_name      text,
        legal_status       text,
        legal_status_name  text,
        ags                char(8) CHECK (ags ~ '^[0-9]{8}$'),
        municipality_name  text,
        in_force_date      date,
        decision_date      date,
        adoption_date      date,
        document_urls      text[],
        geom               geometry(MultiPolygon, 25832) NOT NULL,
        dataset_version_id bigint NOT NULL REFERENCES dataset_version (id),
        UNIQUE (source_object_id, dataset_version_id)
    ) PARTITION BY LIST (dataset_version_id)
    """,
    "CREATE INDEX development_plan_geom ON development_plan USING gist (geom)",
    "CREATE INDEX development_plan_ags ON development_plan (ags)",
    # Zensus 2022 grid: the cells (squares of the INSPIRE grid in EPSG:3035, stored in
    # EPSG:25832) of a dataset version are swapped in with its values
    """
    CREATE TABLE grid_cell (
        cell_id            text NOT NULL,
        resolution_m       integer NOT NULL CHECK (resolution_m > 0),
        geom               geometry(Polygon, 25832) NOT NULL,
        dataset_version_id bigint NOT NULL REFERENCES dataset_version (id),
        PRIMARY KEY (cell_id, dataset_version_id)
    ) PARTITION BY LIST (dataset_version_id)
    """,
    "CREATE INDEX grid_cell_geom ON grid_cell USING gist (geom)",
    """
    CREATE TABLE grid_value (
        cell_id            text NOT NULL,
        resolution_m       integer NOT NULL,
        indicator          text NOT NULL,
        value              double precision,
        flag               text,
        reference_date     date,
        x_ll               double precision NOT NULL,
        y_ll               double precision NOT NULL,
        dataset_version_id bigint NOT NULL REFERENCES dataset_version (id),
        UNIQUE (cell_id, indicator, dataset_version_id)
    ) PARTITION BY LIST (dataset_version_id)
    """,
    "CREATE INDEX grid_value_indicator ON grid_value (indicator, resolution_m)",
    # Verkehrszählstelle: BASt automatic counts and municipal counting points
    """
    CREATE TABLE traffic_count (
        station_id         text NOT NULL,
        name               text,
        road               text,
        road_class         text,
        year               smallint CHECK (year BETWEEN 1950 AND 2100),
        dtv_kfz            double precision CHECK (dtv_kfz >= 0),
        dtv_sv             double precision CHECK (dtv_sv >= 0),
        sv_share_pct       double precision CHECK (sv_share_pct BETWEEN 0 AND 100),
        counter            text,
        geom               geometry(Point, 25832) NOT NULL,
        dataset_version_id bigint NOT NULL REFERENCES dataset_version (id),
        UNIQUE (station_id, year, dataset_version_id)
    ) PARTITION BY LIST (dataset_version_id)
    """,
    "CREATE INDEX traffic_count_geom ON traffic_count USING gist (geom)",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    for table in ("traffic_count", "grid_value", "grid_cell", "development_plan"):
        op.execute(f"DROP TABLE {table}")
