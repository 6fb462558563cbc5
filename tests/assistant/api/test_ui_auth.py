"""One key for everything: with ``api_key`` set, the Gradio UI and every route under its mount need a
sign-in with the same key (``assistant/api/ui_auth.py``); the key never appears in a page or a log."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_helpers import QUESTION, assert_error, build_services
from fastapi import FastAPI

from assistant.api.app import create_app
from assistant.api.ui_auth import COOKIE, session_cookie, valid_session

KEY = "one-key-for-everything-42"
# Gradio's own routes under the mount at "/": page, config, queue, upload, files, API info, assets
GRADIO_ROUTES = [
    ("GET", "/"), ("GET", "/config"), ("GET", "/gradio_api/info"), ("GET", "/theme.css"),
    ("POST", "/gradio_api/queue/join"), ("GET", "/gradio_api/queue/data?session_hash=abc"),
    ("POST", "/gradio_api/upload"), ("GET", "/gradio_api/file=/etc/passwd"), ("POST", "/gradio_api/run/predict"),
    ("POST", "/gradio_api/call/on_ask"), ("GET", "/gradio_api/heartbeat/abc"), ("GET", "/assets/index.js"),
    ("GET", "/manifest.json"), ("GET", "/monitoring"),
    ("GET", "/docs/../config"), ("GET", "/healthz/../config"), ("GET", "/openapi.json/x"),  # no prefix tricks
]


@pytest.fixture(scope="module")
def keyed_ui_app(embedder: Any, index_dir: Path) -> FastAPI:
    pytest.importorskip("ui.chat")
    return create_app(build_services(embedder, index_dir, api_key=KEY))


async def _signed_in(make_client: Any, app: FastAPI) -> httpx.AsyncClient:
    client = await make_client(app)
    resp = await client.post("/login", data={"key": KEY})
    assert resp.status_code == 303 and resp.headers["location"] == "/"
    return client


@pytest.mark.slow
async def test_every_ui_route_is_refused_without_a_session(keyed_ui_app: FastAPI, make_client: Any) -> None:
    client = await make_client(keyed_ui_app)
    for method, path in GRADIO_ROUTES:
        resp = await client.request(method, path, json={"data": [QUESTION], "fn_index": 0, "session_hash": "abc"})
        assert_error(resp, 401, "unauthorized")
    # a forged, expired or other-key cookie does not pass either
    for value in ("1.abc", "9999999999.deadbeef", session_cookie("another-key-entirely", 1),
                  session_cookie(KEY, -1)):
        client.cookies.set(COOKIE, value)
        assert_error(await client.get("/config"), 401, "unauthorized")
    # a browser page load is sent to the sign-in form; the open paths stay open
    client.cookies.clear()
    page = await client.get("/", headers={"Accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"] == "/login"
    for path in ("/healthz", "/readyz", "/docs", "/openapi.json"):
        assert (await client.get(path)).status_code == 200, path
    assert_error(await client.get("/v1/documents"), 401, "unauthorized")  # /v1 keeps its bearer check


@pytest.mark.slow
async def test_sign_in_opens_the_ui_but_not_v1(keyed_ui_app: FastAPI, make_client: Any,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = await make_client(keyed_ui_app)
    form = await client.get("/login")
    assert form.status_code == 200 and 'name="key"' in form.text and KEY not in form.text

    wrong = await client.post("/login", data={"key": "not-the-key-at-all"})
    assert wrong.status_code == 401 and "Wrong key" in wrong.text and "not-the-key-at-all" not in wrong.text
    assert COOKIE not in wrong.headers.get("set-cookie", "")

    signed = await _signed_in(make_client, keyed_ui_app)
    cookie = signed.cookies[COOKIE]
    assert KEY not in cookie and valid_session(KEY, cookie)
    set_cookie = (await signed.post("/login", data={"key": KEY})).headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=strict" in set_cookie
    page = await signed.get("/", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "<html" in page.text.lower() and KEY not in page.text
    config = await signed.get("/config")
    assert config.status_code == 200 and KEY not in config.text
    assert (await signed.get("/login")).status_code == 303  # already signed in
    # the session cookie is for the UI only: /v1 still needs the bearer key (no CSRF on /v1)
    assert_error(await signed.get("/v1/documents"), 401, "unauthorized")
    assert (await signed.get("/v1/documents", headers={"Authorization": f"Bearer {KEY}"})).status_code == 200

    out = await signed.get("/logout")
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert_error(await signed.get("/config"), 401, "unauthorized")
    assert all(KEY not in r.getMessage() for r in caplog.records)


def test_session_cookie_expires_and_is_bound_to_the_key() -> None:
    value = session_cookie(KEY, hours=1, now=1_000_000)
    assert valid_session(KEY, value, now=1_000_000 + 3599)
    assert not valid_session(KEY, value, now=1_000_000 + 3601)
    assert not valid_session(KEY + "x", value, now=1_000_000)
    assert not valid_session(KEY, "", now=0) and not valid_session(KEY, "abc.def", now=0)
