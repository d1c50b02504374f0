"""API keys (salted hashes only), the log of packages with restricted data, and the client
address of package requests (anonymous callers are rate-limited by it).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

STATEMENTS = [
    # A key is `pdk_<id>_<secret>`: `id` finds the row, the secret is kept only as
    # sha256(salt || secret). Keys are random (256 bit), so a slow hash would add nothing.
    """
    CREATE TABLE api_key (
        id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9]{10}$'),
        name        text NOT NULL,
        role        text NOT NULL CHECK (role IN ('planner', 'operator')),
        ags         text[] NOT NULL DEFAULT '{}',
        salt        bytea NOT NULL,
        hash        bytea NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now(),
        revoked_at  timestamptz
    )
    """,
    # who received restricted (personal) data, when, of which municipalities, which layers
    """
    CREATE TABLE restricted_access_log (
        id              bigserial PRIMARY KEY,
        at              timestamptz NOT NULL DEFAULT now(),
        subject         text NOT NULL,
        role            text NOT NULL,
        package_job_id  uuid NOT NULL REFERENCES package_job (id),
        ags             text[] NOT NULL,
        layers          text[] NOT NULL,
        area_name       text NOT NULL,
        client_address  inet
    )
    """,
    "CREATE INDEX restricted_access_log_at ON restricted_access_log (at DESC)",
    "ALTER TABLE package_job ADD COLUMN client_address inet",
    "CREATE INDEX package_job_client ON package_job (client_address, created_at DESC)",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP INDEX package_job_client")
    op.execute("ALTER TABLE package_job DROP COLUMN client_address")
    op.execute("DROP TABLE restricted_access_log")
    op.execute("DROP TABLE api_key")
