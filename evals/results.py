"""What an eval run produces: one ``QuestionResult`` per question, one ``DatasetResult`` per dataset
(with its ``aggregate`` metrics), one ``SuiteResult`` per run. Plain data: no engine, no I/O.

Example::

    ds = DatasetResult("sample", aggregate(questions, "sample"), questions, ingest={})
    data = SuiteResult("ci", "extractive", [ds], seconds=9.0).to_dict()   # what report.json holds
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from evals import metrics as m

Claims = list[dict[str, Any]]  # the judge's claims, as parsed from its JSON reply (see metrics.LLMJudge)
Score = float | bool | None | Claims
Metrics = dict[str, float | None]


@dataclass
class QuestionResult:
    dataset: str
    id: str
    question: str
    answerable: bool
    follows: str = ""
    answered: bool = False  # False: only prepared (outside the answer cap)
    abstained: bool = False
    p_answerable: float = 0.0
    query: str = ""
    answer: str = ""
    backend: str = ""
    notice: str = ""
    citations: list[dict[str, Any]] = field(default_factory=list)  # Citation.model_dump() of each citation
    gold_rank: int | None = None
    scores: dict[str, Score] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def score(self, name: str) -> float | None:
        """Score ``name`` as a number (a bool counts 0/1); None when missing, undefined or not numeric."""
        value = self.scores.get(name)
        return None if value is None or isinstance(value, list) else float(value)


@dataclass
class DatasetResult:
    name: str
    metrics: Metrics
    questions: list[QuestionResult]
    ingest: dict[str, object]
    notes: list[str] = field(default_factory=list)


@dataclass
class SuiteResult:
    suite: str
    backend: str
    datasets: list[DatasetResult]
    seconds: float
    options: dict[str, object] = field(default_factory=dict)
    gate_failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


FACTS_DATASETS = ("sample", "instances")


def regressed(q: QuestionResult) -> bool:
    """A feedback case fails: an answerable one abstains or misses its passage; an unanswerable one answers."""
    if not q.answerable:
        return not q.abstained
    return q.abstained or q.scores.get("citation_hit") is not True


def aggregate(results: list[QuestionResult], name: str) -> Metrics:
    answerable = [q for q in results if q.answerable]
    answered = [q for q in results if q.answered and not q.abstained]
    answered_answerable = [q for q in results if q.answered and q.answerable]
    out: Metrics = {
        "questions": len(results),
        "answerable": len(answerable),
        "answered": sum(q.answered for q in results),
        "citation_validity": m.mean(q.score("citation_valid") for q in answered),
        "citation_support": m.mean(q.score("citation_support") for q in answered),
        "citation_hit": m.mean(q.score("citation_hit") for q in answered_answerable),
    }
    # datasets with required facts (sample, instances) report facts_recall; those with reference answers, f1
    if name in FACTS_DATASETS:
        out["facts_recall"] = m.mean(q.score("facts_recall") for q in answered_answerable)
    else:
        out["f1"] = m.mean(q.score("f1") for q in answered_answerable)
    out.update(m.abstention_scores([(q.answerable, q.abstained) for q in results]))
    out.update(m.retrieval_scores([q.gold_rank for q in answerable]) if answerable else {})
    if name == "feedback":  # every case is a regression test: count the ones that fail their expectation
        out["regressions"] = sum(q.answered and regressed(q) for q in results)
    out["engine_grounding"] = m.mean(q.score("engine_grounding") for q in answered)
    judged = [q.score("judge_faithfulness") for q in answered]
    if any(j is not None for j in judged):
        out["judge_faithfulness"] = m.mean(judged)
    out["seconds_per_answer"] = m.mean(q.seconds for q in results if q.answered)
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}
