"""GET /healthz and /readyz."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from assistant.llm.fake import ScriptedLLM


async def test_healthz_is_always_ok(client: httpx.AsyncClient) -> None:
    resp = await client.get("/healthz")
    assert resp.status_code == 200 and resp.json() == {"status": "ok"}


async def test_readyz_reports_the_index_and_llm(client: httpx.AsyncClient) -> None:
    resp = await client.get("/readyz")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "ready"
    assert body["checks"]["index"] == {"ok": True, "detail": "chroma embedded", "documents": 1}
    assert body["checks"]["llm"]["ok"] is True


async def test_readyz_503_when_the_llm_is_not_loadable(make_app: Any, make_client: Any) -> None:
    resp = await (await make_client(make_app(llm=ScriptedLLM(fail=True)))).get("/readyz")
    assert resp.status_code == 503
    body = resp.json()
    assert body["error"]["code"] == "llm_unavailable" and body["checks"]["index"]["ok"] is True
    assert body["checks"]["llm"] == {"ok": False, "detail": "fake: scripted (failing)"}


async def test_readyz_503_when_chroma_is_down(make_app: Any, make_client: Any, tmp_path: Path,
                                              unused_port: int) -> None:
    client = await make_client(make_app(data_dir=tmp_path / "d", chroma={"url": f"http://127.0.0.1:{unused_port}"}))
    resp = await client.get("/readyz")
    assert resp.status_code == 503
    body = resp.json()
    assert body["status"] == "unavailable" and body["error"]["code"] == "chroma_unavailable"
    assert body["checks"]["index"]["ok"] is False
    assert (await client.get("/healthz")).status_code == 200
