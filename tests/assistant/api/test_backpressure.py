"""Back-pressure in front of the LLM (``assistant/api/backpressure.py``): one answer generating, a bounded
queue behind it, 429 ``llm_busy`` with ``Retry-After`` past it, and a client that leaves frees its place."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import pytest
from api_helpers import QUESTION, assert_error, quoting_llm

from assistant.api.app import create_app
from assistant.api.backpressure import GenerationGate, LLMBusy
from assistant.services import Services
from assistant.settings import Settings

SLOW = 0.05  # seconds per token of the fake LLM: an answer takes ~1-2 s


def _slow_app(embedder: Any, index_dir: Any) -> Any:
    """The API over the sample index with a slow fake LLM, one answer at a time and one waiting."""
    settings = Settings(data_dir=index_dir, llm={"backend": "fake", "max_parallel": 1, "max_queue": 1})
    return create_app(Services(settings, embedder=embedder, llm=quoting_llm(delay_s=SLOW)), ui=False)


async def _until(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def test_gate_admits_in_order_refuses_past_the_bound_and_frees_cancelled_places() -> None:
    gate = GenerationGate(parallel=1, max_queue=1, estimate_s=4)
    first = gate.try_enter()
    assert gate.wait(first, threading.Event())
    release = gate._releaser()
    second = gate.try_enter()
    assert gate.load == (1, 1)
    with pytest.raises(LLMBusy) as busy:
        gate.try_enter()
    assert busy.value.status == 429 and busy.value.headers["Retry-After"] == "8"  # 2 ahead x 4 s
    gone = threading.Event()
    waiter = threading.Thread(target=lambda: gone.set() if not gate.wait(second, cancel) else None)
    cancel = threading.Event()
    waiter.start()
    cancel.set()  # the client went away while waiting
    waiter.join(2)
    assert gone.is_set() and gate.load == (1, 0)
    release()
    release()  # idempotent
    assert gate.load == (0, 0)
    third = gate.try_enter()
    assert gate.wait(third, threading.Event()) and gate.load == (1, 0)


@pytest.mark.slow
async def test_full_queue_gets_429_with_retry_after_on_every_answering_route(embedder: Any, index_dir: Any, make_client: Any) -> None:
    app = _slow_app(embedder, index_dir)
    gate: GenerationGate = app.state.generation_gate
    client = await make_client(app)
    first = asyncio.create_task(client.post("/v1/ask", json={"question": QUESTION}))
    await _until(lambda: gate.load == (1, 0))
    second = asyncio.create_task(client.post("/v1/ask", json={"question": QUESTION}))
    await _until(lambda: gate.load == (1, 1))
    refused = [
        await client.post("/v1/ask", json={"question": QUESTION}),
        await client.post("/v1/ask/stream", json={"question": QUESTION}),
        await client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": QUESTION}]}),
        await client.post("/v1/chat/completions", json={"stream": True,
                                                        "messages": [{"role": "user", "content": QUESTION}]}),
    ]
    for resp in refused:
        assert_error(resp, 429, "llm_busy")
        assert int(resp.headers["retry-after"]) >= 1
    done = await asyncio.gather(first, second)
    assert [r.status_code for r in done] == [200, 200]
    assert all(r.json()["backend"] == "fake" for r in done)
    assert gate.load == (0, 0)
    # the slots are back: a streamed answer runs and frees its slot at the end
    async with client.stream("POST", "/v1/ask/stream", json={"question": QUESTION}) as resp:
        assert resp.status_code == 200
        assert "event: answer" in "".join([line async for line in resp.aiter_lines()])
    await _until(lambda: gate.load == (0, 0))


@pytest.mark.slow
async def test_a_client_that_disconnects_frees_its_place(embedder: Any, index_dir: Any, serve: Any) -> None:
    app = _slow_app(embedder, index_dir)
    gate: GenerationGate = app.state.generation_gate
    with serve(app) as base:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            # A streams (running); B waits in the queue, then hangs up
            async with client.stream("POST", "/v1/ask/stream", json={"question": QUESTION}) as a_resp:
                lines = a_resp.aiter_lines()
                assert (await anext(lines)).startswith("event: token")
                waiting = asyncio.create_task(client.post("/v1/ask", json={"question": QUESTION}))
                await _until(lambda: gate.load == (1, 1))
                waiting.cancel()
                await _until(lambda: gate.load == (1, 0))  # B's place is free again
                c_task = asyncio.create_task(client.post("/v1/ask", json={"question": QUESTION}))
                await _until(lambda: gate.load == (1, 1))  # C got the place, no 429
            # A hung up mid-stream: its slot goes to C
            await _until(lambda: gate.load[0] == 1 and gate.load[1] == 0)
            c_resp = await c_task
            assert c_resp.status_code == 200 and c_resp.json()["citations"]
            await _until(lambda: gate.load == (0, 0))


async def test_extractive_backend_has_no_gate(client: httpx.AsyncClient) -> None:
    answers = await asyncio.gather(*[client.post("/v1/ask", json={"question": QUESTION}) for _ in range(6)])
    assert [r.status_code for r in answers] == [200] * 6


def test_the_gate_is_on_by_default_only_for_the_local_model(tmp_path: Any, embedder: Any) -> None:
    def gate(**llm: Any) -> GenerationGate | None:
        settings = Settings(data_dir=tmp_path, llm=llm)
        return create_app(Services(settings, embedder=embedder), ui=False).state.generation_gate

    local = gate(backend="local", max_queue=2)
    assert local is not None and (local.parallel, local.max_queue) == (1, 2)
    assert gate(backend="openai", base_url="http://127.0.0.1:9/v1") is None  # the server batches on its own
    assert gate(backend="openai", base_url="http://127.0.0.1:9/v1", max_parallel=4).parallel == 4  # type: ignore[union-attr]
    assert gate(backend="extractive", max_parallel=2) is None


@pytest.mark.slow
async def test_a_long_queue_holds_no_worker_threads(embedder: Any, index_dir: Any, make_client: Any) -> None:
    """Waiters must not each hold one of anyio's 40 worker threads: 45 of them would starve the running answer."""
    settings = Settings(data_dir=index_dir, llm={"backend": "fake", "max_parallel": 1, "max_queue": 60})
    client = await make_client(create_app(Services(settings, embedder=embedder, llm=quoting_llm()), ui=False))
    responses = await asyncio.wait_for(asyncio.gather(
        *[client.post("/v1/ask", json={"question": QUESTION}) for _ in range(45)]), timeout=120)
    assert [r.status_code for r in responses] == [200] * 45
