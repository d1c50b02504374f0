"""ASGI middleware of the whole service: request body limits and security headers."""

from __future__ import annotations

import json

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from planungsdaten.settings import Settings

UPLOAD_PATHS = ("/api/areas",)

# our own pages load scripts only from /static; styles may be set by Leaflet at run time
STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
    "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# pygeoapi's templates and Swagger UI start their scripts inline
INLINE_SCRIPT_CSP = STRICT_CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")
INLINE_SCRIPT_PATHS = ("/ogc", "/docs")


class BodyLimitMiddleware:
    """Refuse request bodies above the limit with 413 before the application reads them:
    by Content-Length at once, and by counting for bodies sent without one."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.limits = settings.limit

    def _limit(self, path: str) -> int:
        if path.startswith(UPLOAD_PATHS):
            return self.limits.max_upload_bytes
        return self.limits.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope["path"])
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(send, int(declared), limit)
            return
        received = 0
        exceeded = False
        replaced = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    # the application sees a broken body; its answer is replaced below
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal replaced
            if exceeded and message["type"] == "http.response.start":
                replaced = True
                await _too_large(send, received, limit)
                return
            if replaced:
                return
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
            if not replaced:  # the application gave up on the cut body before answering
                await _too_large(send, received, limit)


async def _too_large(send: Send, size: int, limit: int) -> None:
    body = json.dumps(
        {
            "detail": f"Die Anfrage ist zu groß ({size / 1e6:.1f} MB; erlaubt sind "
            f"{limit / 1e6:.1f} MB). Bitte die Geometrie des Gebiets vereinfachen oder eine "
            "kleinere Datei senden."
        },
        ensure_ascii=False,
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class SecurityHeadersMiddleware:
    """Headers against sniffing, framing and leaking referrers on every answer, and a
    Content-Security-Policy on HTML pages."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.https = settings.app.public_url.startswith("https://")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
                headers.setdefault(
                    "Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"
                )
                if self.https:
                    headers.setdefault("Strict-Transport-Security", "max-age=31536000")
                if headers.get("content-type", "").startswith("text/html"):
                    inline = path.startswith(INLINE_SCRIPT_PATHS)
                    headers.setdefault(
                        "Content-Security-Policy", INLINE_SCRIPT_CSP if inline else STRICT_CSP
                    )
            await send(message)

        await self.app(scope, receive, with_headers)
