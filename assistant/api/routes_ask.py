"""``POST /v1/ask`` (one Answer JSON) and ``POST /v1/ask/stream`` (server-sent events)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.background import BackgroundTask

from assistant.api.backpressure import take_slot
from assistant.api.bodies import ERROR_RESPONSES, AskBody
from assistant.api.deps import ServicesDep
from assistant.api.streaming import first_item, guarded, releasing, rest_in_thread
from assistant.schema import Answer

router = APIRouter(tags=["ask"], responses=ERROR_RESPONSES)


@router.post("/ask", response_model=Answer)
async def ask(body: AskBody, services: ServicesDep, request: Request) -> Response:
    """Answer a question from the indexed documents, with citations."""
    release = await take_slot(request)  # 429 llm_busy when too many answers wait for the LLM
    try:
        answer = await services.engine.aask(body.question, list(body.history), body.document_ids)
    finally:
        release()
    return Response(answer.to_json(), media_type="application/json")  # the same bytes as `assistant ask --json`


@router.post("/ask/stream", response_class=EventSourceResponse,
             responses={200: {"content": {"text/event-stream": {}},
                              "description": "`event: token` {\"text\"} ..., then `event: answer` (Answer JSON); "
                                             "`event: error` {\"error\"} if it fails midway"}})
async def ask_stream(body: AskBody, services: ServicesDep, request: Request) -> EventSourceResponse:
    """Stream the answer: tokens as they are generated, then the final verified Answer."""
    release = await take_slot(request)
    stream = services.engine.stream(body.question, list(body.history), body.document_ids)
    first = await first_item(stream, release)  # errors before the first token keep their HTTP status
    events = guarded(_events(rest_in_thread(first, stream)),
                     lambda payload: ServerSentEvent(event="error", data=json.dumps(payload)))
    return EventSourceResponse(releasing(events, release), ping=15, background=BackgroundTask(release))


async def _events(items: AsyncIterator[str | Answer]) -> AsyncIterator[ServerSentEvent]:
    async for item in items:
        if isinstance(item, Answer):
            yield ServerSentEvent(event="answer", data=item.to_json())
        else:
            yield ServerSentEvent(event="token", data=json.dumps({"text": item}))
