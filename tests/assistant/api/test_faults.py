"""The API under faults: a Chroma server killed between (and during) queries, and an LLM that hangs or
dies mid-stream. Never a 500, never a torn stream; recovery without restarting the API."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_helpers import QUESTION, SAMPLE, BreaksMidway, assert_error
from chroma_proc import ChromaProcess

from assistant.api.app import create_app
from assistant.errors import LLMUnavailable
from assistant.llm.base import Message
from assistant.services import Services
from assistant.settings import Settings


class HangingLLM:
    """Streams a few tokens, then hangs until ``release`` is set (a stuck server)."""

    name = "hanging"
    context_window = 4096

    def __init__(self, tokens: int = 3) -> None:
        self.tokens = tokens
        self.release = threading.Event()

    def stream(self, messages: list[Message], *, max_tokens: int, stop: list[str] | None = None) -> Iterator[str]:
        for i in range(self.tokens):
            yield f"word{i} "
        self.release.wait(60)

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def ready(self) -> tuple[bool, str]:
        return True, "hangs"


def _events(text: str) -> list[tuple[str, str]]:
    """(event, data) pairs of an SSE body; asserts it is whole (every event ends with a blank line)."""
    assert text.endswith("\n\n") or text.endswith("\r\n\r\n"), f"torn stream: {text[-200:]!r}"
    out = []
    for block in text.replace("\r\n", "\n").strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if fields:
            out.append((fields.get("event", "message"), fields.get("data", "")))
    return out


@pytest.mark.slow
async def test_chroma_killed_between_and_during_queries_then_recovers(
        tmp_path: Path, embedder: Any, make_client: Any) -> None:
    with ChromaProcess(tmp_path / "chroma") as chroma:
        settings = Settings(data_dir=tmp_path / "data", llm={"backend": "extractive"},
                            chroma={"url": chroma.url, "collection": "api-faults", "timeout_s": 3})
        services = Services(settings, embedder=embedder)
        assert services.ingestor.ingest([SAMPLE]).ok
        client: httpx.AsyncClient = await make_client(create_app(services, ui=False))
        assert (await client.post("/v1/ask", json={"question": QUESTION})).status_code == 200

        chroma.kill()
        assert_error(await client.post("/v1/ask", json={"question": QUESTION}), 503, "chroma_unavailable")
        assert_error(await client.post("/v1/ask/stream", json={"question": QUESTION}), 503, "chroma_unavailable")
        assert_error(await client.get("/v1/documents"), 503, "chroma_unavailable")
        assert (await client.get("/readyz")).status_code == 503

        # restart it while clients keep asking: every answer is 200 or 503, never a 500
        statuses: list[int] = []
        stop = asyncio.Event()

        async def keep_asking() -> None:
            while not stop.is_set():
                statuses.append((await client.post("/v1/ask", json={"question": QUESTION})).status_code)

        load = [asyncio.create_task(keep_asking()) for _ in range(3)]
        await asyncio.sleep(0.3)
        await asyncio.to_thread(chroma.start)
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.gather(*load)
        assert set(statuses) <= {200, 503} and statuses[-1] == 200, statuses

        # the same app (no restart) answers and lists again
        answer = (await client.post("/v1/ask", json={"question": QUESTION})).json()
        assert answer["citations"] and not answer["abstained"]
        assert (await client.get("/v1/documents")).status_code == 200
        assert (await client.get("/readyz")).status_code == 200


@pytest.mark.parametrize("llm", [HangingLLM(), BreaksMidway(LLMUnavailable("the model process died"))],
                         ids=["hung", "killed"])
async def test_llm_hung_or_killed_mid_stream_falls_back_within_the_timeout(
        llm: Any, embedder: Any, index_dir: Path, make_client: Any) -> None:
    settings = Settings(data_dir=index_dir, llm={"backend": "fake", "timeout_s": 1.0})
    client = await make_client(create_app(Services(settings, embedder=embedder, llm=llm), ui=False))
    try:
        t0 = time.monotonic()
        resp = await client.post("/v1/ask/stream", json={"question": QUESTION})
        elapsed = time.monotonic() - t0
        assert resp.status_code == 200
        events = _events(resp.text)
        assert [e for e, _ in events[:3]] == ["token"] * 3
        last, data = events[-1]
        assert last == "answer", events
        answer = json.loads(data)
        assert answer["backend"] == "extractive" and answer["citations"]
        assert "language model failed" in answer["notice"]
        assert elapsed < 10, elapsed  # the 1 s budget, plus retrieval, not the hang
        # the plain route degrades the same way
        plain = (await client.post("/v1/ask", json={"question": QUESTION})).json()
        assert plain["backend"] == "extractive" and plain["notice"]
    finally:
        if isinstance(llm, HangingLLM):
            llm.release.set()
