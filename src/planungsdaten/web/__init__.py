"""The web face: HTML pages (`pages`, `templates/`) and static files (vendored, no CDN)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

STATIC_DIR = Path(str(resources.files("planungsdaten.web").joinpath("static")))
