"""Fetch protocols of the harvest engine: HTTP, ZIP archives, WFS, OGC API Features, ATOM."""

from planungsdaten.harvest.protocols.archive import find_member, safe_extract
from planungsdaten.harvest.protocols.atom import resolve_atom
from planungsdaten.harvest.protocols.http import Download, HttpCache, HttpStatusError, download
from planungsdaten.harvest.protocols.ogcapi import fetch_ogcapi_features
from planungsdaten.harvest.protocols.wfs import combined_sha256, fetch_wfs

__all__ = [
    "Download",
    "HttpCache",
    "HttpStatusError",
    "combined_sha256",
    "download",
    "fetch_ogcapi_features",
    "fetch_wfs",
    "find_member",
    "resolve_atom",
    "safe_extract",
]
