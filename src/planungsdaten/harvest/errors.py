"""Errors of harvesting."""

from __future__ import annotations

from planungsdaten.errors import PlanungsdatenError


class HarvestError(PlanungsdatenError):
    """Base class: a harvest failed; the previously loaded version stays served."""


class SourceDefinitionError(HarvestError):
    """A source definition file is missing, unreadable or invalid."""


class UnknownSourceError(HarvestError):
    """No definition with the requested id."""


class FetchError(HarvestError):
    """The source could not be fetched (missing file, HTTP error, too large)."""


class SourceFormatError(HarvestError):
    """The fetched file cannot be read in the declared format."""


class ConflictError(HarvestError):
    """Records collide with those another source has loaded."""


class NothingLoadedError(HarvestError):
    """Every record was rejected or skipped: replacing the served data with nothing is refused."""
