"""Cadastre tables (parcel, building, land_use, address); every canonical table partitioned
by dataset_version_id, so a harvest swaps one partition for another atomically.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Flurstück (parcel): flurstueckskennzeichen = Land 2, Gemarkung 4, Flur 3, Zähler 5,
# Nenner 4, Folge 2 (padded with '_'); unique within one dataset version.
PARCEL = """
CREATE TABLE parcel (
    flurstueckskennzeichen char(20) NOT NULL,
    land               char(2) NOT NULL,
    gemarkung          char(4) NOT NULL,
    gemarkung_name     text,
    flur               text,
    zaehler            text NOT NULL,
    nenner             text,
    folge              text,
    ags                char(8) CHECK (ags ~ '^[0-9]{8}$'),
    amtliche_flaeche   double precision CHECK (amtliche_flaeche >= 0),
    location_text      text,
    source_object_id   text,
    geom               geometry(MultiPolygon, 25832) NOT NULL,
    dataset_version_id bigint NOT NULL REFERENCES dataset_version (id),
    UNIQUE (flurstueckskennzeichen, dataset_version_id)
) PARTITION BY LIST (dataset_version_id)
"""

# Gebäude: function code from the AdV code list AX_Gebaeudefunktion, name in German.
BUILDING = """
CREATE TABLE building (
    source_object_id   text NOT NULL,
    ags                char(8) CHECK (ags ~ '^[0-9]{8}$'),
    function_code      integer,
    function_name      text,
    storeys            smallint CHECK (storeys >= 0),
    name               text,
    location_text      text,
    geom               geometry(MultiPolygon, 25832) NOT NULL,
    dataset_version_id bigint NOT NULL REFERENCES dataset_version (id),
    UNIQUE (source_object_id, dataset_version_id)
) PARTITION BY LIST (dataset_version_id)
"""

# Tatsächliche Nutzung: nutzart = object type (e.g. AX_Wohnbauflaeche or the
# ALKIS-vereinfacht name), name = German name, nutzung_group = Siedlung/Verkehr/…
LAND_USE = """
CREATE TABLE land_use (
    source_object_id   text,
    nutzart            text NOT NULL,
    name               text,
    nutzung_group      text,
    parcel_ref         text,
    geom               geometry(MultiPolygon, 25832) NOT NULL,
    dataset_version_id bigint NOT NULL REFERENCES dataset_version (id)
) PARTITION BY LIST (dataset_version_id)
"""

# Hausnummer/Hauskoordinate: the table vacancy registers are matched against.
ADDRESS = """
CREATE TABLE address (
    source_object_id    text,
    ags                 char(8) CHECK (ags ~ '^[0-9]{8}$'),
    street              text,
    street_key          text,
    house_number        text,
    house_number_suffix text,
    postcode            text,
    place               text,
    geom                geometry(Point, 25832) NOT NULL,
    dataset_version_id  bigint NOT NULL REFERENCES dataset_version (id)
) PARTITION BY LIST (dataset_version_id)
"""

MUNICIPALITY = """
CREATE TABLE municipality (
    ags                char(8) NOT NULL CHECK (ags ~ '^[0-9]{8}$'),
    ars                char(12) CHECK (ars ~ '^[0-9]{12}$'),
    name               text,
    district           text,
    geom               geometry(MultiPolygon, 25832) NOT NULL,
    dataset_version_id bigint NOT NULL REFERENCES dataset_version (id),
    PRIMARY KEY (ags, dataset_version_id)
) PARTITION BY LIST (dataset_version_id)
"""

INDEXES = [
    "CREATE INDEX municipality_geom ON municipality USING gist (geom)",
    "CREATE INDEX municipality_name_search ON municipality "
    "USING gin (fold_german(name) gin_trgm_ops)",
    "CREATE INDEX parcel_geom ON parcel USING gist (geom)",
    "CREATE INDEX parcel_ags ON parcel (ags)",
    "CREATE INDEX parcel_gemarkung_flur ON parcel (gemarkung, flur)",
    "CREATE INDEX building_geom ON building USING gist (geom)",
    "CREATE INDEX building_ags ON building (ags)",
    "CREATE INDEX building_function ON building (function_code)",
    "CREATE INDEX land_use_geom ON land_use USING gist (geom)",
    "CREATE INDEX land_use_nutzart ON land_use (nutzart)",
    "CREATE INDEX address_geom ON address USING gist (geom)",
    "CREATE INDEX address_street ON address (ags, fold_german(street), house_number)",
]


CATALOGUE = [
    # a source may load several tables (layers): versions are per source, table and layer
    "ALTER TABLE dataset_version ADD COLUMN target_table text",
    "ALTER TABLE dataset_version ADD COLUMN layer text",
    "UPDATE dataset_version v SET target_table = s.target_table, layer = s.target_table "
    "FROM source s WHERE s.id = v.source_id",
    "ALTER TABLE dataset_version ALTER COLUMN target_table SET NOT NULL",
    "ALTER TABLE dataset_version ALTER COLUMN layer SET NOT NULL",
    "DROP INDEX dataset_version_one_current",
    "CREATE UNIQUE INDEX dataset_version_one_current ON dataset_version "
    "(source_id, target_table, layer) WHERE status = 'current'",
    "ALTER TABLE source DROP COLUMN target_table",
    "ALTER TABLE harvest_run ADD COLUMN dataset_version_ids bigint[] NOT NULL DEFAULT '{}'",
    "UPDATE harvest_run SET dataset_version_ids = ARRAY[dataset_version_id] "
    "WHERE dataset_version_id IS NOT NULL",
    "ALTER TABLE harvest_run DROP COLUMN dataset_version_id",
    "ALTER TABLE harvest_run ADD COLUMN records_repaired integer NOT NULL DEFAULT 0",
    # what the conditional GET of the next run needs: ETag, Last-Modified, file, checksum
    "ALTER TABLE harvest_run ADD COLUMN fetch_info jsonb",
    """
    CREATE TABLE repaired_record (
        id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        harvest_run_id bigint NOT NULL REFERENCES harvest_run (id) ON DELETE CASCADE,
        record_ref     text NOT NULL,
        reason         text NOT NULL,
        created_at     timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX repaired_record_run ON repaired_record (harvest_run_id)",
]


def upgrade() -> None:
    for ddl in CATALOGUE:
        op.execute(ddl)
    op.execute("ALTER TABLE municipality RENAME TO municipality_unpartitioned")
    for name in ("municipality_geom", "municipality_version", "municipality_name_search"):
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.execute(
        """
        DO $$
        DECLARE pk text;
        BEGIN
          SELECT conname INTO pk FROM pg_constraint
          WHERE conrelid = 'municipality_unpartitioned'::regclass AND contype = 'p';
          EXECUTE format('ALTER TABLE municipality_unpartitioned DROP CONSTRAINT %I', pk);
        END $$
        """
    )
    for ddl in (MUNICIPALITY, PARCEL, BUILDING, LAND_USE, ADDRESS):
        op.execute(ddl)
    for ddl in INDEXES:
        op.execute(ddl)
    # move loaded boundaries into one partition per dataset version
    op.execute(
        """
        DO $$
        DECLARE v bigint;
        BEGIN
          FOR v IN SELECT DISTINCT dataset_version_id FROM municipality_unpartitioned LOOP
            EXECUTE format(
              'CREATE TABLE %I PARTITION OF municipality FOR VALUES IN (%s)',
              'municipality_v' || v, v);
            EXECUTE format(
              'INSERT INTO municipality SELECT ags, ars, name, district, geom, '
              'dataset_version_id FROM municipality_unpartitioned WHERE dataset_version_id = %s',
              v);
          END LOOP;
        END $$
        """
    )
    op.execute("DROP TABLE municipality_unpartitioned")


def downgrade() -> None:
    op.execute("DROP TABLE repaired_record")
    op.execute("ALTER TABLE harvest_run DROP COLUMN fetch_info")
    op.execute("ALTER TABLE harvest_run DROP COLUMN records_repaired")
    op.execute(
        "ALTER TABLE harvest_run ADD COLUMN dataset_version_id bigint "
        "REFERENCES dataset_version (id)"
    )
    op.execute("UPDATE harvest_run SET dataset_version_id = dataset_version_ids[1]")
    op.execute("ALTER TABLE harvest_run DROP COLUMN dataset_version_ids")
    op.execute("ALTER TABLE source ADD COLUMN target_table text")
    op.execute(
        "UPDATE source s SET target_table = coalesce((SELECT max(target_table) FROM "
        "dataset_version v WHERE v.source_id = s.id), 'municipality')"
    )
    op.execute("ALTER TABLE source ALTER COLUMN target_table SET NOT NULL")
    op.execute("DROP INDEX dataset_version_one_current")
    op.execute(
        "CREATE UNIQUE INDEX dataset_version_one_current ON dataset_version (source_id) "
        "WHERE status = 'current'"
    )
    op.execute("ALTER TABLE dataset_version DROP COLUMN layer")
    op.execute("ALTER TABLE dataset_version DROP COLUMN target_table")
    for table in ("address", "land_use", "building", "parcel"):
        op.execute(f"DROP TABLE {table}")
    op.execute("ALTER TABLE municipality RENAME TO municipality_partitioned")
    op.execute(
        """
        CREATE TABLE municipality (
            ags char(8) PRIMARY KEY CHECK (ags ~ '^[0-9]{8}$'),
            ars char(12) CHECK (ars ~ '^[0-9]{12}$'),
            name text, district text,
            geom geometry(MultiPolygon, 25832) NOT NULL,
            dataset_version_id bigint NOT NULL REFERENCES dataset_version (id)
        )
        """
    )
    op.execute(
        "INSERT INTO municipality SELECT DISTINCT ON (ags) * FROM municipality_partitioned "
        "ORDER BY ags, dataset_version_id DESC"
    )
    op.execute("DROP TABLE municipality_partitioned")
    op.execute("CREATE INDEX municipality_geom ON municipality USING gist (geom)")
    op.execute("CREATE INDEX municipality_version ON municipality (dataset_version_id)")
    op.execute(
        "CREATE INDEX municipality_name_search ON municipality "
        "USING gin (fold_german(name) gin_trgm_ops)"
    )
