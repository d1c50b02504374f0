"""Alembic environment: runs online against the connection handed in, or the configured URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from planungsdaten.db.engine import make_engine
from planungsdaten.settings import DatabaseSettings


def run(connection: Connection) -> None:
    context.configure(connection=connection, transaction_per_migration=False)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run(connection)
else:  # `alembic upgrade head` from the command line, with PLANUNGSDATEN_DATABASE_URL set
    with make_engine(DatabaseSettings()).begin() as conn:
        run(conn)
