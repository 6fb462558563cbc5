"""HybridRetriever over real Chroma: fusion, document filters, and BM25 consistency after writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.settings import Settings

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


def test_bm25_follows_updates_and_deletes(settings: Settings, make_services: Any, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("The zebrafish project started in Lisbon. It studies fin regrowth.")
    (docs / "b.txt").write_text("Quarterly revenue grew by 14 percent. Costs stayed flat.")
    services = make_services(settings)
    services.ingestor.ingest([docs])
    retriever = services.engine.retriever
    top = retriever.retrieve("zebrafish Lisbon")[0]
    assert top.text.startswith("The zebrafish") and top.bm25 > 0

    (docs / "a.txt").write_text("The axolotl project started in Porto. It studies limb regrowth.")
    services.ingestor.ingest([docs])
    texts = [c.text for c in retriever.retrieve("zebrafish Lisbon", top_k=10)]
    assert all("zebrafish" not in t for t in texts), "the old version must be gone from dense and BM25"
    assert retriever.retrieve("axolotl Porto")[0].text.startswith("The axolotl")

    doc_b = next(d for d in services.ingestor.documents() if d.source.endswith("b.txt"))
    services.ingestor.delete(doc_b.id)
    assert all(c.document_id != doc_b.id for c in retriever.retrieve("revenue percent", top_k=10))


def test_document_filter(settings: Settings, make_services: Any, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Apples are harvested in autumn in the northern orchards.")
    (docs / "b.txt").write_text("Apples are stored in cold rooms after the harvest.")
    services = make_services(settings)
    services.ingestor.ingest([docs])
    b = next(d for d in services.ingestor.documents() if d.source.endswith("b.txt"))
    chunks = services.engine.retriever.retrieve("apples harvest", document_ids=[b.id])
    assert chunks and {c.document_id for c in chunks} == {b.id}


def test_fused_score_keeps_dense_order_unless_bm25_adds_evidence(settings: Settings, make_services: Any) -> None:
    services = make_services(settings)
    services.ingestor.ingest([SAMPLE])
    chunks = services.engine.retriever.retrieve("How many North Korean soldiers might be near Kursk?")
    assert "11,000" in chunks[0].text
    assert all(c.score >= c.dense for c in chunks)  # BM25 only ever adds
    assert [c.score for c in chunks] == sorted((c.score for c in chunks), reverse=True)
