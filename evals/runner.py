"""Run the grounding evals: build each dataset's own index, ask every question, score, gate, report.

Each dataset gets its own index under ``<report>/index/<dataset>`` (its own data dir and Chroma
collection), so sample questions never retrieve Wikipedia and vice versa; the user's index is never
touched. Ingestion is idempotent, so a second run re-uses the index.

Every question is first *prepared* (retrieval, evidence, the abstention decision; cheap) and then,
unless it falls outside the answer cap, *answered* with ``engine.ask``. Retrieval and abstention
metrics therefore cover every question even when LLM generation is capped (``--answer-limit``).

Example (in-process, as the tests do)::

    result = run_suite("ci", "fake", tmp_path, datasets=("sample",), llm=ScriptedLLM(responder=...))
    failures = gate(result, load_thresholds()["ci"])
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tomllib
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from tqdm import tqdm

from assistant.schema import Answer, ChatTurn
from evals import metrics as m
from evals.datasets import Dataset, EvalItem, load_datasets

LOCAL_ANSWER_CAP = 25  # per class (answerable / unanswerable) for CLAP NQ with the local LLM


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
    citations: list[dict[str, Any]] = field(default_factory=list)
    gold_rank: int | None = None
    scores: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class DatasetResult:
    name: str
    metrics: dict[str, float | None]
    questions: list[QuestionResult]
    ingest: dict[str, Any]
    notes: list[str] = field(default_factory=list)


@dataclass
class SuiteResult:
    suite: str
    backend: str
    datasets: list[DatasetResult]
    seconds: float
    options: dict[str, Any] = field(default_factory=dict)
    gate_failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- thresholds and the gate -----------------------------------------------------------------------

def load_thresholds(path: Path | None = None) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8") if path else (resources.files("evals") / "thresholds.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def gate(result: SuiteResult, suite_thresholds: dict[str, Any]) -> list[str]:
    """One message per metric on the wrong side of its threshold. A key ``x_max`` bounds metric ``x``
    from above; any other key bounds the metric of that name from below. A missing metric fails."""
    failures = []
    for ds in result.datasets:
        for key, bound in suite_thresholds.get(ds.name, {}).items():
            name, upper = (key[:-4], True) if key.endswith("_max") else (key, False)
            value = ds.metrics.get(name)
            if value is None:
                failures.append(f"{ds.name}.{name} was not measured (threshold {key} = {bound})")
            elif (value > bound) if upper else (value < bound):
                op = ">" if upper else "<"
                failures.append(f"{ds.name}.{name} = {value:.3f} {op} {'maximum' if upper else 'threshold'} {bound}")
    return failures


# -- running ---------------------------------------------------------------------------------------

STRICT_ABSTENTION = {"clapnq": "strict"}


def _services(name: str, backend: str, root: Path, llm: Any, embedder: Any) -> Any:
    from assistant.services import Services
    from assistant.settings import ChromaSettings, LLMSettings, RetrievalSettings, Settings

    settings = Settings(data_dir=root / "index" / name)
    settings.llm = LLMSettings.model_validate({**settings.llm.model_dump(), "backend": backend})
    settings.chroma = ChromaSettings.model_validate({**settings.chroma.model_dump(), "collection": f"eval-{name}"})
    # CLAP NQ is the corpus the strict abstention model was calibrated for (see assistant/abstain.py)
    settings.retrieval = RetrievalSettings.model_validate(
        {**settings.retrieval.model_dump(), "abstention": STRICT_ABSTENTION.get(name, "balanced")})
    services = Services(settings, llm=llm)
    if embedder is not None:  # share one loaded embedder between the datasets' services
        services.__dict__["embedder"] = embedder
    return services


def _answer_plan(ds: Dataset, limit: int, answer_limit: int | None) -> tuple[list[EvalItem], set[str]]:
    items = list(ds.items)
    if limit:  # balanced: ceil(limit/2) answerable + floor(limit/2) unanswerable, in file order
        ans = [i.id for i in items if i.answerable][: (limit + 1) // 2]
        una = [i.id for i in items if not i.answerable][: limit // 2]
        keep = set(ans + una)
        items = [i for i in items if i.id in keep]
    if answer_limit is None or ds.name == "sample":
        return items, {i.id for i in items}
    answer = [i.id for i in items if i.answerable][:answer_limit] + [i.id for i in items if not i.answerable][:answer_limit]
    return items, set(answer)


def run_dataset(ds: Dataset, services: Any, *, limit: int = 0, answer_limit: int | None = None,
                judge: m.LLMJudge | None = None, progress: bool = True) -> DatasetResult:
    root = services.settings.data_dir
    corpus = ds.corpus_writer(root / "corpus")
    report = services.ingestor.ingest(corpus)
    if report.failures:
        raise RuntimeError(f"{ds.name}: ingest failed for {[f.path for f in report.failures]}")
    engine = services.engine
    doc_text = lru_cache(maxsize=None)(services.store.doc_text)
    items, to_answer = _answer_plan(ds, limit, answer_limit)
    answers: dict[str, Answer] = {}
    results: list[QuestionResult] = []
    for item in tqdm(items, desc=f"eval {ds.name}", unit="q", file=sys.stderr, disable=not progress):
        history: list[ChatTurn] = []
        if item.follows:
            parent = next(i for i in ds.items if i.id == item.follows)
            prev = answers.get(parent.id)
            history = [ChatTurn(role="user", content=parent.question),
                       ChatTurn(role="assistant", content=prev.answer if prev else "")]
        started = time.perf_counter()
        prep = engine.prepare(item.question, history)
        q = QuestionResult(ds.name, item.id, item.question, item.answerable, item.follows,
                           p_answerable=round(prep.p_answerable, 4), query=prep.query, abstained=prep.abstain)
        if item.answerable:
            q.gold_rank = m.gold_rank(prep.chunks, ds.gold_kind, item.gold, doc_text)
        if item.id in to_answer:
            answer = engine.ask(item.question, history)
            answers[item.id] = answer
            q.answered, q.abstained, q.answer, q.backend = True, answer.abstained, answer.answer, answer.backend
            q.notice = answer.notice or ""
            q.citations = [c.model_dump() for c in answer.citations]
            _score(q, item, answer, ds.gold_kind, doc_text, judge)
        q.seconds = round(time.perf_counter() - started, 3)
        _judge_outcome(q)
        results.append(q)
    ingest = {"documents": report.documents, "chunks": report.chunks, "seconds": report.seconds}
    notes = list(ds.notes)
    if len(to_answer) < len(items):
        notes.append(f"answered {len(to_answer)} of {len(items)} questions (answer cap {answer_limit} per class); "
                     "retrieval and abstention cover all of them")
    return DatasetResult(ds.name, aggregate(results, ds.name), results, ingest, notes)


def _score(q: QuestionResult, item: EvalItem, answer: Answer, gold_kind: str, doc_text: Any,
           judge: m.LLMJudge | None) -> None:
    q.scores["engine_grounding"] = answer.grounding.score
    if answer.abstained:
        q.scores["citation_hit"] = False if item.answerable else None
        if item.answerable:
            q.scores["f1" if item.answers else "facts_recall"] = 0.0
        return
    problems = m.citation_validity(answer, doc_text)
    q.scores["citation_valid"] = not problems
    q.failures += [f"invalid citation: {p}" for p in problems]
    support = m.citation_support(answer)
    q.scores["citation_support"] = support.score
    q.failures += [f"unsupported sentence: {s.sentence!r} ({s.reason})" for s in support.unsupported]
    if item.answerable:
        hit = m.cites_file(answer, item.gold) if gold_kind == "file" else m.cites_span(answer, item.gold, doc_text)
        q.scores["citation_hit"] = hit
        if not hit:
            q.failures.append("no citation from the gold passage")
        if item.answers:
            q.scores["f1"] = round(m.token_f1(answer.answer, item.answers), 4)
        if item.facts:
            recall, missing = m.facts_recall(answer.answer, item.facts)
            q.scores["facts_recall"] = round(recall, 4)
            if missing:
                q.failures.append(f"missing required facts: {missing}")
    if judge is not None:
        try:
            score, claims = judge.faithfulness(item.question, answer)
        except Exception as exc:  # noqa: BLE001 - the judge is advisory; record and go on
            score, claims = None, [{"error": f"{type(exc).__name__}: {exc}"}]
        q.scores["judge_faithfulness"] = score
        q.scores["judge_claims"] = claims


def _judge_outcome(q: QuestionResult) -> None:
    if q.answerable and q.abstained:
        q.failures.insert(0, f"abstained on an answerable question (p_answerable {q.p_answerable:.2f})")
    if not q.answerable and not q.abstained:
        q.failures.insert(0, f"answered an unanswerable question (p_answerable {q.p_answerable:.2f})")
    if q.answerable and (q.gold_rank is None or q.gold_rank > 5):
        q.failures.append("gold passage not retrieved in the top 5")


def aggregate(results: list[QuestionResult], name: str) -> dict[str, float | None]:
    answerable = [q for q in results if q.answerable]
    answered = [q for q in results if q.answered and not q.abstained]
    answered_answerable = [q for q in results if q.answered and q.answerable]
    out: dict[str, float | None] = {
        "questions": len(results),
        "answerable": len(answerable),
        "answered": sum(q.answered for q in results),
        "citation_validity": m.mean(float(q.scores["citation_valid"]) for q in answered),
        "citation_support": m.mean(q.scores.get("citation_support") for q in answered),
        "citation_hit": m.mean(float(q.scores["citation_hit"]) for q in answered_answerable),
    }
    if name == "sample":
        out["facts_recall"] = m.mean(q.scores.get("facts_recall") for q in answered_answerable)
    else:
        out["f1"] = m.mean(q.scores.get("f1") for q in answered_answerable)
    out.update(m.abstention_scores([(q.answerable, q.abstained) for q in results]))
    out.update(m.retrieval_scores([q.gold_rank for q in answerable]) if answerable else {})
    out["engine_grounding"] = m.mean(q.scores.get("engine_grounding") for q in answered)
    judged = [q.scores.get("judge_faithfulness") for q in answered]
    if any(j is not None for j in judged):
        out["judge_faithfulness"] = m.mean(judged)
    out["seconds_per_answer"] = m.mean(q.seconds for q in results if q.answered)
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}


def run_suite(suite: str, backend: str, report_dir: Path, *, datasets: tuple[str, ...] = ("sample", "clapnq"),
              limit: int = 0, answer_limit: int | None = None, llm: Any = None, embedder: Any = None,
              judge: m.LLMJudge | None = None, progress: bool = True) -> SuiteResult:
    """Run ``suite`` in-process and return every metric and question (no gate, no files written
    except the indexes under ``report_dir/index``). ``answer_limit=None`` means: cap CLAP NQ at
    ``LOCAL_ANSWER_CAP`` per class for the local LLM, no cap otherwise; 0 means no cap."""
    started = time.perf_counter()
    if answer_limit is None:
        answer_limit = LOCAL_ANSWER_CAP if backend == "local" else 0
    report_dir = Path(report_dir)
    out: list[DatasetResult] = []
    shared_llm = llm
    for ds in load_datasets(suite, datasets):
        services = _services(ds.name, backend, report_dir, shared_llm, embedder)
        embedder = services.embedder
        shared_llm = services.llm  # load the local model once for all datasets
        out.append(run_dataset(ds, services, limit=limit, answer_limit=answer_limit or None,
                               judge=judge, progress=progress))
    options = {"datasets": list(datasets), "limit": limit, "answer_limit": answer_limit, "judge": judge is not None}
    return SuiteResult(suite, backend, out, round(time.perf_counter() - started, 1), options)


def run_cli(args: argparse.Namespace) -> int:
    """``assistant eval``: run, write the report, print the summary; 1 if the gate fails."""
    from evals.report import print_summary, write_report

    judge = None
    if getattr(args, "judge_url", ""):
        key = os.environ.get(args.judge_key_env, "") if getattr(args, "judge_key_env", "") else ""
        judge = m.LLMJudge(args.judge_url, args.judge_model or "", api_key=key)
    datasets = tuple(getattr(args, "datasets", None) or ("sample", "clapnq"))
    result = run_suite(args.suite, args.backend, Path(args.report), datasets=datasets, limit=args.limit,
                       answer_limit=getattr(args, "answer_limit", None), judge=judge,
                       progress=not getattr(args, "no_progress", False))
    thresholds = load_thresholds().get(args.suite, {})
    if getattr(args, "no_gate", False):
        thresholds = {}
    result.gate_failures = gate(result, thresholds)
    paths = write_report(result, Path(args.report), thresholds)
    print_summary(result, thresholds)
    print(f"report: {', '.join(str(p) for p in paths)}")
    if result.gate_failures:
        print(f"\nFAILED: {len(result.gate_failures)} metric(s) below threshold:", file=sys.stderr)
        for f in result.gate_failures:
            print(f"  {f}", file=sys.stderr)
        return 1
    return 0
