"""``UIAuthMiddleware``: when ``ASSISTANT_API_KEY`` is set, the chat UI needs the same key.

Everything outside ``/v1`` (which has its own bearer check) and a few open paths (``/healthz``,
``/readyz``, ``/docs``, ``/redoc``, ``/openapi.json``, ``/login``, ``/logout``) needs a session cookie: the page,
Gradio's config, queue, upload, file and API routes under the mount. Without it a browser page
load is redirected to ``/login`` and anything else gets 401 JSON; a websocket is closed.

``/login`` is a small form: the key is posted once, compared in constant time, and answered with an
HttpOnly, SameSite=Strict cookie ``<expires>.<HMAC-SHA256(key, expires)>``; the cookie is not the
key, expires after ``ui_session_hours``, and stops working when the key changes. The key is never
put in a page, a URL or a log line.

Example::

    app.add_middleware(UIAuthMiddleware, key="a-long-secret-key", session_hours=12)
"""

from __future__ import annotations

import hashlib
import hmac
import html
import time
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

import anyio
from starlette.datastructures import Headers
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from assistant.api.errors import error_response

COOKIE = "assistant_session"
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
FAILED_LOGIN_DELAY_S = 0.5  # slows down guessing; the key has at least 12 characters anyway
MAX_FORM_BYTES = 4096

LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Document assistant: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:26rem;margin:12vh auto;padding:0 1rem}}
input{{width:100%;padding:.5rem;margin:.5rem 0;box-sizing:border-box}}button{{padding:.5rem 1.2rem}}
.error{{color:#b91c1c}}</style></head>
<body><h1>Document assistant</h1><p>This server needs its API key (<code>ASSISTANT_API_KEY</code>).</p>
{message}<form method="post" action="/login" id="login">
<label for="key">API key</label><input id="key" name="key" type="password" autocomplete="current-password" autofocus>
<button type="submit">Sign in</button></form></body></html>"""


def _sign(key: str, expires: int) -> str:
    return hmac.new(key.encode(), f"ui-session:{expires}".encode(), hashlib.sha256).hexdigest()


def session_cookie(key: str, hours: float, now: float | None = None) -> str:
    """The cookie value for a fresh session (``<expires>.<signature>``)."""
    expires = int((now or time.time()) + hours * 3600)
    return f"{expires}.{_sign(key, expires)}"


def valid_session(key: str, value: str, now: float | None = None) -> bool:
    expires, _, signature = value.partition(".")
    if not expires.isdigit() or int(expires) < (now or time.time()):
        return False
    return hmac.compare_digest(signature.encode(), _sign(key, int(expires)).encode())


class UIAuthMiddleware:
    def __init__(self, app: ASGIApp, *, key: str, session_hours: float = 12.0, api_prefix: str = "/v1") -> None:
        self.app = app
        self.key = key
        self.session_hours = session_hours
        self.api_prefix = api_prefix

    def _is_open(self, path: str) -> bool:
        if path == self.api_prefix or path.startswith(self.api_prefix + "/"):
            return True  # /v1 checks the bearer key itself
        return path in OPEN_PATHS  # exact: "/docs/../config" must not pass as "/docs"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if scope["type"] == "http" and path in ("/login", "/logout"):
            response = await (self._login(scope, receive) if path == "/login" else self._logout())
            await response(scope, receive, send)
            return
        if self._is_open(path) or self._authenticated(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = Headers(scope=scope)
        if scope["method"] == "GET" and "text/html" in headers.get("accept", ""):
            await RedirectResponse("/login", status_code=303)(scope, receive, send)
            return
        denied = error_response(401, "unauthorized", "sign in at /login with the API key first",
                                headers={"WWW-Authenticate": 'Cookie realm="assistant"'})
        await denied(scope, receive, send)

    def _authenticated(self, scope: Scope) -> bool:
        cookies = SimpleCookie()
        try:
            cookies.load(Headers(scope=scope).get("cookie", ""))
        except Exception:  # noqa: BLE001 - a malformed cookie header is just "not signed in"
            return False
        morsel = cookies.get(COOKIE)
        return morsel is not None and valid_session(self.key, morsel.value)

    def _page(self, message: str = "", status: int = 200) -> HTMLResponse:
        notice = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
        return HTMLResponse(LOGIN_PAGE.format(message=notice), status_code=status,
                            headers={"Cache-Control": "no-store"})

    async def _login(self, scope: Scope, receive: Receive) -> Response:
        if scope["method"] != "POST":
            if self._authenticated(scope):
                return RedirectResponse("/", status_code=303)
            return self._page()
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_FORM_BYTES:
                return self._page("The form is too large.", status=413)
            if not message.get("more_body"):
                break
        submitted = (parse_qs(body.decode("utf-8", "replace")).get("key") or [""])[0]
        if not hmac.compare_digest(submitted.encode(), self.key.encode()):
            await anyio.sleep(FAILED_LOGIN_DELAY_S)
            return self._page("Wrong key.", status=401)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, session_cookie(self.key, self.session_hours),
                            max_age=int(self.session_hours * 3600), path="/", httponly=True, samesite="strict",
                            secure=scope.get("scheme") == "https")
        return response

    async def _logout(self) -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response
