"""The app behind a real uvicorn server on loopback: incremental SSE, the official OpenAI client,
and concurrent requests while the (scripted) model is busy."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import openai
import pytest
from api_helpers import QUESTION, quoting_llm

from assistant.api.app import create_app
from assistant.schema import Answer
from assistant.services import Services
from assistant.settings import Settings

KEY = "a-long-enough-test-key"


async def test_sse_tokens_arrive_before_the_answer(make_app: Any, serve: Any) -> None:
    with serve(make_app(llm=quoting_llm(delay_s=0.05))) as base:
        seen: list[tuple[float, str, Any]] = []
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            async with http.stream("POST", "/v1/ask/stream", json={"question": QUESTION}) as resp:
                assert resp.status_code == 200
                event = ""
                async for line in resp.aiter_lines():
                    if line.startswith("event: "):
                        event = line[len("event: "):]
                    elif line.startswith("data: "):
                        seen.append((time.monotonic(), event, json.loads(line[len("data: "):])))
    kinds = [k for _, k, _ in seen]
    assert kinds[-1] == "answer" and "token" in kinds[:-1]
    first_token_at = next(t for t, k, _ in seen if k == "token")
    assert seen[-1][0] - first_token_at > 0.2, "tokens were not delivered incrementally"
    answer = Answer.model_validate(seen[-1][2])
    assert answer.citations and not answer.abstained


async def test_openai_client_non_streaming_and_streaming(make_app: Any, serve: Any) -> None:
    with serve(make_app(api_key=KEY)) as base:
        client = openai.AsyncOpenAI(base_url=f"{base}/v1", api_key=KEY, max_retries=0)
        messages = [{"role": "user", "content": QUESTION}]
        resp = await client.chat.completions.create(model="grounded", messages=messages)
        content = resp.choices[0].message.content
        assert content and "ambassador" in content
        citations = resp.model_extra["citations"]
        assert citations and citations == resp.to_dict()["citations"]
        assert f"[{citations[0]['id']}]" in content

        stream = await client.chat.completions.create(model="grounded", messages=messages, stream=True)
        chunks = [c async for c in stream]
        assert "".join(c.choices[0].delta.content or "" for c in chunks) == content
        assert chunks[-1].model_extra["citations"] == citations
        assert chunks[-1].choices[0].finish_reason == "stop"

        wrong = openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="not-the-key", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            await wrong.chat.completions.create(model="grounded", messages=messages)


async def test_eight_concurrent_asks_all_succeed(embedder: Any, index_dir: Any, serve: Any) -> None:
    llm = quoting_llm(delay_s=0.01)  # the queue holds all eight (back-pressure has its own tests)
    settings = Settings(data_dir=index_dir, llm={"backend": "fake", "max_queue": 8})
    app = create_app(Services(settings, embedder=embedder, llm=llm), ui=False)
    with serve(app) as base:
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            started = time.perf_counter()
            responses = await asyncio.gather(*[
                http.post("/v1/ask", json={"question": q}) for q in [QUESTION] * 4 + [
                    "Why did North Korea send troops?", "How many North Korean soldiers are in Ukraine?",
                    "What weapons might South Korea supply?", "How did Russia react?"]])
            elapsed = time.perf_counter() - started
    assert [r.status_code for r in responses] == [200] * 8, [r.text for r in responses if r.status_code != 200]
    assert all("answer" in r.json() for r in responses)
    assert len(llm.history) == 8 - sum(r.json()["abstained"] for r in responses)
    assert elapsed < 60
