"""Apply the Alembic migrations: the only way the schema changes."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from planungsdaten.settings import PROJECT_DIR

MIGRATIONS_DIR = PROJECT_DIR / "migrations"


def alembic_config(migrations_dir: Path = MIGRATIONS_DIR) -> Config:
    """Alembic configuration without an ini file; the connection is passed in."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    return cfg


# several service processes may start at once: one migrates, the others wait
_MIGRATION_LOCK = 4_711_001


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to `revision` inside one transaction."""
    cfg = alembic_config()
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def head_revision() -> str | None:
    """The newest revision the code knows."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, None before the first migration."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
