"""Download one file over HTTP(S): streamed to disk, fingerprinted, retried, conditional.

Redirects are followed here, not by httpx, so that every hop's address is checked
(`hosts.check_url`) before a connection is made."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass
from email.message import Message
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx

from planungsdaten.harvest.errors import FetchError
from planungsdaten.harvest.hosts import check_url, display_url
from planungsdaten.settings import HarvestSettings

logger = logging.getLogger(__name__)

_ERROR_BODY_BYTES = 64 * 1024
_MAX_RETRY_AFTER_S = 300.0
_OK = frozenset({200, 203})


@dataclass(frozen=True)
class Download:
    """A downloaded file (or the unchanged previous one after HTTP 304)."""

    path: Path
    sha256: str
    size: int
    etag: str | None
    last_modified: str | None
    not_modified: bool
    url: str


@dataclass(frozen=True)
class HttpCache:
    """What a previous download left behind, for a conditional GET."""

    path: Path
    sha256: str
    etag: str | None
    last_modified: str | None


class HttpStatusError(FetchError):
    """The server refused the request with a status that is not worth retrying."""

    def __init__(self, message: str, *, status: int, body: bytes) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class _Retry(Exception):
    """A transient failure of one attempt; `reason` is the German text for the operator."""

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        dropped: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.dropped = dropped
        self.retry_after = retry_after


def format_bytes(size: int) -> str:
    """A byte count as German text, e.g. "1,2 MB"."""
    if size < 1000:
        return f"{size} Bytes"
    value = float(size)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            break
    return f"{value:.1f} {unit}".replace(".", ",")


def _format_int(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def _format_seconds(value: float) -> str:
    return f"{value:g} s".replace(".", ",")


def _attempts(count: int) -> str:
    return "1 Versuch" if count == 1 else f"{count} Versuchen"


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^\w.\-]+", "_", Path(name.replace("\\", "/")).name).lstrip("._")
    return cleaned[-120:] or "download"


def _file_name(response: httpx.Response, name: str | None) -> str:
    if name:
        return _safe_name(name)
    disposition = response.headers.get("content-disposition")
    if disposition:
        message = Message()
        message["content-disposition"] = disposition
        filename = message.get_filename()
        if filename:
            return _safe_name(filename)
    return _safe_name(Path(response.request.url.path).name)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    if value.strip().isdigit():
        return min(float(value), _MAX_RETRY_AFTER_S)
    try:
        seconds = parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError):
        return None
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER_S)


def _status_hint(status: int) -> str:
    if status in (404, 410):
        return " – die Adresse in der Quelldefinition prüfen"
    if status in (401, 403):
        return " – Zugang verweigert; Zugangsdaten oder Freischaltung prüfen"
    return ""


def _conditional_headers(previous: HttpCache | None) -> dict[str, str]:
    if previous is None or not previous.path.is_file():
        return {}
    headers: dict[str, str] = {}
    if previous.etag:
        headers["If-None-Match"] = previous.etag
    if previous.last_modified:
        headers["If-Modified-Since"] = previous.last_modified
    return headers


class _Transfer:
    """One download with its deadline; `attempt` makes one try."""

    def __init__(
        self,
        url: httpx.URL,
        dest_dir: Path,
        settings: HarvestSettings,
        previous: HttpCache | None,
        name: str | None,
    ) -> None:
        self.url = url
        self.shown = display_url(url)
        self.dest_dir = dest_dir
        self.settings = settings
        self.previous = previous
        self.name = name
        self.headers = _conditional_headers(previous)
        self.deadline = time.monotonic() + settings.http_total_timeout_s

    def deadline_error(self, last: _Retry | None = None) -> FetchError:
        total = _format_seconds(self.settings.http_total_timeout_s)
        before = f"; zuletzt: {last.reason}" if last is not None else ""
        return FetchError(
            f"Download von {self.shown} fehlgeschlagen: Zeitüberschreitung – "
            f"Gesamtdauer von {total} überschritten (Einstellung http_total_timeout_s){before}"
        )

    def attempt(self, client: httpx.Client) -> Download:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise self.deadline_error()
        read_timeout = min(self.settings.http_timeout_s, remaining)
        received: list[httpx.Response] = []
        try:
            response = self._send(client, httpx.Timeout(read_timeout))
            received.append(response)
            try:
                return self._receive(response)
            finally:
                response.close()
        except httpx.TimeoutException as e:
            if time.monotonic() >= self.deadline:
                raise self.deadline_error() from e
            what = "keine Verbindung" if isinstance(e, httpx.ConnectTimeout) else "keine Daten"
            raise _Retry(
                f"Zeitüberschreitung: {what} innerhalb von {_format_seconds(read_timeout)} "
                "(Einstellung http_timeout_s)"
            ) from e
        except httpx.ConnectError as e:
            raise _Retry(f"Server nicht erreichbar ({e})") from e
        except (httpx.RemoteProtocolError, httpx.ReadError) as e:
            got = received[0].num_bytes_downloaded if received else 0
            raise _Retry(f"Verbindung nach {format_bytes(got)} unterbrochen", dropped=True) from e
        except httpx.NetworkError as e:
            raise _Retry(f"Netzwerkfehler ({e})") from e
        except httpx.HTTPError as e:
            raise FetchError(f"Download von {self.shown} fehlgeschlagen: {e}") from e

    def _send(self, client: httpx.Client, timeout: httpx.Timeout) -> httpx.Response:
        """The streamed response, redirects followed; each hop is checked before it is sent."""
        request = client.build_request("GET", self.url, headers=self.headers, timeout=timeout)
        via: str | None = None
        for _ in range(client.max_redirects + 1):
            check_url(request.url, self.settings, via=via)
            response = client.send(request, stream=True, follow_redirects=False)
            if response.next_request is None:
                return response
            response.close()
            via = f"Weiterleitung von {display_url(request.url)}"
            request = response.next_request
        raise FetchError(
            f"Download von {self.shown} fehlgeschlagen: mehr als {client.max_redirects} "
            "Weiterleitungen"
        )

    def _receive(self, response: httpx.Response) -> Download:
        status = response.status_code
        if status == 304 and self.previous is not None and self.headers:
            return self._not_modified(response)
        if status == 429 or status >= 500:
            raise _Retry(
                f"Server antwortete mit HTTP {status}",
                status=status,
                retry_after=_retry_after(response),
            )
        if status not in _OK:
            body = self._error_body(response)
            raise HttpStatusError(
                f"Download von {self.shown} fehlgeschlagen: Server antwortete mit HTTP "
                f"{status} ({response.reason_phrase}){_status_hint(status)}",
                status=status,
                body=body,
            )
        limit = self.settings.max_download_bytes
        declared = self._content_length(response)
        if declared is not None and declared > limit:
            raise self._too_large(f"laut Server {_format_int(declared)} Bytes")
        return self._stream(response, declared)

    def _stream(self, response: httpx.Response, declared: int | None) -> Download:
        limit = self.settings.max_download_bytes
        digest = hashlib.sha256()
        size = 0
        fd, partial_name = tempfile.mkstemp(dir=self.dest_dir, prefix=".partial-")
        partial = Path(partial_name)
        try:
            with os.fdopen(fd, "wb") as out:
                # Chunks as they arrive: a fixed size would buffer and delay the deadline checks.
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise self._too_large(f"mehr als {_format_int(limit)} Bytes empfangen")
                    if time.monotonic() > self.deadline:
                        raise self.deadline_error()
                    digest.update(chunk)
                    out.write(chunk)
            # With Content-Encoding the header counts the encoded bytes, not the decoded ones.
            if declared is not None and response.num_bytes_downloaded < declared:
                raise _Retry(
                    f"Verbindung nach {format_bytes(response.num_bytes_downloaded)} "
                    f"unterbrochen (erwartet: {format_bytes(declared)})",
                    dropped=True,
                )
            sha256 = digest.hexdigest()
            final = self.dest_dir / f"{sha256[:16]}-{_file_name(response, self.name)}"
            os.replace(partial, final)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return Download(
            path=final,
            sha256=sha256,
            size=size,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            not_modified=False,
            url=str(self.url),
        )

    def _not_modified(self, response: httpx.Response) -> Download:
        previous = self.previous
        assert previous is not None
        return Download(
            path=previous.path,
            sha256=previous.sha256,
            size=previous.path.stat().st_size,
            etag=response.headers.get("etag") or previous.etag,
            last_modified=response.headers.get("last-modified") or previous.last_modified,
            not_modified=True,
            url=str(self.url),
        )

    def _content_length(self, response: httpx.Response) -> int | None:
        value = response.headers.get("content-length")
        if value is None or not value.strip().isdigit():
            return None
        return int(value)

    def _error_body(self, response: httpx.Response) -> bytes:
        body = bytearray()
        try:
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) >= _ERROR_BODY_BYTES:
                    break
        except httpx.HTTPError:
            pass  # the status alone is the message; the body is a courtesy
        return bytes(body[:_ERROR_BODY_BYTES])

    def _too_large(self, detail: str) -> FetchError:
        limit = self.settings.max_download_bytes
        return FetchError(
            f"Download von {self.shown} abgebrochen: Datei größer als {_format_int(limit)} Bytes "
            f"({detail}; Einstellung max_download_bytes)"
        )

    def summary(self, failures: list[_Retry]) -> FetchError:
        last = failures[-1]
        statuses = {f.status for f in failures}
        if len(statuses) == 1 and last.status is not None:
            detail = f"Server antwortete {len(failures)}-mal mit HTTP {last.status}"
        else:
            detail = f"{last.reason} (nach {_attempts(len(failures))})"
        verb = "abgebrochen" if last.dropped else "fehlgeschlagen"
        return FetchError(f"Download von {self.shown} {verb}: {detail}")


def _request_url(url: str, params: dict[str, str] | None) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as e:
        raise FetchError(f"Download von {url} nicht möglich: ungültige Adresse ({e})") from e
    if parsed.scheme not in ("http", "https"):
        raise FetchError(f"Download von {url} nicht möglich: nur http:// und https:// möglich")
    return parsed.copy_merge_params(params) if params else parsed


def download(
    url: str,
    dest_dir: Path,
    *,
    settings: HarvestSettings,
    previous: HttpCache | None = None,
    client: httpx.Client | None = None,
    params: dict[str, str] | None = None,
    name: str | None = None,
) -> Download:
    """Stream `url` into `dest_dir` as `<sha256[:16]>-<name>`, retrying transient failures."""
    transfer = _Transfer(_request_url(url, params), dest_dir, settings, previous, name)
    dest_dir.mkdir(parents=True, exist_ok=True)
    attempts = settings.http_retries + 1
    failures: list[_Retry] = []
    http = client if client is not None else httpx.Client()
    try:
        for attempt in range(1, attempts + 1):
            try:
                return transfer.attempt(http)
            except _Retry as failure:
                failures.append(failure)
                if attempt == attempts:
                    break
                delay = settings.http_backoff_s * 2 ** (attempt - 1)
                if failure.retry_after is not None:
                    delay = max(delay, failure.retry_after)
                if time.monotonic() + delay >= transfer.deadline:
                    raise transfer.deadline_error(failure) from failure
                logger.warning(
                    "download %s: attempt %d/%d failed (%s), retrying in %.2f s",
                    transfer.shown,
                    attempt,
                    attempts,
                    failure.reason,
                    delay,
                )
                time.sleep(delay)
        raise transfer.summary(failures) from failures[-1]
    finally:
        if client is None:
            http.close()
