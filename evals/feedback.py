"""The ``feedback`` dataset: stored votes on answers (``{data_dir}/feedback.jsonl``) as regression cases.

* A down-voted answer whose user named the right passage: the question (asked in its conversation)
  must now be answered citing that passage (``citation_hit``).
* An up-voted answer must not get worse: it must still answer and cite the passage it led with (its
  first ``[n]``); an up-voted abstention must still abstain.
* Down-votes without a passage, and cases whose passage is no longer in the index (its document was
  deleted or changed), are left out with a note.

``export_lines(records)`` writes them in the format of ``evals/data/sample_questions.jsonl`` (``id``,
``question``, ``answerable``, ``facts``, ``passage``, ``kind``), plus ``history`` (the conversation
before the question), ``document_id``/``source`` of the passage and the vote's ``answer_id``, ``vote``,
``note`` and ``generation``. ``feedback_dataset`` replays them on the user's own index, which it never
writes to (``assistant eval --dataset feedback``).

Example::

    lines = export_lines(FeedbackStore(settings.feedback_path).records())    # assistant feedback export
    ds = feedback_dataset(settings)                                          # assistant eval --dataset feedback
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from assistant.feedback import FeedbackRecord, FeedbackStore
from assistant.settings import Settings
from evals.datasets import Dataset, EvalItem
from ingest.store import ChromaStore

NAME = "feedback"
_CITE = re.compile(r"\[(\d+)\]")


def feedback_case(record: FeedbackRecord) -> dict[str, Any] | None:
    """One eval item (a JSON-ready dict) for a vote, or None when the vote makes no case."""
    base: dict[str, Any] = {"id": f"feedback-{record.answer_id[:12]}", "question": record.question, "facts": []}
    if record.vote == "down":
        if record.passage is None:
            return None
        case = {**base, "answerable": True, "passage": record.passage.quote,
                "document_id": record.passage.document_id, "source": record.passage.source,
                "kind": "down-voted: must cite the passage the user named"}
    elif record.abstained:
        case = {**base, "answerable": False, "kind": "up-voted abstention: must still abstain"}
    else:
        by_id = {c.id: c for c in record.citations}
        lead = next((by_id[int(n)] for n in _CITE.findall(record.answer) if int(n) in by_id), None)
        if lead is None:
            return None
        case = {**base, "answerable": True, "passage": lead.quote, "document_id": lead.document_id,
                "source": lead.source, "kind": "up-voted: must still answer and cite the passage it led with"}
    return {**case, "history": [t.model_dump() for t in record.history], "answer_id": record.answer_id,
            "vote": record.vote, "note": record.note, "generation": record.generation}


def export_lines(records: list[FeedbackRecord]) -> list[str]:
    """The eval dataset as JSONL lines (one JSON object each)."""
    return [json.dumps(case, ensure_ascii=False) for r in records if (case := feedback_case(r)) is not None]


def feedback_items(text: str) -> list[EvalItem]:
    """Parse an exported feedback dataset (also accepts the sample dataset's lines)."""
    items = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        d = json.loads(line)
        if d["answerable"] and not d.get("passage"):
            raise ValueError(f"line {n}: answerable case {d.get('id')!r} needs a passage")
        items.append(EvalItem(
            id=d["id"], question=d["question"], answerable=bool(d["answerable"]), gold=d.get("passage", ""),
            facts=tuple(tuple(alts) for alts in d.get("facts", [])), kind=d.get("kind", ""),
            history=tuple((t["role"], t["content"]) for t in d.get("history", [])),
            gold_document=d.get("document_id", ""),
        ))
    return items


def feedback_dataset(settings: Settings, path: Path | None = None, store: ChromaStore | None = None) -> Dataset:
    """The votes of ``settings.feedback_path`` (or an exported file at ``path``) as a dataset replayed on the
    index of ``settings``; cases whose passage is no longer in that index are left out with a note."""
    notes = []
    if path is not None:
        text, origin = path.read_text(encoding="utf-8"), str(path)
    else:
        records = FeedbackStore(settings.feedback_path).records()
        lines = export_lines(records)
        text, origin = "\n".join(lines), str(settings.feedback_path)
        if len(records) > len(lines):
            notes.append(f"{len(records) - len(lines)} vote(s) make no case (down-voted without naming the right passage)")
    items = feedback_items(text)
    notes.insert(0, f"{len(items)} cases from {origin}")
    store = store or ChromaStore.connect(settings.chroma, settings.chroma_path)
    docs = store.docs()
    live = [i for i in items if not i.gold or (i.gold_document in docs and i.gold in store.doc_text(i.gold_document))
            or (not i.gold_document and any(i.gold in t for t in store.doc_texts(docs).values()))]
    if len(live) < len(items):
        stale = sorted(i.id for i in items if i not in live)
        notes.append(f"left out {len(stale)} case(s) whose passage is no longer in the index: {', '.join(stale)}")
    return Dataset(NAME, live, gold_kind="span", corpus_writer=lambda folder: [], notes=notes, settings=settings)
