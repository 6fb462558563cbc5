"""EvidenceSelector on the sample: windows carry the context a lone sentence lacks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.settings import Settings
from assistant.text import sentence_spans

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


def test_the_south_korea_answer_is_the_top_evidence(settings: Settings, make_services: Any) -> None:
    """Regression: scored alone, the answering sentence ranks 23rd of 34 (its subject is in the sentence before)."""
    services = make_services(settings)
    services.ingestor.ingest([SAMPLE])
    prep = services.engine.prepare("What did South Korea do in response?")
    top = prep.evidence[0]
    assert "South Korea has already raised alarms" in top.text and "summoning of Russia’s ambassador" in top.text
    text = services.store.doc_text(top.document_id)
    for ev in prep.evidence:
        assert text[ev.start : ev.end] == ev.text
    assert len({(e.start, e.end) for e in prep.evidence}) == len(prep.evidence)


def test_headings_are_not_evidence(settings: Settings, make_services: Any) -> None:
    services = make_services(settings)
    services.ingestor.ingest([SAMPLE])
    prep = services.engine.prepare("What are the global consequences of North Korean involvement?")
    assert all(not e.text.startswith("Emerging Tensions") for e in prep.evidence)


def test_sentence_spans_handle_abbreviations_and_spaced_periods() -> None:
    text = "Dr. Smith met Mr. Jones in the U.S. on Monday. Forecasting uses averages . Any change recurs."
    sentences = [text[s:e] for s, e in sentence_spans(text)]
    assert sentences == ["Dr. Smith met Mr. Jones in the U.S. on Monday.", "Forecasting uses averages .",
                         "Any change recurs."]
