"""The base of every error the package raises on purpose; subsystems subclass it."""

from __future__ import annotations


class PlanungsdatenError(Exception):
    """Base class: the message says what was wrong and, where possible, what to do."""


class NotFoundError(PlanungsdatenError):
    """A requested object does not exist."""


class InvalidRequestError(PlanungsdatenError):
    """A request parameter is malformed."""


class InvalidAGSError(InvalidRequestError):
    """An Amtlicher Gemeindeschlüssel that is not eight digits."""

    def __init__(self, value: str) -> None:
        super().__init__(
            f"'{value}' ist kein gültiger Amtlicher Gemeindeschlüssel (AGS): "
            "erwartet werden genau 8 Ziffern, z. B. 15088235."
        )
        self.value = value


class MunicipalityNotFoundError(NotFoundError):
    """No municipality with this AGS is loaded."""

    def __init__(self, ags: str) -> None:
        super().__init__(
            f"Keine Gemeinde mit dem AGS {ags} gefunden. "
            "Die Suche unter /api/municipalities?q=… listet die geladenen Gemeinden."
        )
        self.ags = ags


class AuthenticationError(PlanungsdatenError):
    """A key or token was given but is not valid (unknown, revoked, expired) → 401."""


class ForbiddenError(PlanungsdatenError):
    """The caller is known but may not do this (role or municipality) → 403."""


class RateLimitError(PlanungsdatenError):
    """Too many requests of one caller in the window → 429; `retry_after_s` says when."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PayloadTooLargeError(InvalidRequestError):
    """A request body or upload above its limit → 413."""
