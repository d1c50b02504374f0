"""Get a source's file onto the local disk and fingerprint it (sha256)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from planungsdaten.harvest.errors import FetchError
from planungsdaten.harvest.sources import FileProtocol, HttpProtocol, SourceDefinition
from planungsdaten.settings import HarvestSettings

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Fetched:
    """A fetched file: where it lies, its checksum and size."""

    path: Path
    sha256: str
    size: int


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch_file(source: SourceDefinition, protocol: FileProtocol) -> Fetched:
    path = source.resolve(protocol.path)
    if not path.is_file():
        raise FetchError(f"Quelle '{source.id}': Datei nicht gefunden: {path}")
    return Fetched(path=path, sha256=sha256_file(path), size=path.stat().st_size)


def _fetch_http(
    source: SourceDefinition, protocol: HttpProtocol, raw_dir: Path, settings: HarvestSettings
) -> Fetched:
    target_dir = raw_dir / source.id
    target_dir.mkdir(parents=True, exist_ok=True)
    name = Path(urlsplit(protocol.url).path).name or "download"
    digest = hashlib.sha256()
    size = 0
    fd, partial = tempfile.mkstemp(dir=target_dir, prefix=".partial-")
    try:
        with (
            os.fdopen(fd, "wb") as out,
            httpx.stream(
                "GET", protocol.url, timeout=settings.http_timeout_s, follow_redirects=True
            ) as response,
        ):
            if response.status_code != 200:
                raise FetchError(
                    f"Quelle '{source.id}': {protocol.url} antwortete mit HTTP "
                    f"{response.status_code}"
                )
            for chunk in response.iter_bytes(_CHUNK):
                size += len(chunk)
                if size > settings.max_download_bytes:
                    raise FetchError(
                        f"Quelle '{source.id}': Download größer als "
                        f"{settings.max_download_bytes} Bytes, abgebrochen"
                    )
                digest.update(chunk)
                out.write(chunk)
    except httpx.HTTPError as e:
        Path(partial).unlink(missing_ok=True)
        raise FetchError(
            f"Quelle '{source.id}': Download von {protocol.url} fehlgeschlagen: {e}"
        ) from e
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    final = target_dir / f"{digest.hexdigest()[:16]}-{name}"
    os.replace(partial, final)
    return Fetched(path=final, sha256=digest.hexdigest(), size=size)


def fetch(source: SourceDefinition, raw_dir: Path, settings: HarvestSettings) -> Fetched:
    """The source's file on local disk; downloads are kept under raw_dir with their checksum."""
    protocol = source.protocol
    if isinstance(protocol, FileProtocol):
        return _fetch_file(source, protocol)
    return _fetch_http(source, protocol, raw_dir, settings)
