"""Raster layers (terrain, flood depth, …) stored as COG files and registered per dataset
version, and flood hazard areas (HQ100, HQextrem, …) as a vector target.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

STATEMENTS = [
    # one row per raster version: the COG (EPSG:25832) under <data_dir>/rasters and what a
    # catalogue needs to describe it. The file is written before the row; a failed harvest
    # leaves no row and deletes its file, so the current version stays served.
    """
    CREATE TABLE raster_version (
        dataset_version_id bigint PRIMARY KEY REFERENCES dataset_version (id),
        layer              text NOT NULL CHECK (layer ~ '^[a-z][a-z0-9_]*$'),
        path               text NOT NULL,
        width              integer NOT NULL CHECK (width > 0),
        height             integer NOT NULL CHECK (height > 0),
        resolution_m       double precision NOT NULL CHECK (resolution_m > 0),
        bands              jsonb NOT NULL,
        nodata             double precision,
        dtype              text NOT NULL,
        size_bytes         bigint NOT NULL,
        sha256             char(64) NOT NULL,
        footprint          geometry(Polygon, 25832) NOT NULL
    )
    """,
    "CREATE INDEX raster_version_footprint ON raster_version USING gist (footprint)",
    # flood hazard areas of the flood risk management directive and designated flood areas
    """
    CREATE TABLE flood_zone (
        source_object_id   text NOT NULL,
        scenario           text NOT NULL
                           CHECK (scenario IN ('HQhaeufig', 'HQ100', 'HQextrem')),
        kind               text NOT NULL DEFAULT 'gefahrenflaeche'
                           CHECK (kind IN ('gefahrenflaeche', 'festgesetzt', 'vorlaeufig')),
        name               text,
        water_body         text,
        depth_class        text,
        geom               geometry(MultiPolygon, 25832) NOT NULL,
        dataset_version_id bigint NOT NULL REFERENCES dataset_version (id),
        UNIQUE (source_object_id, dataset_version_id)
    ) PARTITION BY LIST (dataset_version_id)
    """,
    "CREATE INDEX flood_zone_geom ON flood_zone USING gist (geom)",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE flood_zone")
    op.execute("DROP TABLE raster_version")
