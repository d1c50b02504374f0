"""Errors of the package builder; each message tells the planner what to change."""

from __future__ import annotations

from planungsdaten.errors import InvalidRequestError, NotFoundError, PlanungsdatenError


class PackageError(PlanungsdatenError):
    """Base class of the package builder's errors."""


class InvalidPackageRequestError(InvalidRequestError, PackageError):
    """The request itself is wrong: area, theme, option or JSON."""


class MalformedRequestError(InvalidPackageRequestError):
    """The body is no JSON (or too large) and cannot be read at all."""


class RequestTooLargeError(MalformedRequestError):
    """The body is larger than allowed."""


class PackageNotFoundError(NotFoundError, PackageError):
    """No package with this id (for this caller)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            f"Kein Datenpaket mit der Kennung {job_id}. Die Liste unter /api/packages zeigt "
            "Ihre Pakete."
        )


class PackageNotReadyError(PackageError):
    """The package is still being built, or its build failed."""


class PackageBuildError(PackageError):
    """A build failed for a reason other than the request (data, disk, database)."""


class BuildInterruptedError(PackageError):
    """The worker was asked to stop; the job goes back to the queue."""
