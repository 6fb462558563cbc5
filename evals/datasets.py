"""The eval datasets, as one ``EvalItem`` shape: the sample-document questions and CLAP NQ dev.

* ``sample``: ``evals/data/sample_questions.jsonl``, written by the team for this project over
  ``data/sample/north-korean-troops-in-ukraine.txt``. Each answerable question lists the facts a
  correct answer must contain (each fact a list of acceptable phrasings) and the supporting passage
  (an exact substring of the document). Follow-ups name the question they follow (``follows``).
* ``clapnq``: CLAP NQ dev (see ``evals/clapnq.py``); the corpus is always all 600 passages, pooled.
  Suite ``ci`` asks the first 100 answerable and the first 100 unanswerable questions (file order);
  suite ``full`` asks all 600.
* ``clapnq-lgo`` (leave gold out): CLAP NQ's answerable questions asked over the same pool *without*
  their own gold passage (a ``document_ids`` filter), so the right behaviour is to abstain: the
  passages left are on the topic's neighbourhood but do not state the answer. ``ci``: the first 100.
* ``instances``: ``evals/data/instance_variants.json``: the same kind of fact for different years or
  entities in separate, similarly worded passages (Olympics by year, companies, rovers, ...), and
  questions naming one instance; plus questions about an absent instance or an unstated attribute.

Example::

    items = sample_items()                    # 31 EvalItem
    ds = clapnq_dataset("ci")                 # Dataset(name="clapnq", items=[...200]); corpus: 600 passages
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from assistant.settings import Settings
from evals.clapnq import ClapItem, load_clapnq, write_corpus

SAMPLE_QUESTIONS = "sample_questions.jsonl"
SAMPLE_DOCUMENT = Path(__file__).resolve().parent.parent / "data" / "sample" / "north-korean-troops-in-ukraine.txt"
CI_PER_CLASS = 100
SUITES = ("ci", "full")


@dataclass(frozen=True)
class EvalItem:
    """One question. ``gold`` is the gold file name (CLAP) or the supporting passage (sample)."""

    id: str
    question: str
    answerable: bool
    gold: str = ""
    answers: tuple[str, ...] = ()  # CLAP NQ reference answers (token F1)
    facts: tuple[tuple[str, ...], ...] = ()  # sample: required facts, each a tuple of alternatives
    follows: str = ""  # id of the question whose turn this follow-up needs
    kind: str = ""  # free-text label of unanswerable sample questions (false premise, off-topic, ...)
    exclude: tuple[str, ...] = ()  # corpus file names left out of the index for this question
    history: tuple[tuple[str, str], ...] = ()  # (role, content) turns before the question (feedback cases)
    gold_document: str = ""  # the document id of the gold passage, when known (feedback cases)


@dataclass
class Dataset:
    """Questions plus how to build their index; ``gold_kind`` says how ``EvalItem.gold`` is matched."""

    name: str
    items: list[EvalItem]
    gold_kind: str  # "file" (cited/retrieved source file name) or "span" (overlap with the passage)
    corpus_writer: Callable[[Path], list[Path]]  # writes the corpus under a folder; returns the paths to ingest
    notes: list[str] = field(default_factory=list)
    index: str = ""  # the index (data dir and collection) to build or share; default: the dataset's name
    settings: Settings | None = None  # replay on this existing index instead (nothing is ingested into it)

    @property
    def index_name(self) -> str:
        return self.index or self.name


def sample_items(path: Path | None = None) -> list[EvalItem]:
    """The sample-document questions, in file order (a follow-up always after the question it follows)."""
    text = path.read_text(encoding="utf-8") if path else (resources.files("evals") / "data" / SAMPLE_QUESTIONS).read_text(encoding="utf-8")
    items: list[EvalItem] = []
    seen: set[str] = set()
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        d = json.loads(line)
        follows = d.get("follows") or ""
        if follows and follows not in seen:
            raise ValueError(f"{SAMPLE_QUESTIONS}:{n}: {d['id']!r} follows {follows!r}, which must come earlier in the file")
        if d["answerable"] and not (d.get("facts") and d.get("passage")):
            raise ValueError(f"{SAMPLE_QUESTIONS}:{n}: answerable question {d['id']!r} needs facts and a passage")
        items.append(EvalItem(
            id=d["id"], question=d["question"], answerable=bool(d["answerable"]), gold=d.get("passage", ""),
            facts=tuple(tuple(alts) for alts in d.get("facts", [])), follows=follows, kind=d.get("kind", ""),
        ))
        seen.add(d["id"])
    return items


def sample_dataset(suite: str = "ci", document: Path = SAMPLE_DOCUMENT) -> Dataset:
    """The sample questions (same in both suites) over the one sample document."""
    _check_suite(suite)
    if not document.is_file():
        raise FileNotFoundError(f"the sample document is missing: {document}")
    return Dataset("sample", sample_items(), gold_kind="span", corpus_writer=lambda folder: [document])


def clap_subset(items: list[ClapItem], suite: str) -> list[ClapItem]:
    """``ci``: the first 100 answerable + first 100 unanswerable by file order; ``full``: all."""
    _check_suite(suite)
    if suite == "full":
        return list(items)
    answerable = [i for i in items if i.answerable][:CI_PER_CLASS]
    unanswerable = [i for i in items if not i.answerable][:CI_PER_CLASS]
    return answerable + unanswerable


def clapnq_dataset(suite: str = "ci") -> Dataset:
    """CLAP NQ questions for ``suite``; the corpus is always all 600 passages (retrieval over the pool)."""
    pool = load_clapnq()
    items = [
        EvalItem(id=c.id, question=c.question, answerable=c.answerable, gold=c.filename, answers=c.answers)
        for c in clap_subset(pool, suite)
    ]

    def corpus(folder: Path) -> list[Path]:
        write_corpus(pool, folder)
        return [folder]

    return Dataset("clapnq", items, gold_kind="file", corpus_writer=corpus)


def clapnq_lgo_dataset(suite: str = "ci") -> Dataset:
    """CLAP NQ answerable questions, each asked with its own gold passage excluded: all should abstain."""
    pool = load_clapnq()
    answerable = [c for c in clap_subset(pool, suite) if c.answerable]
    items = [EvalItem(id=f"lgo-{c.id}", question=c.question, answerable=False, exclude=(c.filename,),
                      kind="gold passage left out") for c in answerable]

    def corpus(folder: Path) -> list[Path]:
        write_corpus(pool, folder)
        return [folder]

    return Dataset("clapnq-lgo", items, gold_kind="file", corpus_writer=corpus, index="clapnq",
                   notes=["every question is answerable only from its gold passage, which is left out of the index"])


INSTANCES = "instance_variants.json"


def instances_dataset(suite: str = "ci") -> Dataset:
    """Temporal and instance variants (same questions in both suites)."""
    _check_suite(suite)
    data = json.loads((resources.files("evals") / "data" / INSTANCES).read_text(encoding="utf-8"))
    docs = {d["id"]: d for d in data["documents"]}
    items = [EvalItem(id=q["id"], question=q["question"], answerable=bool(q["answerable"]),
                      gold=f"{q['gold_document']}.txt" if q["answerable"] else "",
                      facts=(tuple(q["answers"]),) if q["answers"] else (), kind=q.get("kind", ""))
             for q in data["questions"]]

    def corpus(folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        for doc_id, d in docs.items():
            (folder / f"{doc_id}.txt").write_text(f"{d['title']}\n\n{d['text'].strip()}\n", encoding="utf-8")
        return [folder]

    return Dataset("instances", items, gold_kind="file", corpus_writer=corpus)


DATASETS: dict[str, Callable[[str], Dataset]] = {
    "sample": sample_dataset, "clapnq": clapnq_dataset, "clapnq-lgo": clapnq_lgo_dataset,
    "instances": instances_dataset,
}


def load_datasets(suite: str, names: tuple[str, ...] = tuple(DATASETS)) -> list[Dataset]:
    builders = DATASETS
    unknown = [n for n in names if n not in builders]
    if unknown:
        raise ValueError(f"unknown dataset(s) {unknown}; choose from {sorted(builders)}")
    return [builders[n](suite) for n in names]


def _check_suite(suite: str) -> None:
    if suite not in SUITES:
        raise ValueError(f"suite must be one of {SUITES}, got {suite!r}")
