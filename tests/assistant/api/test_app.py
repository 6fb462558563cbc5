"""The app as a whole: bearer auth on /v1, JSON 404/405, OpenAPI, CORS, the UI mount."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from api_helpers import QUESTION, assert_error

KEY = "correct-horse-battery-staple"


@pytest.fixture
async def keyed(make_app: Any, make_client: Any) -> httpx.AsyncClient:
    return await make_client(make_app(api_key=KEY))


async def test_api_key_required_on_v1(keyed: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong-key-of-some-length"}, {"Authorization": f"Basic {KEY}"},
                    {"Authorization": f"Bearer {KEY}x"}):
        resp = await keyed.post("/v1/ask", json={"question": QUESTION}, headers=headers)
        assert_error(resp, 401, "unauthorized")
        assert resp.headers["www-authenticate"] == "Bearer"
    assert_error(await keyed.get("/v1/documents"), 401, "unauthorized")
    assert_error(await keyed.post("/v1/chat/completions", json={"messages": []}), 401, "unauthorized")
    assert_error(await keyed.post("/v1/feedback", json={"answer_id": "x", "vote": "up"}), 401, "unauthorized")


async def test_right_key_passes_and_probes_stay_open(keyed: httpx.AsyncClient) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    assert (await keyed.post("/v1/ask", json={"question": QUESTION}, headers=auth)).status_code == 200
    assert (await keyed.get("/v1/documents", headers=auth)).status_code == 200
    assert (await keyed.get("/healthz")).status_code == 200
    assert (await keyed.get("/readyz")).status_code == 200


async def test_unknown_route_and_wrong_method_are_json(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/v1/nothing-here"), 404, "not_found")
    resp = await client.get("/v1/ask")
    assert_error(resp, 405, "method_not_allowed")
    assert resp.headers["allow"] == "POST"
    assert_error(await client.put("/v1/documents/abc"), 405, "method_not_allowed")


async def test_openapi_lists_every_endpoint(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs")).status_code == 200
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert set(paths) == {"/healthz", "/readyz", "/v1/ask", "/v1/ask/stream", "/v1/chat/completions",
                          "/v1/documents", "/v1/documents/{doc_id}", "/v1/documents/{doc_id}/text",
                          "/v1/feedback"}
    assert "multipart/form-data" in paths["/v1/documents"]["post"]["requestBody"]["content"]


async def test_cors_only_when_configured(client: httpx.AsyncClient, make_app: Any, make_client: Any) -> None:
    preflight = {"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}
    assert "access-control-allow-origin" not in (await client.options("/v1/ask", headers=preflight)).headers
    cors = await make_client(make_app(cors_origins=["http://localhost:3000"]))
    resp = await cors.options("/v1/ask", headers=preflight)
    assert resp.status_code == 200 and resp.headers["access-control-allow-origin"] == "http://localhost:3000"


@pytest.mark.slow
async def test_ui_is_mounted_at_root_and_v1_errors_stay_json(embedder: Any, index_dir: Any, make_client: Any) -> None:
    pytest.importorskip("ui.chat")
    from api_helpers import build_services

    from assistant.api.app import create_app

    client = await make_client(create_app(build_services(embedder, index_dir)))
    resp = await client.get("/")
    assert resp.status_code == 200 and "text/html" in resp.headers["content-type"]
    assert_error(await client.get("/v1/nothing-here"), 404, "not_found")
    assert (await client.post("/v1/ask", json={"question": QUESTION})).status_code == 200
