"""``POST /v1/ask`` (one Answer JSON) and ``POST /v1/ask/stream`` (server-sent events)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends
from sse_starlette import EventSourceResponse, ServerSentEvent

from assistant.api.deps import ServicesDep
from assistant.api.errors import error_payload
from assistant.api.schemas import ERROR_RESPONSES, AskBody, check_question
from assistant.api.streaming import first_item, rest_in_thread
from assistant.errors import AssistantError
from assistant.schema import Answer

log = logging.getLogger(__name__)
router = APIRouter(tags=["ask"], responses=ERROR_RESPONSES)


def checked_body(body: AskBody, services: ServicesDep) -> AskBody:
    check_question(body.question, services.settings.max_question_chars)
    return body


AskDep = Annotated[AskBody, Depends(checked_body)]


@router.post("/ask", response_model=Answer)
async def ask(body: AskDep, services: ServicesDep) -> Answer:
    """Answer a question from the indexed documents, with citations."""
    return await services.engine.aask(body.question, list(body.history), body.document_ids)


@router.post("/ask/stream", response_class=EventSourceResponse,
             responses={200: {"content": {"text/event-stream": {}},
                              "description": "`event: token` {\"text\"} ..., then `event: answer` (Answer JSON); "
                                             "`event: error` {\"error\"} if it fails midway"}})
async def ask_stream(body: AskDep, services: ServicesDep) -> EventSourceResponse:
    """Stream the answer: tokens as they are generated, then the final verified Answer."""
    stream = services.engine.stream(body.question, list(body.history), body.document_ids)
    first = await first_item(stream)  # errors before the first token keep their HTTP status
    return EventSourceResponse(_events(rest_in_thread(first, stream)), ping=15)


async def _events(items: AsyncIterator[str | Answer]) -> AsyncIterator[ServerSentEvent]:
    try:
        async for item in items:
            if isinstance(item, Answer):
                yield ServerSentEvent(event="answer", data=item.model_dump_json())
            else:
                yield ServerSentEvent(event="token", data=json.dumps({"text": item}))
    except AssistantError as exc:
        yield ServerSentEvent(event="error", data=json.dumps(error_payload(exc.code, exc.message)))
    except Exception:
        log.exception("answer stream failed")
        yield ServerSentEvent(event="error", data=json.dumps(
            error_payload("internal_error", "internal server error; the details are in the server log")))
