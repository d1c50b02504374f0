"""SQLAlchemy engines for PostGIS (psycopg 3 driver)."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError

from planungsdaten.db.errors import DatabaseUnavailableError
from planungsdaten.settings import DatabaseSettings


def sqlalchemy_url(url: str) -> URL:
    """Normalise postgres:// and postgresql:// URLs to the psycopg 3 dialect."""
    parsed = make_url(url)
    if parsed.get_backend_name() not in ("postgresql", "postgres"):
        raise DatabaseUnavailableError(f"not a PostgreSQL URL: {parsed.drivername}://…")
    return parsed.set(drivername="postgresql+psycopg")


def make_engine(settings: DatabaseSettings, *, read_only: bool = False) -> Engine:
    """Engine for the primary, or for the read replica when `read_only` and one is configured."""
    secret = settings.read_url if read_only and settings.read_url else settings.url
    if secret is None:
        raise DatabaseUnavailableError(
            "no database URL: set PLANUNGSDATEN_DATABASE_URL or start the managed cluster"
        )
    options = f"-c statement_timeout={settings.statement_timeout_ms} -c timezone=UTC"
    return create_engine(
        sqlalchemy_url(secret.get_secret_value()),
        pool_size=settings.pool_size,
        pool_pre_ping=True,
        connect_args={"options": options, "application_name": "planungsdaten"},
    )


def check_connection(engine: Engine) -> str:
    """PostGIS version of the database, or a typed error saying why it cannot be reached."""
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SELECT postgis_lib_version()")).scalar_one()
    except OperationalError as e:
        raise DatabaseUnavailableError(
            f"Datenbank nicht erreichbar ({engine.url.host}:{engine.url.port}): {e.orig}"
        ) from e
    return str(version)
