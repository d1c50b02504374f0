"""planungsdaten: open planning data and ISEK/IGEK packages for Sachsen-Anhalt."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("planungsdaten")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"
