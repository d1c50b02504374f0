"""Map the package's exceptions to HTTP status codes; messages go out, stack traces never."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from planungsdaten.db.errors import DatabaseUnavailableError
from planungsdaten.errors import (
    AuthenticationError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    PlanungsdatenError,
    RateLimitError,
    german_validation_message,
)
from planungsdaten.harvest.errors import SourceDefinitionError
from planungsdaten.packages.errors import (
    MalformedRequestError,
    PackageNotReadyError,
    RequestTooLargeError,
)

log = logging.getLogger(__name__)

DEFAULT_STATUS_CODES: dict[type[Exception], int] = {
    AuthenticationError: 401,
    ForbiddenError: 403,
    RateLimitError: 429,
    PayloadTooLargeError: 413,
    RequestTooLargeError: 413,
    MalformedRequestError: 400,
    PackageNotReadyError: 409,
    SourceDefinitionError: 500,
    NotFoundError: 404,
    InvalidRequestError: 422,
    DatabaseUnavailableError: 503,
    PlanungsdatenError: 500,
}


def status_for(exc: Exception) -> int:
    """The status of the most specific class in the table."""
    for cls in type(exc).__mro__:
        if cls in DEFAULT_STATUS_CODES:
            return DEFAULT_STATUS_CODES[cls]
    return 500


def add_exception_handlers(app: FastAPI) -> None:
    """Register the handlers on `app`."""

    async def known(request: Request, exc: Exception) -> JSONResponse:
        status = status_for(exc)
        if status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, exc)
        headers = {}
        if isinstance(exc, AuthenticationError):
            headers["WWW-Authenticate"] = 'Bearer realm="planungsdaten"'
        if isinstance(exc, RateLimitError):
            headers["Retry-After"] = str(exc.retry_after_s)
        return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = [
            f"{'.'.join(str(p) for p in e['loc'])}: {german_validation_message(e)}"
            for e in exc.errors()
        ]
        return JSONResponse(
            {"detail": "Ungültige Anfrage: " + "; ".join(problems)}, status_code=422
        )

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse(
            {
                "detail": "Interner Fehler. Der Betrieb wurde protokolliert; bitte später erneut "
                "versuchen."
            },
            status_code=500,
        )

    app.add_exception_handler(PlanungsdatenError, known)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(Exception, unexpected)


def document_problems(app: FastAPI) -> None:
    """Make the OpenAPI document say what the handlers above send: every error, invalid
    requests (422) included, is `{"detail": "<German message>"}`, not FastAPI's list."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            schemas = document.get("components", {}).get("schemas", {})
            if "HTTPValidationError" in schemas:
                schemas["HTTPValidationError"] = {
                    "title": "HTTPValidationError",
                    "type": "object",
                    "properties": {"detail": {"type": "string", "title": "Detail"}},
                    "required": ["detail"],
                }
                schemas.pop("ValidationError", None)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
