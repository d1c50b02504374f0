"""The web face: static files (vendored, no CDN) and HTML pages."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

STATIC_DIR = Path(str(resources.files("planungsdaten.web").joinpath("static")))


def index_page() -> str:
    """The start page (German)."""
    return resources.files("planungsdaten.web").joinpath("index.html").read_text("utf-8")
