"""``POST /v1/feedback``: vote on an answer (by its ``id``), with an optional note and the right passage."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from assistant.api.bodies import ERROR_RESPONSES, FeedbackBody
from assistant.api.deps import ServicesDep
from assistant.feedback import FeedbackRecord

router = APIRouter(tags=["feedback"], responses=ERROR_RESPONSES)


@router.post("/feedback", response_model=FeedbackRecord, status_code=201, responses={404: ERROR_RESPONSES[422]})
async def feedback(body: FeedbackBody, services: ServicesDep) -> FeedbackRecord:
    """Store a vote on a recent answer (404 `answer_not_found` for an unknown or too old id; 422
    `passage_not_found` when the named passage is not in the documents). Returns the stored record."""
    return await run_in_threadpool(services.feedback.submit, body.answer_id, body.vote, body.note, body.passage)
