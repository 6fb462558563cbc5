"""assistant/feedback.py without an index: the bounded recent-answers map and the durable JSONL store."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from assistant.feedback import FeedbackRecord, FeedbackStore, RecentAnswers
from assistant.schema import Answer, ChatTurn, Grounding


def _answer(text: str = "An answer. [1]") -> Answer:
    return Answer(answer=text, abstained=False, citations=[], grounding=Grounding(score=1.0), query="q")


def _record(answer_id: str, vote: str = "up", note: str = "") -> FeedbackRecord:
    return FeedbackRecord.model_validate({"answer_id": answer_id, "vote": vote, "note": note, "question": "q",
                                          "answer": "a", "abstained": False, "created_at": "2026-11-29T10:00:00+00:00"})


def test_recent_answers_keep_the_last_n() -> None:
    recent = RecentAnswers(capacity=2)
    answers = [_answer(f"answer {i}") for i in range(3)]
    assert len({a.id for a in answers}) == 3  # every answer gets its own id
    for i, a in enumerate(answers):
        recent.remember(f"question {i}", [ChatTurn(role="user", content="before")], a, generation=i)
    assert recent.get(answers[0].id) is None
    context = recent.get(answers[2].id)
    assert context is not None and context.question == "question 2" and context.generation == 2
    assert context.history == [ChatTurn(role="user", content="before")]
    with pytest.raises(ValueError, match="at least 1"):
        RecentAnswers(capacity=0)


def test_the_store_keeps_the_last_vote_per_answer_and_skips_a_torn_line(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "sub" / "feedback.jsonl")
    assert store.records() == []
    store.append(_record("a", "up"))
    store.append(_record("b", "down"))
    store.append(_record("a", "down", note="changed my mind"))
    with store.path.open("a", encoding="utf-8") as f:
        f.write('{"answer_id": "c", "vote": "up", "quest')  # a crash in the middle of a write
    assert [(r.answer_id, r.vote, r.note) for r in store.records()] == [("b", "down", ""), ("a", "down", "changed my mind")]


def test_concurrent_appends_never_interleave(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "feedback.jsonl")
    note = "x" * 20_000  # larger than a pipe buffer: one write per record still keeps lines whole

    def vote(worker: int) -> None:
        for i in range(20):
            store.append(_record(f"{worker}-{i}", note=note))

    threads = [threading.Thread(target=vote, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = store.path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 80 and len(store.records()) == 80
