"""A local HTTP server on 127.0.0.1 whose replies each test programs, and fast settings."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest

from planungsdaten.settings import HarvestSettings


@dataclass
class Reply:
    """One programmed response."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # stall before sending anything
    content_length: int | None = None  # declared length; default: len(body)
    send_length: bool = True  # False: no Content-Length, the body ends with the connection
    drop_after: int | None = None  # send only this many body bytes, then close
    chunk_delay_s: float = 0.0  # trickle: wait between 1 kB chunks


@dataclass(frozen=True)
class Seen:
    """A request as the server received it."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]

    def param(self, name: str) -> str | None:
        """The first value of query parameter `name` (exact case)."""
        return next((v for k, v in self.query if k == name), None)


Responder = Callable[[Seen], Reply]


class LocalServer:
    """Routes map a path to replies used in turn (the last one repeats) or to a responder."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self._routes: dict[str, list[Reply | Responder]] = {}
        self._lock = threading.Lock()
        self.stop = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str) -> str:
        """Absolute URL of `path` on this server."""
        return f"{self.base_url}{path}"

    def route(self, path: str, *replies: Reply | Responder) -> None:
        """Answer requests for `path` with `replies` in turn; the last one repeats."""
        with self._lock:
            self._routes[path] = list(replies)

    def requests_for(self, path: str) -> list[Seen]:
        """The requests received for `path`, in order."""
        return [r for r in self.requests if r.path == path]

    def next_reply(self, seen: Seen) -> Reply:
        with self._lock:
            self.requests.append(seen)
            replies = self._routes.get(seen.path)
            if not replies:
                return Reply(status=404, body=b"not found")
            reply = replies.pop(0) if len(replies) > 1 else replies[0]
        return reply(seen) if callable(reply) else reply

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self.stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def _handler_for(server: LocalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            seen = Seen(
                method="GET",
                path=parts.path,
                query=parse_qsl(parts.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
            )
            reply = server.next_reply(seen)
            # the client may give up early, as some tests intend
            with contextlib.suppress(ConnectionError, TimeoutError):
                self._send(reply)

        def _send(self, reply: Reply) -> None:
            if reply.delay_s and server.stop.wait(reply.delay_s):
                return
            self.send_response(reply.status)
            for key, value in reply.headers.items():
                self.send_header(key, value)
            if reply.send_length:
                length = len(reply.body) if reply.content_length is None else reply.content_length
                self.send_header("Content-Length", str(length))
            self.send_header("Connection", "close")
            self.end_headers()
            body = reply.body if reply.drop_after is None else reply.body[: reply.drop_after]
            if reply.chunk_delay_s:
                for start in range(0, len(body), 1024):
                    self.wfile.write(body[start : start + 1024])
                    self.wfile.flush()
                    if server.stop.wait(reply.chunk_delay_s):
                        return
            else:
                self.wfile.write(body)
            self.wfile.flush()

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def conditional(
    body: bytes, *, etag: str | None = None, last_modified: str | None = None
) -> Responder:
    """A resource that answers 304 when the client's validators match."""

    def respond(seen: Seen) -> Reply:
        headers = {}
        if etag:
            headers["ETag"] = etag
        if last_modified:
            headers["Last-Modified"] = last_modified
        if (etag and seen.headers.get("if-none-match") == etag) or (
            last_modified and seen.headers.get("if-modified-since") == last_modified
        ):
            return Reply(status=304, headers=headers, send_length=False)
        return Reply(body=body, headers=headers)

    return respond


@pytest.fixture
def http_server() -> Iterator[LocalServer]:
    """A fresh local HTTP server; program it with `route`."""
    server = LocalServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def harvest_settings() -> HarvestSettings:
    """Small timeouts and backoff so failing paths finish quickly; the local server on
    127.0.0.1 may be reached."""
    return HarvestSettings(
        http_timeout_s=2.0,
        http_total_timeout_s=30.0,
        http_retries=2,
        http_backoff_s=0.01,
        max_download_bytes=64 * 1024**2,
        allow_private_networks=True,
    )
