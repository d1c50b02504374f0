"""Errors of the database layer."""

from __future__ import annotations

from planungsdaten.errors import PlanungsdatenError


class DatabaseError(PlanungsdatenError):
    """Base class of database-layer failures."""


class PostgresNotInstalledError(DatabaseError):
    """No PostgreSQL server binaries (initdb, pg_ctl) were found."""


class PostgisNotInstalledError(DatabaseError):
    """PostgreSQL is there but the PostGIS extension is not."""


class ClusterError(DatabaseError):
    """The managed cluster could not be initialised, started or stopped."""


class DatabaseUnavailableError(DatabaseError):
    """The database cannot be reached."""
