"""Run the grounding evals: build each dataset's own index, ask every question, score each answer.

Each dataset gets its own index under ``<report>/index/<dataset>`` (its own data dir and Chroma
collection), so sample questions never retrieve Wikipedia and vice versa; the user's index is never
touched. Ingestion is idempotent, so a second run re-uses the index.

Every question is first *prepared* (retrieval, evidence, the abstention decision; cheap) and then,
unless it falls outside the answer cap, *answered* with ``engine.ask``. Retrieval and abstention
metrics therefore cover every question even when LLM generation is capped (``--answer-limit``).

The result types are in ``evals/results.py``, the gate in ``evals/gate.py``, the report in
``evals/report.py`` and ``assistant eval`` in ``evals/cli.py``.

Example (in-process, as the tests do)::

    result = run_suite("ci", "fake", tmp_path, datasets=("sample",), llm=ScriptedLLM(responder=...))
    failures = gate(result, load_thresholds()["ci"])
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from assistant.schema import Answer, ChatTurn, IngestReport
from assistant.services import Services
from assistant.settings import ChromaSettings, LLMSettings, Settings
from evals import metrics as m
from evals.datasets import DATASETS, Dataset, EvalItem, load_datasets
from evals.results import DatasetResult, QuestionResult, SuiteResult, aggregate

if TYPE_CHECKING:
    from assistant.llm.base import LLM
    from ingest.embedder import Embedder

LOCAL_ANSWER_CAP = 25  # per class (answerable / unanswerable) for CLAP NQ with the local LLM

DocText = Callable[[str], str]  # document id -> its full text (ChromaStore.doc_text)


def _services(name: str, backend: str, root: Path, llm: LLM | None, embedder: Embedder | None,
              settings: Settings | None = None) -> Services:
    """The engine's ``Services`` for dataset ``name``: its own data dir and collection under ``root`` (or the
    existing index of ``settings``). ``embedder`` and ``llm``, when given, are shared with the other datasets'."""
    if settings is not None:
        settings = settings.model_copy()
    else:
        settings = Settings(data_dir=root / "index" / name)
        settings.chroma = ChromaSettings.model_validate({**settings.chroma.model_dump(), "collection": f"eval-{name}"})
    settings.llm = LLMSettings.model_validate({**settings.llm.model_dump(), "backend": backend})
    return Services(settings, embedder=embedder, llm=llm)


def shared_services(datasets: list[Dataset], backend: str, root: Path, llm: LLM | None = None,
                    embedder: Embedder | None = None) -> Iterator[tuple[Dataset, Services]]:
    """Each dataset with the ``Services`` of its index; datasets naming the same index share one, and all
    share one embedder and one LLM (the local model is loaded once)."""
    by_index: dict[str, Services] = {}
    for ds in datasets:
        if ds.index_name not in by_index:
            services = _services(ds.index_name, backend, root, llm, embedder, ds.settings)
            embedder, llm = services.embedder, services.llm
            by_index[ds.index_name] = services
        yield ds, by_index[ds.index_name]


def _answer_plan(ds: Dataset, limit: int, answer_limit: int | None) -> tuple[list[EvalItem], set[str]]:
    items = list(ds.items)
    if limit:  # balanced: ceil(limit/2) answerable + floor(limit/2) unanswerable, in file order
        ans = [i.id for i in items if i.answerable][: (limit + 1) // 2]
        una = [i.id for i in items if not i.answerable][: limit // 2]
        keep = set(ans + una)
        items = [i for i in items if i.id in keep]
    if answer_limit is None or ds.name in ("sample", "feedback"):
        return items, {i.id for i in items}
    answer = [i.id for i in items if i.answerable][:answer_limit] + [i.id for i in items if not i.answerable][:answer_limit]
    return items, set(answer)


def document_scope(services: Services) -> Callable[[EvalItem], list[str] | None]:
    """For each question, the documents it may use: all but its excluded files (None = no filter)."""
    by_file = {Path(d.source).name: d.id for d in services.store.docs().values()}

    def scope(item: EvalItem) -> list[str] | None:
        return [i for name, i in by_file.items() if name not in item.exclude] if item.exclude else None

    return scope


def follow_up_history(ds: Dataset, item: EvalItem, answers: dict[str, str]) -> list[ChatTurn]:
    """The conversation a follow-up is asked in: the question it follows and the engine's answer to it."""
    if item.history:
        return [ChatTurn.model_validate({"role": role, "content": content}) for role, content in item.history]
    if not item.follows:
        return []
    parent = next(i for i in ds.items if i.id == item.follows)
    return [ChatTurn(role="user", content=parent.question),
            ChatTurn(role="assistant", content=answers.get(parent.id, ""))]


def run_dataset(ds: Dataset, services: Services, *, limit: int = 0, answer_limit: int | None = None,
                judge: m.LLMJudge | None = None, progress: bool = True) -> DatasetResult:
    root = services.settings.data_dir
    corpus = ds.corpus_writer(root / "corpus")
    report = services.ingestor.ingest(corpus) if corpus else IngestReport()  # no corpus: an existing index
    if report.failures:
        raise RuntimeError(f"{ds.name}: ingest failed for {[f.path for f in report.failures]}")
    engine = services.engine
    scope = document_scope(services)
    doc_text: DocText = lru_cache(maxsize=None)(services.store.doc_text)
    items, to_answer = _answer_plan(ds, limit, answer_limit)
    answers: dict[str, str] = {}
    results: list[QuestionResult] = []
    for item in tqdm(items, desc=f"eval {ds.name}", unit="q", file=sys.stderr, disable=not progress):
        history = follow_up_history(ds, item, answers)
        started = time.perf_counter()
        prep = engine.prepare(item.question, history, scope(item))
        q = QuestionResult(ds.name, item.id, item.question, item.answerable, item.follows,
                           p_answerable=round(prep.p_answerable, 4), query=prep.query, abstained=prep.abstain)
        if item.answerable:
            q.gold_rank = m.gold_rank(prep.chunks, ds.gold_kind, item.gold, doc_text)
        if item.id in to_answer:
            answer = engine.ask(item.question, history, scope(item))
            answers[item.id] = answer.answer
            q.answered, q.abstained, q.answer, q.backend = True, answer.abstained, answer.answer, answer.backend
            q.notice = answer.notice or ""
            q.citations = [c.model_dump() for c in answer.citations]
            _score(q, item, answer, ds.gold_kind, doc_text, judge)
        q.seconds = round(time.perf_counter() - started, 3)
        _judge_outcome(q)
        results.append(q)
    ingest: dict[str, object] = {"documents": report.documents, "chunks": report.chunks, "seconds": report.seconds}
    notes = list(ds.notes)
    if len(to_answer) < len(items):
        notes.append(f"answered {len(to_answer)} of {len(items)} questions (answer cap {answer_limit} per class); "
                     "retrieval and abstention cover all of them")
    return DatasetResult(ds.name, aggregate(results, ds.name), results, ingest, notes)


def _score(q: QuestionResult, item: EvalItem, answer: Answer, gold_kind: str, doc_text: DocText,
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


def _datasets(suite: str, names: tuple[str, ...], settings: Settings | None, feedback_file: Path | None
              ) -> list[Dataset]:
    from evals.feedback import NAME, feedback_dataset

    built = load_datasets(suite, tuple(n for n in names if n != NAME))
    if NAME in names:
        built.append(feedback_dataset(settings or Settings(), feedback_file))
    return built


def run_suite(suite: str, backend: str, report_dir: Path, *, datasets: tuple[str, ...] = tuple(DATASETS),
              limit: int = 0, answer_limit: int | None = None, llm: LLM | None = None, embedder: Embedder | None = None,
              judge: m.LLMJudge | None = None, progress: bool = True,
              settings: Settings | None = None, feedback_file: Path | None = None) -> SuiteResult:
    """Run ``suite`` in-process and return every metric and question (no gate, no files written
    except the indexes under ``report_dir/index``). ``answer_limit=None`` means: cap CLAP NQ at
    ``LOCAL_ANSWER_CAP`` per class for the local LLM, no cap otherwise; 0 means no cap. The ``feedback``
    dataset replays the votes stored under ``settings`` (default: ``Settings()``), or the exported dataset
    ``feedback_file``, on the index of ``settings``."""
    started = time.perf_counter()
    if answer_limit is None:
        answer_limit = LOCAL_ANSWER_CAP if backend == "local" else 0
    report_dir = Path(report_dir)
    out: list[DatasetResult] = []
    for ds, services in shared_services(_datasets(suite, datasets, settings, feedback_file), backend, report_dir, llm, embedder):
        out.append(run_dataset(ds, services, limit=limit, answer_limit=answer_limit or None,
                               judge=judge, progress=progress))
    options: dict[str, object] = {"datasets": list(datasets), "limit": limit, "answer_limit": answer_limit, "judge": judge is not None}
    return SuiteResult(suite, backend, out, round(time.perf_counter() - started, 1), options)
