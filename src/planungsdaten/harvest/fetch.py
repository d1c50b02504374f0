"""Get a source's files onto the local disk and fingerprint them (sha256).

Downloads are kept under `<data_dir>/raw/<source id>/` with their checksum in the name;
ZIP archives are unpacked there safely unless GDAL reads the member in place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planungsdaten.checksums import sha256_file
from planungsdaten.harvest.errors import FetchError
from planungsdaten.harvest.protocols.archive import find_member, safe_extract
from planungsdaten.harvest.protocols.atom import resolve_atom
from planungsdaten.harvest.protocols.http import Download, HttpCache, download
from planungsdaten.harvest.protocols.ogcapi import fetch_ogcapi_features
from planungsdaten.harvest.protocols.wfs import combined_sha256, fetch_wfs
from planungsdaten.harvest.sources import (
    AtomProtocol,
    FileProtocol,
    HttpProtocol,
    OgcApiProtocol,
    SourceDefinition,
    WfsProtocol,
)
from planungsdaten.settings import Settings

_DATASET_SUFFIXES = (".gpkg", ".shp", ".geojson", ".json", ".gml", ".xml", ".csv", ".txt")
_RASTER_SUFFIXES = (".tif", ".tiff")
# formats whose ZIPs are unpacked (GDAL's /vsizip/ would read a raster's blocks slowly)
_UNPACKED = ("nas", "csv", "jawe", "geotiff")


@dataclass(frozen=True)
class Fetched:
    """Fetched files (several for paged services), their combined checksum and size."""

    paths: list[Path]
    sha256: str
    size: int
    fetch_info: dict[str, Any] = field(default_factory=dict)
    layer_paths: dict[str, list[Path]] = field(default_factory=dict)

    def paths_for(self, layer: str | None) -> list[Path]:
        """The files holding `layer` (WFS: one set of pages per feature type)."""
        if layer is not None and layer in self.layer_paths:
            return self.layer_paths[layer]
        return self.paths


def _unpack(source: SourceDefinition, archive: Path, settings: Settings) -> list[Path]:
    """The dataset file(s) of a download. GDAL opens vector ZIPs itself (`/vsizip/`); NAS,
    CSV and raster archives are unpacked, safely, beside the download."""
    if archive.suffix.lower() != ".zip" or source.format.type not in _UNPACKED:
        return [archive]
    dest = archive.with_name(archive.name + ".d")
    if not dest.exists():
        safe_extract(archive, dest, max_total_bytes=settings.harvest.max_download_bytes)
    if source.format.member:
        member = dest / source.format.member
        if not member.is_file():
            raise FetchError(
                f"Quelle '{source.id}': {source.format.member} ist nicht im Archiv {archive.name}"
            )
        return [member]
    files = sorted(p for p in dest.rglob("*") if p.is_file())
    suffixes = _RASTER_SUFFIXES if source.format.type == "geotiff" else _DATASET_SUFFIXES
    return [find_member(files, suffixes)]


def _cache(previous: dict[str, Any] | None) -> HttpCache | None:
    # a previous run with another protocol (a local file, a WFS) left no HTTP validators
    if not previous or "path" not in previous or "sha256" not in previous:
        return None
    path = Path(previous["path"])
    if not path.is_file():
        return None
    return HttpCache(
        path=path,
        sha256=previous["sha256"],
        etag=previous.get("etag"),
        last_modified=previous.get("last_modified"),
    )


def _from_downloads(downloads: list[Download]) -> Fetched:
    if not downloads:
        raise FetchError("der Dienst lieferte keine Daten")
    return Fetched(
        paths=[d.path for d in downloads],
        sha256=combined_sha256(downloads) if len(downloads) > 1 else downloads[0].sha256,
        size=sum(d.size for d in downloads),
        fetch_info={"urls": [d.url for d in downloads]},
    )


def fetch(source: SourceDefinition, settings: Settings, previous: Any = None) -> Fetched:
    """The source's files on local disk. `previous` is the last run's fetch_info row."""
    protocol = source.protocol
    raw_dir = settings.raw_dir / source.id
    info = getattr(previous, "fetch_info", None) if previous is not None else None
    if isinstance(protocol, FileProtocol):
        path = source.resolve(protocol.path)
        if not path.is_file():
            raise FetchError(f"Quelle '{source.id}': Datei nicht gefunden: {path}")
        return Fetched(
            _unpack(source, path, settings),
            sha256_file(path),
            path.stat().st_size,
            {"path": str(path)},
        )
    raw_dir.mkdir(parents=True, exist_ok=True)
    if isinstance(protocol, HttpProtocol):
        got = download(protocol.url, raw_dir, settings=settings.harvest, previous=_cache(info))
        meta = {
            "path": str(got.path),
            "sha256": got.sha256,
            "etag": got.etag,
            "last_modified": got.last_modified,
            "url": got.url,
        }
        return Fetched(_unpack(source, got.path, settings), got.sha256, got.size, meta)
    if isinstance(protocol, WfsProtocol):
        pages: list[Download] = []
        by_layer: dict[str, list[Path]] = {}
        for type_name in protocol.type_names:
            got_pages = fetch_wfs(
                protocol.url,
                type_name,
                raw_dir,
                settings=settings.harvest,
                page_size=protocol.page_size,
                srs_name=protocol.srs_name,
                output_format=protocol.output_format,
            )
            pages.extend(got_pages)
            # GDAL names a GML layer by the local part of the feature type
            by_layer[type_name] = by_layer[type_name.split(":")[-1]] = [p.path for p in got_pages]
        fetched = _from_downloads(pages)
        return Fetched(fetched.paths, fetched.sha256, fetched.size, fetched.fetch_info, by_layer)
    if isinstance(protocol, OgcApiProtocol):
        return _from_downloads(
            fetch_ogcapi_features(
                protocol.url,
                protocol.collection,
                raw_dir,
                settings=settings.harvest,
                limit=protocol.limit,
                crs=protocol.crs,
            )
        )
    assert isinstance(protocol, AtomProtocol)
    links = resolve_atom(
        protocol.url, settings=settings.harvest, dataset_id=protocol.dataset_id, crs=protocol.crs
    )
    files: list[Path] = []
    downloads: list[Download] = []
    for link in links:
        got = download(link, raw_dir, settings=settings.harvest)
        downloads.append(got)
        files.extend(_unpack(source, got.path, settings))
    fetched = _from_downloads(downloads)
    return Fetched(files, fetched.sha256, fetched.size, fetched.fetch_info)
