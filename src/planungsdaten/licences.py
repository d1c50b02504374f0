"""The dcat-ap.de licence vocabulary: the German name of each licence and where its text is."""

from __future__ import annotations

# licence URI (http, no trailing slash) → (German name, page with the licence text)
LICENCES: dict[str, tuple[str, str]] = {
    "http://dcat-ap.de/def/licenses/dl-by-de/2.0": (
        "Datenlizenz Deutschland – Namensnennung – Version 2.0",
        "https://www.govdata.de/dl-de/by-2-0",
    ),
    "http://dcat-ap.de/def/licenses/dl-zero-de/2.0": (
        "Datenlizenz Deutschland – Zero – Version 2.0",
        "https://www.govdata.de/dl-de/zero-2-0",
    ),
    "http://dcat-ap.de/def/licenses/cc-by/4.0": (
        "Creative Commons Namensnennung 4.0 International (CC BY 4.0)",
        "https://creativecommons.org/licenses/by/4.0/",
    ),
    "http://dcat-ap.de/def/licenses/cc-by-sa/4.0": (
        "Creative Commons Namensnennung – Weitergabe unter gleichen Bedingungen 4.0 "
        "International (CC BY-SA 4.0)",
        "https://creativecommons.org/licenses/by-sa/4.0/",
    ),
    "http://dcat-ap.de/def/licenses/cc-zero": (
        "CC0 1.0",
        "https://creativecommons.org/publicdomain/zero/1.0/",
    ),
}


def licence_key(uri: str) -> str:
    """A licence URI normalised for the lookup (scheme, trailing slash)."""
    key = uri.strip().rstrip("/")
    if key.startswith("https://"):
        key = "http://" + key.removeprefix("https://")
    return key


def licence_page(uri: str) -> tuple[str, str] | None:
    """(German name, licence text URL) of a known licence, else None."""
    return LICENCES.get(licence_key(uri))


def licence_name(uri: str) -> str:
    """The German name of a dcat-ap.de licence; unknown URIs as they are."""
    known = licence_page(uri)
    return known[0] if known else uri.strip()
