"""Typed data at every seam: what the engine returns, what the API and UI render."""

from __future__ import annotations

import re
import uuid
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from assistant.errors import EmptyQuestion, QuestionTooLong

_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_unicode(text: str) -> str:
    """``text`` with lone surrogates (JSON allows ``"\\ud800"``; no tokenizer does) replaced by U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def check_question(question: str | None, max_chars: int) -> str:
    """The question, stripped; the one place that decides whether a question can be asked.

    Raises ``EmptyQuestion`` or ``QuestionTooLong`` (both HTTP 422, exit code 2 in the CLI).
    """
    question = valid_unicode(question or "").strip()
    if not question:
        raise EmptyQuestion("the question is empty: type a question about your documents")
    if len(question) > max_chars:
        raise QuestionTooLong(f"the question is {len(question)} characters; the limit is {max_chars}")
    return question


class ChatTurn(BaseModel):
    role: Literal["user", "assistant"]
    content: str

    @field_validator("content")
    @classmethod
    def _valid_unicode(cls, v: str) -> str:
        return valid_unicode(v)


class Citation(BaseModel):
    """One numbered source of an answer. ``quote == document_text[start:end]``, always."""

    id: int
    document_id: str
    source: str
    quote: str
    start: int
    end: int
    score: float


class Grounding(BaseModel):
    score: float = Field(description="Share of answer sentences supported by the evidence they cite (0..1)")
    unsupported: list[str] = Field(default_factory=list, description="Answer sentences dropped as unsupported")


class Answer(BaseModel):
    """The Answer JSON of ``assistant ask --json`` and ``POST /v1/ask``."""

    answer: str
    abstained: bool
    citations: list[Citation]
    grounding: Grounding
    query: str
    notice: str | None = Field(None, description="Set when the answer degraded (e.g. LLM failed -> extractive)")
    backend: str = Field("", description="What wrote the answer: local, openai, fake, extractive or abstain")
    id: str = Field(default_factory=lambda: uuid.uuid4().hex,
                    description="This answer's id (uuid4 hex): send it to POST /v1/feedback to vote on the answer")

    def to_json(self) -> str:
        """The Answer JSON, byte for byte what ``POST /v1/ask`` returns and ``assistant ask --json`` prints."""
        return self.model_dump_json()


class Evidence(BaseModel):
    """A sentence window cut from a document, offered to the LLM as ``[n]``."""

    id: int
    document_id: str
    source: str
    title: str = ""
    text: str
    start: int
    end: int
    score: float
    chunk_id: str = ""
    sentence_scores: list[float] = []  # each sentence's cosine with the question, in order (abstention features)


class RetrievedChunk(BaseModel):
    id: str
    document_id: str
    source: str
    title: str
    text: str
    start: int
    end: int
    score: float
    dense: float = 0.0
    bm25: float = 0.0


class DocumentInfo(BaseModel):
    id: str
    source: str
    title: str
    chunks: int
    version: str = Field(description="Hash of the file's bytes and the chunking/embedding configuration")
    ingested_at: str
    chars: int = 0
    key: str = Field("", exclude=True, description="Portable path key (root folder name/relative path); empty "
                                                   "for uploads and documents ingested before ids were portable")
    pages: int = Field(0, description="Pages with text (PDFs ingested with page offsets; 0 otherwise)")


class Passage(BaseModel):
    """A slice of a stored document around ``[start:end]`` (``GET /v1/documents/{id}/text``, the UI viewer).

    ``quote == document_text[start:end]`` and ``text == document_text[context_start:context_end]``.
    ``page`` (1-based) is the PDF page ``start`` falls on; ``page_text`` that page's whole text, when
    the document was ingested with page offsets.
    """

    document_id: str
    source: str
    title: str
    chars: int = Field(description="Length of the document's text")
    start: int
    end: int
    context_start: int
    context_end: int
    text: str
    quote: str
    page: int | None = None
    page_start: int | None = None
    page_end: int | None = None
    page_text: str | None = None


class IngestFailure(BaseModel):
    path: str
    reason: str
    code: str = Field("bad_document", description="The error code: bad_document, unsupported_format, document_too_large")


class IngestReport(BaseModel):
    """The summary of one ingest run (``assistant ingest --json``, ``POST /v1/documents``)."""

    documents: dict[str, int] = Field(
        default_factory=lambda: {"added": 0, "updated": 0, "unchanged": 0, "removed": 0, "failed": 0}
    )
    chunks: dict[str, int] = Field(default_factory=lambda: {"added": 0, "removed": 0})
    failures: list[IngestFailure] = Field(default_factory=list)
    seconds: float = 0.0
    document_ids: list[str] = Field(default_factory=list, exclude=True)

    @property
    def ok(self) -> bool:
        return not self.failures
