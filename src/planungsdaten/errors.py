"""The base of every error the package raises on purpose; subsystems subclass it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


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


_VALIDATION_MESSAGES = {
    "missing": "fehlt",
    "extra_forbidden": "ist kein bekanntes Feld",
    "string_type": "muss Text sein",
    "list_type": "muss eine Liste sein",
    "dict_type": "muss ein JSON-Objekt sein",
    "model_type": "muss ein JSON-Objekt sein",
    "model_attributes_type": "muss ein JSON-Objekt sein",
    "string_too_long": "ist zu lang (höchstens {max_length} Zeichen)",
    "string_too_short": "ist zu kurz (mindestens {min_length} Zeichen)",
    "too_long": "hat zu viele Einträge (höchstens {max_length})",
    "int_type": "muss eine ganze Zahl sein",
    "int_parsing": "muss eine ganze Zahl sein",
    "int_from_float": "muss eine ganze Zahl sein",
    "float_parsing": "muss eine Zahl sein",
    "bool_parsing": "muss true oder false sein",
    "uuid_parsing": "muss eine UUID sein",
    "greater_than_equal": "muss mindestens {ge} sein",
    "greater_than": "muss größer als {gt} sein",
    "less_than_equal": "darf höchstens {le} sein",
    "less_than": "muss kleiner als {lt} sein",
    "string_pattern_mismatch": "hat nicht die erwartete Form ({pattern})",
    "enum": "muss einer dieser Werte sein: {expected}",
    "literal_error": "muss einer dieser Werte sein: {expected}",
    "json_invalid": "ist kein gültiges JSON",
}


def german_validation_message(item: Mapping[str, Any]) -> str:
    """One pydantic validation failure in German (its own message where none is known)."""
    context = item.get("ctx") or {}
    if item["type"] == "value_error":
        return str(context.get("error", item["msg"]))
    template = _VALIDATION_MESSAGES.get(item["type"])
    if template is None:
        return str(item["msg"])
    try:
        return template.format(**context)
    except (KeyError, IndexError):
        return template.split(" (")[0]
