"""POST /v1/chat/completions in process (the official client is exercised in test_server.py)."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from api_helpers import QUESTION, assert_error, quoting_llm


async def test_completion_carries_the_verified_answer_and_citations(client: httpx.AsyncClient) -> None:
    body = {"model": "anything", "temperature": 0.7, "max_tokens": 50, "top_p": 1,
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": QUESTION}]}
    resp = await client.post("/v1/chat/completions", json=body)
    assert resp.status_code == 200, resp.text
    completion = resp.json()
    ask = (await client.post("/v1/ask", json={"question": QUESTION})).json()
    assert completion["object"] == "chat.completion" and completion["model"] == "anything"
    assert completion["choices"][0]["message"] == {"role": "assistant", "content": ask["answer"]}
    assert completion["choices"][0]["finish_reason"] == "stop"
    assert completion["citations"] == ask["citations"] and completion["abstained"] is False
    assert completion["grounding"]["score"] == ask["grounding"]["score"]
    assert re.fullmatch(r"[0-9a-f]{32}", completion["answer_id"]) and completion["answer_id"] != ask["id"]


async def test_content_parts_and_history(make_app: Any, make_client: Any) -> None:
    app = make_app()
    client = await make_client(app)
    follow_up = "And what did they consider supplying?"
    messages = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": "They summoned..."},
                {"role": "user", "content": [{"type": "text", "text": follow_up}]}]
    resp = await client.post("/v1/chat/completions", json={"model": "m", "messages": messages})
    assert resp.status_code == 200, resp.text
    completion = resp.json()
    content = completion["choices"][0]["message"]["content"]

    # the same question and history through /v1/ask: the text parts were joined and the history was used
    ask = (await client.post("/v1/ask", json={"question": follow_up, "history": messages[:2]})).json()
    assert ask["abstained"] is False and ask["citations"]
    assert content == ask["answer"]
    alone = (await client.post("/v1/ask", json={"question": follow_up})).json()
    assert alone["answer"] != content  # the history changed the answer, so it was not dropped
    assert completion["citations"] == ask["citations"]

    # and the content is grounded: every [n] has citation n, whose quote is the document's text at [start:end]
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", content)}
    assert cited and cited <= {c["id"] for c in completion["citations"]}, content
    store = app.state.services.store
    for c in completion["citations"]:
        assert store.doc_text(c["document_id"])[c["start"]:c["end"]] == c["quote"]
    assert "arms to Ukraine" in content, content


async def test_bad_requests(client: httpx.AsyncClient) -> None:
    assert_error(await client.post("/v1/chat/completions", json={"model": "m", "messages": []}), 422, "invalid_request")
    only_system = {"model": "m", "messages": [{"role": "system", "content": "hi"}]}
    assert_error(await client.post("/v1/chat/completions", json=only_system), 422, "empty_question")
    assert_error(await client.post("/v1/chat/completions", content=b"{", headers={"content-type": "application/json"}),
                 422, "invalid_json")


async def test_streaming_chunks_end_with_citations_then_done(make_app: Any, make_client: Any) -> None:
    client = await make_client(make_app(llm=quoting_llm()))
    resp = await client.post("/v1/chat/completions",
                             json={"model": "m", "stream": True, "messages": [{"role": "user", "content": QUESTION}]})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
    datas = [line[len("data: "):] for line in resp.text.splitlines() if line.startswith("data: ")]
    assert datas[-1] == "[DONE]"
    chunks = [json.loads(d) for d in datas[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and len({c["id"] for c in chunks}) == 1 for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    last = chunks[-1]
    assert last["choices"][0]["finish_reason"] == "stop" and last["citations"]
    assert {int(n) for n in re.findall(r"\[(\d+)\]", text)} <= {c["id"] for c in last["citations"]}
    assert "citations" not in chunks[-2]
