"""Feedback on answers: a vote, an optional note and the right passage, kept as durable JSONL.

* ``RecentAnswers``: a bounded, thread-safe map ``answer id -> (question, history, Answer, generation)``.
  The engine fills it with every answer it makes (``AnswerEngine(on_answer=recent.remember)``), so a
  client votes with the answer's id alone. It is per process: an id older than the last
  ``feedback.recent_answers`` answers, or made by another process, is unknown (``AnswerNotFound``, 404).
* ``FeedbackStore``: one JSON record per line in ``{data_dir}/feedback.jsonl``, appended with a single
  ``write`` and ``fsync`` under a lock; the last record of an answer id counts (a vote can be changed).
* ``FeedbackService``: ``submit(answer_id, vote, note, passage)`` resolves the right passage against the
  index (a quote, or ``document_id`` + ``start``/``end``) and stores the record.

Example::

    record = services.feedback.submit(answer.id, "down", note="wrong year",
                                      passage=PassageRef(quote="The 2021 final was played in ..."))
    services.feedback.store.records()      # the last record per answer id, in file order
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from assistant.errors import AnswerNotFound, DocumentNotFound, PassageNotFound
from assistant.schema import Answer, ChatTurn, Citation
from ingest.store import ChromaStore

Vote = Literal["up", "down"]
MIN_QUOTE_CHARS = 12
_QUOTED = re.compile(r"[\"“”«]([^\"“”«»]{12,})[\"“”»]")  # a quoted passage inside a note


class PassageRef(BaseModel):
    """The right passage as the user names it: a quote, and/or a document id with a character span."""

    quote: str = Field("", max_length=5000, description="Text of the passage (whitespace need not match)")
    document_id: str = Field("", max_length=200)
    start: int | None = Field(None, ge=0)
    end: int | None = Field(None, ge=0)


class FeedbackPassage(BaseModel):
    """A resolved passage: ``quote == document_text[start:end]``."""

    document_id: str
    source: str
    quote: str
    start: int
    end: int


class FeedbackRecord(BaseModel):
    """One line of ``feedback.jsonl``."""

    answer_id: str
    vote: Vote
    note: str = ""
    passage: FeedbackPassage | None = None
    question: str
    history: list[ChatTurn] = Field(default_factory=list)
    query: str = ""
    answer: str
    citations: list[Citation] = Field(default_factory=list)
    abstained: bool
    backend: str = ""
    generation: int = Field(0, description="The index's commit generation the answer was made from")
    created_at: str


@dataclass(frozen=True)
class AnswerContext:
    question: str
    history: list[ChatTurn]
    answer: Answer
    generation: int


class RecentAnswers:
    """The last ``capacity`` answers of this process, by id."""

    def __init__(self, capacity: int = 1000) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._items: OrderedDict[str, AnswerContext] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, question: str, history: list[ChatTurn], answer: Answer, generation: int) -> None:
        with self._lock:
            self._items[answer.id] = AnswerContext(question, list(history), answer, generation)
            self._items.move_to_end(answer.id)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def get(self, answer_id: str) -> AnswerContext | None:
        with self._lock:
            return self._items.get(answer_id)


class FeedbackStore:
    """Append-only JSONL; each record is written whole and fsync'd before ``append`` returns."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, record: FeedbackRecord) -> None:
        data = (record.model_dump_json() + "\n").encode()
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                view = memoryview(data)
                while view:  # one write of the whole line (a regular file takes it whole; loop for safety)
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)

    def records(self) -> list[FeedbackRecord]:
        """The last record of each answer id, in the order of those last records. A line that does not
        parse (a torn write after a crash) is skipped."""
        if not self.path.exists():
            return []
        latest: dict[str, FeedbackRecord] = {}
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                record = FeedbackRecord.model_validate_json(line)
            except ValidationError:
                continue
            latest.pop(record.answer_id, None)
            latest[record.answer_id] = record
        return list(latest.values())


class FeedbackService:
    """Votes on recent answers, with the right passage resolved against the index."""

    def __init__(self, recent: RecentAnswers, store: FeedbackStore, index: ChromaStore) -> None:
        self.recent = recent
        self.store = store
        self.index = index

    def submit(self, answer_id: str, vote: Vote, note: str = "", passage: PassageRef | None = None, *,
               passage_from_note: bool = False) -> FeedbackRecord:
        """Store a vote on answer ``answer_id``. ``passage`` must be found in the index
        (``PassageNotFound`` otherwise); with ``passage_from_note`` a quote inside the note (or the whole
        note) becomes the passage when it is found, and is left as a plain note when not."""
        context = self.recent.get(answer_id)
        if context is None:
            raise AnswerNotFound(f"no recent answer with id {answer_id!r}: feedback must name an answer this "
                                 "server made recently (its `id`)")
        answer = context.answer
        note = note.strip()
        resolved = None
        if passage is not None and (passage.quote.strip() or passage.document_id):
            resolved = self.resolve(passage, answer)
        elif passage_from_note and note:
            resolved = self._passage_in_note(note, answer)
        record = FeedbackRecord(
            answer_id=answer_id, vote=vote, note=note, passage=resolved, question=context.question,
            history=context.history, query=answer.query, answer=answer.answer, citations=answer.citations,
            abstained=answer.abstained, backend=answer.backend, generation=context.generation,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        self.store.append(record)
        return record

    # -- passages -------------------------------------------------------------------------------
    def resolve(self, ref: PassageRef, answer: Answer) -> FeedbackPassage:
        if ref.document_id and ref.start is not None and ref.end is not None:
            text = self._text(ref.document_id)
            if not ref.start < ref.end <= len(text):
                raise PassageNotFound(f"passage span [{ref.start}:{ref.end}] is outside document "
                                      f"{ref.document_id!r} ({len(text)} characters)")
            if ref.quote.strip() and _squash(ref.quote) != _squash(text[ref.start:ref.end]):
                raise PassageNotFound("the passage quote is not the document's text at [start:end]")
            return self._passage(ref.document_id, ref.start, ref.end, text)
        if len(ref.quote.strip()) < MIN_QUOTE_CHARS:
            raise PassageNotFound(f"name the passage by a quote of at least {MIN_QUOTE_CHARS} characters, "
                                  "or by document_id with start and end")
        order = [ref.document_id] if ref.document_id else [c.document_id for c in answer.citations]
        found = self._find(ref.quote, order, everywhere=not ref.document_id)
        if found is None:
            where = f"document {ref.document_id!r}" if ref.document_id else "the indexed documents"
            raise PassageNotFound(f"the passage quote was not found in {where}")
        return found

    def _passage_in_note(self, note: str, answer: Answer) -> FeedbackPassage | None:
        for quote in [*_QUOTED.findall(note), note]:
            if len(quote.strip()) >= MIN_QUOTE_CHARS:
                found = self._find(quote, [c.document_id for c in answer.citations], everywhere=True)
                if found is not None:
                    return found
        return None

    def _find(self, quote: str, first: list[str], *, everywhere: bool) -> FeedbackPassage | None:
        """The first place ``quote`` occurs (whitespace-insensitive): in ``first``'s documents, then in all."""
        pattern = re.compile(r"\s+".join(re.escape(w) for w in quote.split()))
        first = list(dict.fromkeys(first))
        groups = [first, sorted(set(self.index.docs()) - set(first)) if everywhere else []]
        for group in groups:
            for b in range(0, len(group), 50):
                texts = self.index.doc_texts(group[b:b + 50])
                for doc_id in group[b:b + 50]:
                    match = pattern.search(texts.get(doc_id, ""))
                    if match:
                        return self._passage(doc_id, match.start(), match.end(), texts[doc_id])
        return None

    def _text(self, doc_id: str) -> str:
        try:
            return self.index.doc_text(doc_id)
        except DocumentNotFound as exc:
            raise PassageNotFound(f"the passage names document {doc_id!r}, which is not indexed") from exc

    def _passage(self, doc_id: str, start: int, end: int, text: str) -> FeedbackPassage:
        doc = self.index.docs().get(doc_id)
        return FeedbackPassage(document_id=doc_id, source=doc.source if doc else "", quote=text[start:end],
                               start=start, end=end)


def _squash(text: str) -> str:
    return " ".join(text.split())
