"""HybridRetriever over real Chroma: fusion, document filters, and BM25 consistency after writes."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from assistant.retrieval import HybridRetriever
from assistant.settings import Settings
from assistant.text import content_terms
from ingest.store import ChromaStore


def _ingest_texts(services: Any, docs: Path, **texts: str) -> None:
    """Write ``name=text`` as ``docs/name.txt`` and ingest the folder."""
    docs.mkdir(exist_ok=True)
    for name, text in texts.items():
        (docs / f"{name}.txt").write_text(text)
    services.ingestor.ingest([docs])


def test_bm25_follows_updates_and_deletes(settings: Settings, make_services: Any, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    services = make_services(settings)
    _ingest_texts(services, docs, a="The zebrafish project started in Lisbon. It studies fin regrowth.",
                  b="Quarterly revenue grew by 14 percent. Costs stayed flat.")
    retriever = services.engine.retriever
    top = retriever.retrieve("zebrafish Lisbon")[0]
    assert top.text.startswith("The zebrafish") and top.bm25 > 0

    _ingest_texts(services, docs, a="The axolotl project started in Porto. It studies limb regrowth.")
    texts = [c.text for c in retriever.retrieve("zebrafish Lisbon", top_k=10)]
    assert all("zebrafish" not in t for t in texts), "the old version must be gone from dense and BM25"
    assert retriever.retrieve("axolotl Porto")[0].text.startswith("The axolotl")

    doc_b = next(d for d in services.ingestor.documents() if d.source.endswith("b.txt"))
    services.ingestor.delete(doc_b.id)
    assert all(c.document_id != doc_b.id for c in retriever.retrieve("revenue percent", top_k=10))


def test_document_filter(settings: Settings, make_services: Any, tmp_path: Path) -> None:
    services = make_services(settings)
    _ingest_texts(services, tmp_path / "docs", a="Apples are harvested in autumn in the northern orchards.",
                  b="Apples are stored in cold rooms after the harvest.")
    b = next(d for d in services.ingestor.documents() if d.source.endswith("b.txt"))
    chunks = services.engine.retriever.retrieve("apples harvest", document_ids=[b.id])
    assert chunks and {c.document_id for c in chunks} == {b.id}


def test_fused_score_keeps_dense_order_unless_bm25_adds_evidence(sample_settings: Settings,
                                                                 make_services: Any) -> None:
    services = make_services(sample_settings)
    chunks = services.engine.retriever.retrieve("How many North Korean soldiers might be near Kursk?")
    assert "11,000" in chunks[0].text
    assert all(c.score >= c.dense for c in chunks)  # BM25 only ever adds
    assert [c.score for c in chunks] == sorted((c.score for c in chunks), reverse=True)



class RecordingStore(ChromaStore):
    """The real store, recording which documents' chunks a reader fetched and whether it read everything."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.fetched: list[str] = []
        self.full_reads = 0

    def chunks_of(self, doc_ids: Iterable[str]) -> list[tuple[str, dict[str, Any], str]]:
        doc_ids = list(doc_ids)
        self.fetched.extend(doc_ids)
        return super().chunks_of(doc_ids)

    def iter_chunks(self) -> Iterable[tuple[str, dict[str, Any], str]]:
        self.full_reads += 1
        return super().iter_chunks()


def test_incremental_snapshot_ranks_like_a_full_rebuild(settings: Settings, make_services: Any, tmp_path: Path,
                                                        clapnq_passages: Any) -> None:
    """A reader following another writer's add/replace/remove by updates answers exactly like a reader
    that reads the whole index afresh, and it reads only the changed documents' chunks."""
    folder = tmp_path / "docs"
    folder.mkdir()
    for i, (title, text) in enumerate(clapnq_passages[:12]):
        (folder / f"p{i:02d}.txt").write_text(f"{title}\n\n{text}")
    writer = make_services(settings)
    writer.ingestor.ingest([folder])
    store = RecordingStore.connect(settings.chroma, settings.chroma_path)
    retriever = make_services(settings, store=store).engine.retriever
    questions = [" ".join(text.split()[5:14]) for _, text in clapnq_passages[:12:3]]
    before = retriever.snapshot()
    assert store.full_reads == 1

    (folder / "p00.txt").write_text("Glacier retreat in the Alps. " + clapnq_passages[20][1])  # replaced
    (folder / "p01.txt").unlink()  # removed
    (folder / "p99.txt").write_text(clapnq_passages[30][1])  # added
    writer.ingestor.ingest([folder], prune=True)

    updated = retriever.snapshot()
    assert updated.generation > before.generation and store.full_reads == 1
    changed = {d.id for d in writer.ingestor.documents() if d.source.endswith(("p00.txt", "p99.txt"))}
    assert set(store.fetched) == changed
    fresh = HybridRetriever(store, writer.embedder, settings.retrieval)
    full = fresh.snapshot()
    assert updated.live == full.live and updated.chunks == full.chunks
    for q in [*questions, "glacier retreat in the Alps"]:
        terms = content_terms(q)
        assert updated.bm25.top(terms, 30) == full.bm25.top(terms, 30)
        assert retriever.retrieve(q, top_k=8) == fresh.retrieve(q, top_k=8)
    assert "Glacier" in retriever.retrieve("glacier retreat in the Alps")[0].text


def test_a_chunk_deleted_while_it_is_read_is_skipped_not_a_crash() -> None:
    """Chroma can return a deleted chunk's id with no metadata when a delete races the read (seen under soak)."""
    from assistant.retrieval import _by_doc

    rows = [("d1:v1:0", None, "gone"), ("d2:v2:0", {"doc_id": "d2", "version": "v2", "n": 0}, "North Korean troops")]
    assert list(_by_doc(rows, {"d1": "v1", "d2": "v2"})) == ["d2"]


def test_the_engine_searches_again_when_a_commit_came_in_after_its_last_snapshot(
        settings: Settings, make_services: Any, tmp_path: Path) -> None:
    """A question first searches the last snapshot and reads the generation with the document texts; a commit
    made since (here through another store on the same index, as another worker would) makes it search again,
    so the answer already uses the new document and is made from the new generation."""
    docs = tmp_path / "docs"
    services = make_services(settings)
    _ingest_texts(services, docs, a="The zebrafish project started in Lisbon. It studies fin regrowth.")
    before = services.engine.prepare("Where did the zebrafish project start?").generation
    assert before == services.store.generation() > 0

    other = make_services(settings)  # a second worker's store and ingestor on the same index
    _ingest_texts(other, docs, b="The axolotl project started in Porto in 2019. It studies limb regrowth.")
    assert services.engine.retriever.last_snapshot().generation == before, "nothing told this engine of the commit"
    prep = services.engine.prepare("Where did the axolotl project start?")
    assert prep.generation > before
    assert prep.chunks[0].source.endswith("b.txt") and "Porto" in prep.evidence[0].text
    answer = services.engine.ask("Where did the axolotl project start?")
    assert not answer.abstained and "Porto" in answer.answer
