"""``POST /v1/chat/completions``: the OpenAI chat API over the grounded engine.

The assistant content is always the *verified* answer, the same text ``/v1/ask`` returns, so every
``[n]`` matches an entry of the extra top-level ``citations`` field. With ``stream: true`` the verified
answer is streamed in ``chat.completion.chunk`` pieces once it is verified (OpenAI clients cannot take
back streamed text, and raw model tokens can cite the wrong passage); while the model generates,
SSE comments keep the connection alive. The last chunk before ``[DONE]`` carries ``citations``,
``grounding`` and ``abstained``. An extra request field ``document_ids`` scopes the question, as on
``/v1/ask``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.background import BackgroundTask

from assistant.api.backpressure import take_slot
from assistant.api.bodies import ERROR_RESPONSES, ChatCompletion, ChatCompletionBody, completion_id
from assistant.api.deps import ServicesDep
from assistant.api.streaming import first_item, guarded, releasing, rest_in_thread
from assistant.schema import Answer

router = APIRouter(tags=["openai"], responses=ERROR_RESPONSES)
_PIECES = re.compile(r"\s*\S+")
KEEPALIVE_S = 1.0


@router.post("/chat/completions", response_model=ChatCompletion,
             responses={200: {"content": {"text/event-stream": {}},
                              "description": "chat.completion, or chat.completion.chunk events with stream=true"}})
async def chat_completions(body: ChatCompletionBody, services: ServicesDep, request: Request) -> Any:
    question, history = body.question_and_history()
    release = await take_slot(request)  # 429 llm_busy when too many answers wait for the LLM
    if not body.stream:
        try:
            answer = await services.engine.aask(question, history, body.document_ids)
        finally:
            release()
        return ChatCompletion.from_answer(answer, body.model)
    stream = services.engine.stream(question, history, body.document_ids)
    first = await first_item(stream, release)  # errors before generation keep their HTTP status
    events = guarded(_chunks(rest_in_thread(first, stream), body.model), _data)
    return EventSourceResponse(releasing(_done(events), release), sep="\n", ping=15,
                               headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
                               background=BackgroundTask(release))


def _data(obj: Any) -> ServerSentEvent:
    return ServerSentEvent(data=json.dumps(obj, ensure_ascii=False))


async def _done(events: AsyncIterator[ServerSentEvent]) -> AsyncIterator[ServerSentEvent]:
    async for event in events:
        yield event
    yield ServerSentEvent(data="[DONE]")


async def _chunks(items: AsyncIterator[str | Answer], model: str) -> AsyncIterator[ServerSentEvent]:
    cid, created = completion_id(), int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> ServerSentEvent:
        return _data({"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                      "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra})

    yield chunk({"role": "assistant", "content": ""})
    answer: Answer | None = None
    last_beat = time.monotonic()
    async for item in items:
        if isinstance(item, Answer):
            answer = item
        elif time.monotonic() - last_beat >= KEEPALIVE_S:
            last_beat = time.monotonic()
            yield ServerSentEvent(comment="generating")
    if answer is None:
        raise RuntimeError("the engine stream ended without an Answer")
    for piece in _PIECES.findall(answer.answer):
        yield chunk({"content": piece})
    yield chunk({}, "stop", citations=[c.model_dump() for c in answer.citations],
                grounding=answer.grounding.model_dump(), abstained=answer.abstained, notice=answer.notice,
                answer_id=answer.id)
