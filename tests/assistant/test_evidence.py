"""EvidenceSelector on the sample: windows carry the context a lone sentence lacks."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant.services import Services
from assistant.settings import IngestSettings, Settings
from assistant.text import sentence_spans
from ingest.embedder import MiniLMEmbedding

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


def test_the_south_korea_answer_is_the_top_evidence(sample_settings: Settings, make_services: Any) -> None:
    """Regression: scored alone, the answering sentence ranks 23rd of 34 (its subject is in the sentence before)."""
    services = make_services(sample_settings)
    prep = services.engine.prepare("What did South Korea do in response?")
    top = prep.evidence[0]
    assert "South Korea has already raised alarms" in top.text and "summoning of Russia’s ambassador" in top.text
    text = services.store.doc_text(top.document_id)
    for ev in prep.evidence:
        assert text[ev.start : ev.end] == ev.text
    assert len({(e.start, e.end) for e in prep.evidence}) == len(prep.evidence)


def test_headings_are_not_evidence(sample_settings: Settings, make_services: Any) -> None:
    services = make_services(sample_settings)
    prep = services.engine.prepare("What are the global consequences of North Korean involvement?")
    assert all(not e.text.startswith("Emerging Tensions") for e in prep.evidence)


def test_sentence_spans_handle_abbreviations_and_spaced_periods() -> None:
    text = "Dr. Smith met Mr. Jones in the U.S. on Monday. Forecasting uses averages . Any change recurs."
    sentences = [text[s:e] for s, e in sentence_spans(text)]
    assert sentences == ["Dr. Smith met Mr. Jones in the U.S. on Monday.", "Forecasting uses averages .",
                         "Any change recurs."]


class CountingEmbedder:
    """The real embedder, recording every list of texts it is asked to embed (late chunking included)."""

    def __init__(self, inner: MiniLMEmbedding) -> None:
        self.inner = inner
        self.model_name = inner.model_name
        self.count_tokens = inner.count_tokens
        self.calls: list[list[str]] = []

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return self.inner.embed(texts)

    def embed_spans(self, texts: list[str], spans: list[list[tuple[int, int]]]) -> tuple[np.ndarray, list[np.ndarray]]:
        self.calls.append(list(texts))
        return self.inner.embed_spans(texts, spans)


def _evidence_is_exact(services: Any, evidence: list[Any]) -> None:
    assert evidence
    for ev in evidence:
        assert services.store.doc_text(ev.document_id)[ev.start : ev.end] == ev.text


def test_a_new_question_embeds_only_itself(sample_settings: Settings, embedder: MiniLMEmbedding) -> None:
    """The sentence vectors evidence selection needs were stored at ingest: none is embedded at query time."""
    counting = CountingEmbedder(embedder)
    services = Services(sample_settings, embedder=counting)
    for question in ("What did South Korea do in response?", "How many North Korean troops are in Russia?"):
        counting.calls.clear()
        prep = services.engine.prepare(question)
        assert counting.calls == [[question]]
        _evidence_is_exact(services, prep.evidence)


def test_an_index_without_sentence_vectors_embeds_them_at_query_time(
        settings: Settings, embedder: MiniLMEmbedding, caplog: pytest.LogCaptureFixture) -> None:
    """An index ingested before sentence vectors existed (or with them off) still answers, the same way,
    embedding the shortlisted sentences, and says how to speed it up; re-ingesting stores them."""
    counting = CountingEmbedder(embedder)
    old = settings.model_copy(update={"ingest": IngestSettings(sentence_vectors="off")})
    services = Services(old, embedder=counting)
    services.ingestor.ingest([SAMPLE])
    assert services.store.sentences.count() == 0
    counting.calls.clear()
    with caplog.at_level(logging.WARNING, logger="assistant.evidence"):
        prep = services.engine.prepare("What did South Korea do in response?")
    assert len(counting.calls) == 2 and len(counting.calls[1]) > 1, "the query, then the shortlisted sentences"
    assert "re-run `assistant ingest`" in caplog.text
    assert "South Korea has already raised alarms" in prep.evidence[0].text
    _evidence_is_exact(services, prep.evidence)

    report = Services(settings, embedder=counting, store=services.store).ingestor.ingest([SAMPLE])
    assert report.documents["updated"] == 1, "the sentence-vector mode is part of the version: re-ingested"
    assert services.store.sentences.count() > 0
