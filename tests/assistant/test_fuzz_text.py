"""Hypothesis on the sentence splitter, the verifier and the engine's answers: no crash, spans exact,
and whatever an LLM replies, every ``[n]`` of the final answer is a citation whose quote is exactly
``doc_text[start:end]``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.llm.fake import ScriptedLLM
from assistant.schema import Evidence
from assistant.services import Services
from assistant.settings import Settings
from assistant.text import sentence_spans
from assistant.verify import GroundingVerifier

FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
PIECES = st.sampled_from(["The", "army", "Mr.", "U.S.", "3.5", "Seoul", "summoned", "[1]", "[2]", "[9]", "[1, 2]",
                          ".", "!", "?", "...", "\n\n", "\n- ", "1.", "\"", "”", ")", "e.g.", " ", "\u200b", "\u202e",
                          "South Korea", "Russia’s ambassador", "Based on the sources:", "Sources:"])
TEXT = st.lists(PIECES | st.text(max_size=8), max_size=60).map(" ".join)


@FUZZ
@given(text=TEXT, cut=st.tuples(st.integers(0, 50), st.integers(0, 50)))
def test_sentence_spans_are_ordered_stripped_and_inside_the_range(text: str, cut: tuple[int, int]) -> None:
    start = min(cut[0], len(text))
    end = max(start, len(text) - cut[1])
    spans = sentence_spans(text, start, end)
    last = start
    for s, e in spans:
        assert last <= s < e <= end and e - s >= 2
        assert not text[s].isspace() and not text[e - 1].isspace()
        last = e


@pytest.fixture(scope="module")
def verifier(embedder: Any) -> GroundingVerifier:
    return GroundingVerifier(embedder.embed)


@FUZZ
@given(reply=TEXT, texts=st.lists(TEXT, min_size=0, max_size=3))
def test_verifier_never_crashes_and_keeps_only_real_ids(reply: str, texts: list[str], verifier: GroundingVerifier) -> None:
    evidence = [Evidence(id=i + 1, document_id="d", source="s", text=t or "x", start=0, end=len(t or "x"), score=0.5)
                for i, t in enumerate(texts)]
    result = verifier.verify(reply, evidence)
    ids = {e.id for e in evidence}
    assert all(kept and set(kept) <= ids for _, kept in result.sentences)
    assert 0.0 <= result.score <= 1.0


@pytest.fixture(scope="module")
def sample_services(sample_index: Path, embedder: Any) -> tuple[Services, ScriptedLLM]:
    llm = ScriptedLLM()
    services = Services(Settings(data_dir=sample_index, llm={"backend": "fake"}), embedder=embedder, llm=llm)
    return services, llm


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(reply=TEXT)
def test_any_llm_reply_ends_in_exact_citations(reply: str, sample_services: tuple[Services, ScriptedLLM]) -> None:
    services, llm = sample_services
    llm.enqueue(reply)
    answer = services.engine.ask("What did South Korea do in response?")
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", answer.answer)}
    assert cited == {c.id for c in answer.citations}, answer.answer
    texts = services.store.doc_texts(c.document_id for c in answer.citations)
    for c in answer.citations:
        assert texts[c.document_id][c.start:c.end] == c.quote
