"""Jinja2 environments for the HTML a subsystem renders from its `templates/` folder."""

from __future__ import annotations

import functools
from importlib import resources

from jinja2 import BaseLoader, Environment, FileSystemLoader, PackageLoader


@functools.cache
def environment(package: str) -> Environment:
    """The autoescaping environment of `<package>/templates`."""
    loader: BaseLoader
    try:
        loader = PackageLoader(package, "templates")
    except ValueError:  # an install that does not expose the package as a directory
        loader = FileSystemLoader(str(resources.files(package) / "templates"))
    return Environment(loader=loader, autoescape=True, trim_blocks=True, lstrip_blocks=True)
