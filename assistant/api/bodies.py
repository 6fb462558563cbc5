"""Request and response bodies of the REST API (the engine's own types live in ``assistant.schema``).

The static bounds here keep any single request small; whether a question can be asked (empty, too
long for ``max_question_chars``) is decided by the engine, in ``assistant.schema.check_question``.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from assistant.feedback import PassageRef, Vote
from assistant.schema import Answer, ChatTurn, Citation, Grounding, IngestReport

MAX_HISTORY_TURNS = 50
MAX_TURN_CHARS = 20_000
MAX_DOCUMENT_IDS = 100

DocumentIds = Annotated[
    list[str] | None,
    Field(max_length=MAX_DOCUMENT_IDS, description="Answer only from these documents (ids of `GET /v1/documents`)"),
]


# -- /v1/ask ---------------------------------------------------------------------------------------

class HistoryTurn(ChatTurn):
    model_config = ConfigDict(extra="forbid")

    content: str = Field(max_length=MAX_TURN_CHARS)


class AskBody(BaseModel):
    """``POST /v1/ask`` and ``POST /v1/ask/stream``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"question": "What did South Korea do in response?", "history": []}]},
    )

    question: str = Field(description="Leading/trailing whitespace is ignored; empty or too long: 422")
    history: list[HistoryTurn] = Field(default_factory=list, max_length=MAX_HISTORY_TURNS)
    document_ids: DocumentIds = None

    @field_validator("question", mode="before")
    @classmethod
    def _strip(cls, v: Any) -> Any:
        return v.strip() if isinstance(v, str) else v


# -- /v1/chat/completions --------------------------------------------------------------------------

class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str = "text"
    text: str = ""


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.text for p in self.content if p.type == "text")
        return self.content or ""


class ChatCompletionBody(BaseModel):
    """The OpenAI request. Unknown OpenAI parameters (top_p, n, user, ...) are accepted and ignored,
    as are ``max_tokens`` and ``temperature``: the server's settings decide generation."""

    model_config = ConfigDict(extra="ignore")

    model: str = "grounded-assistant"
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_HISTORY_TURNS + 10)
    stream: bool = False
    max_tokens: int | None = None
    temperature: float | None = None
    document_ids: DocumentIds = None  # an extra field (not OpenAI's), validated as in ``AskBody``

    def question_and_history(self) -> tuple[str, list[ChatTurn]]:
        """The last non-empty user message is the question ("" when there is none: the engine refuses it);
        earlier user/assistant messages are the history."""
        users = [i for i, m in enumerate(self.messages) if m.role == "user" and m.text.strip()]
        if not users:
            return "", []
        last = users[-1]
        history = [ChatTurn(role=m.role, content=m.text) for m in self.messages[:last]
                   if m.role in ("user", "assistant")]
        return self.messages[last].text.strip(), history


class CompletionMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class CompletionChoice(BaseModel):
    index: int = 0
    message: CompletionMessage
    finish_reason: Literal["stop"] = "stop"


class ChatCompletion(BaseModel):
    """OpenAI's ``chat.completion`` plus the grounding data as extra top-level fields."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    citations: list[Citation]
    grounding: Grounding
    abstained: bool
    notice: str | None = None
    answer_id: str = Field("", description="The answer's id, for POST /v1/feedback")

    @classmethod
    def from_answer(cls, answer: Answer, model: str) -> ChatCompletion:
        return cls(id=completion_id(), created=int(time.time()), model=model,
                   choices=[CompletionChoice(message=CompletionMessage(content=answer.answer))],
                   citations=answer.citations, grounding=answer.grounding, abstained=answer.abstained,
                   notice=answer.notice, answer_id=answer.id)


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


# -- /v1/documents ---------------------------------------------------------------------------------

class UploadResult(IngestReport):
    """The ingest report of an upload, with the ids of the documents added or updated."""

    document_ids: list[str] = Field(default_factory=list)  # shown here


class DeleteResult(BaseModel):
    id: str
    deleted: bool = True
    chunks_removed: int


# -- /v1/feedback ----------------------------------------------------------------------------------

class FeedbackBody(BaseModel):
    """``POST /v1/feedback``: a vote on an answer this server made, named by the answer's ``id``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"answer_id": "3f2c...", "vote": "down", "note": "wrong year",
                                         "passage": {"quote": "The 2021 final was played in ..."}}]},
    )

    answer_id: str = Field(min_length=1, max_length=64)
    vote: Vote
    note: str = Field("", max_length=4000, description="What was wrong (free text)")
    passage: PassageRef | None = Field(None, description="The right passage: a quote found in the indexed "
                                                         "documents, or document_id with start and end")


# -- health ----------------------------------------------------------------------------------------

class Check(BaseModel):
    ok: bool
    detail: str
    documents: int | None = None


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"]
    checks: dict[str, Check]
    error: dict[str, str] | None = None


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    """Every error response."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorBody} for s in (400, 401, 409, 413, 422, 429, 500, 503)
}
