"""Planning package jobs: the queue the workers share, and each caller's requests.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

STATEMENTS = [
    # One row per request of a caller. A worker claims a queued row with FOR UPDATE SKIP
    # LOCKED and holds an advisory lock on it while it builds: a running row whose lock is
    # free belongs to a worker that died, and is built again.
    """
    CREATE TABLE package_job (
        id              uuid PRIMARY KEY,
        owner           text NOT NULL,
        cache_key       char(64) NOT NULL,
        request         jsonb NOT NULL,
        area_name       text NOT NULL,
        area            geometry(MultiPolygon, 25832) NOT NULL,
        ags             text[] NOT NULL,
        restricted_ags  text[] NOT NULL DEFAULT '{}',
        versions        jsonb NOT NULL,
        status          text NOT NULL DEFAULT 'queued'
                        CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
        progress        smallint NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
        step            text NOT NULL DEFAULT 'wartet auf einen freien Arbeitsprozess',
        attempts        smallint NOT NULL DEFAULT 0,
        worker          text,
        cached_from     uuid REFERENCES package_job (id),
        file_name       text,
        file_size       bigint,
        file_sha256     char(64),
        error           text,
        created_at      timestamptz NOT NULL DEFAULT now(),
        started_at      timestamptz,
        finished_at     timestamptz
    )
    """,
    "CREATE INDEX package_job_waiting ON package_job (created_at) "
    "WHERE status IN ('queued', 'running')",
    "CREATE INDEX package_job_cache ON package_job (cache_key) WHERE status = 'succeeded'",
    "CREATE INDEX package_job_owner ON package_job (owner, created_at DESC)",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE package_job")
