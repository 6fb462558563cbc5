"""``BodyLimitMiddleware``: refuse oversized /v1 request bodies with 413 before they are buffered.

A declared ``Content-Length`` over the limit is refused without reading a byte of the body; a body
without one (chunked) is counted while it streams in and cut off at the limit. Only paths under
``prefix`` are limited (the Gradio UI mounted at ``/`` keeps its own upload rules).

Example::

    app.add_middleware(BodyLimitMiddleware, prefix="/v1", default=2**20,
                       overrides={("POST", "/v1/documents"): 20 * 2**20})
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.api.errors import error_response

MiB = 2**20


def _mb(n: int) -> str:
    return f"{n / MiB:.1f} MB"


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit (FastAPI re-raises HTTPExceptions)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is over the {_mb(limit)} limit")


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, prefix: str, default: int,
                 overrides: dict[tuple[str, str], int] | None = None) -> None:
        self.app = app
        self.prefix = prefix
        self.default = default
        self.overrides = overrides or {}

    def limit_for(self, method: str, path: str) -> int:
        return self.overrides.get((method, path.rstrip("/") or "/"), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            response = error_response(
                413, "payload_too_large",
                f"the request body is {_mb(int(declared))}; the limit for {scope['method']} {scope['path']} "
                f"is {_mb(limit)}",
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return

        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counting_receive, send)
