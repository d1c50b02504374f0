"""Errors of reading, checking and converting rasters (messages in German: operators read them)."""

from __future__ import annotations

from planungsdaten.errors import PlanungsdatenError


class RasterError(PlanungsdatenError):
    """Base class: a raster cannot be taken over; whatever was served stays served."""


class RasterFormatError(RasterError):
    """The file is no readable GeoTIFF: corrupt, truncated, another format, no georeference."""


class RasterCrsError(RasterError):
    """The raster has no CRS, or another one than the source definition declares."""


class RasterExtentError(RasterError):
    """The raster lies outside the service area (usually a wrong CRS)."""


class RasterBandsError(RasterError):
    """The file's bands do not match the bands the source definition describes."""
