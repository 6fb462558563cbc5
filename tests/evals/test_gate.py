"""The CI gate can fail: bad fake backends fail it on the right metric; the extractive backend passes.

Each run is in-process on the sample dataset only (one document, 31 questions: a few seconds).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from assistant.llm.fake import ScriptedLLM
from evals.gate import gate, load_thresholds
from evals.results import SuiteResult
from evals.runner import run_suite

if TYPE_CHECKING:
    from assistant.llm.base import LLM
    from ingest.embedder import Embedder

EVIDENCE = re.compile(r"^\[(\d+)\] (.+)$", re.M)
# Lower-case words only: the engine's verifier checks capitalised names, so an invented clause has to
# slip past it on coverage alone, which is exactly what our stricter checker should catch.
INVENTED = "which several unnamed officials privately described as deliberate unprecedented deeply troubling escalation".split()


def _evidence(messages: list[dict[str, str]]) -> list[tuple[int, str]]:
    text = messages[-1]["content"]
    if "Evidence:" not in text:
        return []  # the condense prompt: an empty reply makes the engine rewrite deterministically
    return [(int(n), body) for n, body in EVIDENCE.findall(text)]


def _first_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?])\s+", text.strip())[0].rstrip(".!?")


def embellishing(messages: list[dict[str, str]]) -> str:
    """Quote evidence [1] and append an invented clause (~45% extra content words): a hallucination
    the engine's verifier (75% stemmed coverage, at most 3 uncovered terms) keeps, and our checker
    (80% verbatim coverage, at most 1 uncovered word) rejects often enough to fail the gate."""
    ev = _evidence(messages)
    if not ev:
        return ""
    n, text = ev[0]
    sentence = _first_sentence(text)
    extra = INVENTED[: max(3, math.ceil(0.45 * len(sentence.split()) * 0.6))]
    return f"{sentence}, {' '.join(extra)} [{n}]."


def wrong_source(messages: list[dict[str, str]]) -> str:
    """Quote (verbatim, correctly cited) the least relevant evidence passage instead of the best."""
    ev = _evidence(messages)
    if not ev:
        return ""
    n, text = ev[-1]
    return f"{_first_sentence(text)} [{n}]."


@pytest.fixture(scope="module")
def sample_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One report folder (and so one ingested sample index) shared by the gate tests."""
    return tmp_path_factory.mktemp("eval-gate")


def _run(folder: Path, backend: str, embedder: Embedder, llm: LLM | None = None) -> SuiteResult:
    return run_suite("ci", backend, folder, datasets=("sample",), llm=llm, embedder=embedder, progress=False)


@pytest.mark.slow
def test_gate_fails_on_unsupported_sentences(sample_index: Path, embedder: Embedder) -> None:
    result = _run(sample_index, "fake", embedder, ScriptedLLM(responder=embellishing))
    metrics = result.datasets[0].metrics
    failures = gate(result, load_thresholds()["ci"])
    assert any(f.startswith("sample.citation_support") for f in failures), failures
    # the engine's own verifier let the invented clauses through: the point of a separate checker
    engine, ours = metrics["engine_grounding"], metrics["citation_support"]
    assert engine is not None and ours is not None and engine > ours, (engine, ours)


@pytest.mark.slow
def test_gate_fails_on_quoting_the_wrong_passage(sample_index: Path, embedder: Embedder) -> None:
    """Valid, supported quotes of the wrong sentence: the gate fails on the facts (and on citation hit
    when the model was shown a second passage to quote)."""
    result = _run(sample_index, "fake", embedder, ScriptedLLM(responder=wrong_source))
    failures = gate(result, load_thresholds()["ci"])
    assert any(f.startswith(("sample.citation_hit", "sample.facts_recall")) for f in failures), failures
    assert not any(f.startswith("sample.citation_validity") for f in failures), failures


@pytest.mark.slow
def test_gate_passes_on_the_extractive_backend(sample_index: Path, embedder: Embedder) -> None:
    result = _run(sample_index, "extractive", embedder)
    assert gate(result, load_thresholds()["ci"]) == []
    assert result.datasets[0].metrics["citation_validity"] == 1.0
