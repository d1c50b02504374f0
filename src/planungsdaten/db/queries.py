"""Static SQL kept in `db/sql/*.sql`, loaded once by name."""

from __future__ import annotations

from functools import cache
from importlib import resources

from sqlalchemy import TextClause, text


@cache
def query(name: str, package: str = "planungsdaten.db") -> TextClause:
    """The statement in `<package>/sql/<name>.sql` as a SQLAlchemy text clause (bind params
    `:name`)."""
    source = resources.files(package).joinpath("sql", f"{name}.sql").read_text("utf-8")
    return text(source)
