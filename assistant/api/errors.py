"""Every failure of the REST API becomes JSON ``{"error": {"code": ..., "message": ...}}``, mapped here once.

* ``AssistantError`` subclasses carry their own ``status`` and ``code`` (``assistant/errors.py``).
* Request validation (wrong fields, malformed JSON) -> 422 ``invalid_request`` / ``invalid_json``.
* Starlette's own 404/405/413/400 -> their status with a stable code.
* Anything else -> 500 ``internal_error``; the traceback goes to the log, never into the response.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant.errors import AssistantError

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
}


class Unauthorized(AssistantError):
    """Missing or wrong ``Authorization: Bearer <key>`` on a /v1 route."""

    code = "unauthorized"
    status = 401
    headers = {"WWW-Authenticate": "Bearer"}


class UploadRejected(AssistantError):
    """No file of an upload could be ingested; ``details`` holds the ingest report."""

    code = "ingest_failed"
    status = 422

    def __init__(self, message: str, details: dict[str, Any], *, code: str | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.details = details
        if code:
            self.code = code
        if status:
            self.status = status


def error_payload(code: str, message: str, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error}


def error_response(status: int, code: str, message: str, *, details: Any = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_payload(code, message, details), status_code=status, headers=headers)


def summarize_validation(errors: list[dict[str, Any]]) -> tuple[str, str]:
    """(code, one-line message) for pydantic/FastAPI validation errors, without echoing the input."""
    if any(e.get("type") == "json_invalid" for e in errors):
        e = next(e for e in errors if e.get("type") == "json_invalid")
        reason = (e.get("ctx") or {}).get("error", "JSON decode error")
        pos = e["loc"][-1] if e.get("loc") else "?"
        return "invalid_json", f"the request body is not valid JSON ({reason} at position {pos})"
    parts = []
    for e in errors[:10]:
        loc = [str(p) for p in e.get("loc", ()) if p != "body"]
        parts.append(f"{'.'.join(loc) or 'body'}: {e.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
    return "invalid_request", "; ".join(parts) + more


async def _assistant_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AssistantError)
    if exc.status >= 500:
        log.warning("%s %s -> %s: %s", request.method, request.url.path, exc.code, exc.message)
    return error_response(exc.status, exc.code, exc.message, details=getattr(exc, "details", None),
                          headers=getattr(exc, "headers", None))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    code, message = summarize_validation(list(exc.errors()))
    return error_response(422, code, message)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route {request.method} {request.url.path}; see /docs"
    return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal server error; the details are in the server log")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AssistantError, _assistant_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
