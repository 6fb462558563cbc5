"""ingest/store.py: the chunk index and the ledger in a real Chroma (embedded, and a real server)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from assistant.errors import DocumentNotFound, StoreUnavailable
from assistant.settings import Settings
from ingest.sentences import SentenceRecord
from ingest.store import PENDING, ChromaStore, ChunkRecord, DocumentCommit


def _records(doc_id: str, version: str, texts: list[str], source: str = "/docs/a.txt") -> list[ChunkRecord]:
    out, offset = [], 0
    for n, text in enumerate(texts):
        out.append(ChunkRecord(doc_id=doc_id, version=version, n=n, text=text, start=offset,
                               end=offset + len(text), source=source, title="A", page=n + 1))
        offset += len(text) + 1
    return out


def _write_and_commit(store: ChromaStore, embedder, doc_id: str, version: str, texts: list[str]) -> None:  # noqa: ANN001
    records = _records(doc_id, version, texts)
    store.write_chunks(records, embedder.embed(texts))
    store.commit_documents([DocumentCommit(doc_id, version, records[0].source, "A", " ".join(texts), len(records))])


@pytest.fixture
def store(settings: Settings) -> ChromaStore:
    return ChromaStore.connect(settings.chroma, settings.chroma_path)


def test_commit_makes_a_document_visible(store: ChromaStore, embedder) -> None:  # noqa: ANN001
    assert store.docs() == {} and store.generation() == 0
    _write_and_commit(store, embedder, "d1", "v1", ["Glaciers carve valleys.", "Moraines mark their edges."])
    docs = store.docs()
    assert list(docs) == ["d1"]
    info = docs["d1"]
    assert (info.chunks, info.version, info.source, info.title) == (2, "v1", "/docs/a.txt", "A")
    assert info.chars == len("Glaciers carve valleys. Moraines mark their edges.")
    assert store.doc_text("d1") == "Glaciers carve valleys. Moraines mark their edges."
    assert store.doc_texts(["d1", "d1"]) == {"d1": "Glaciers carve valleys. Moraines mark their edges."}
    assert store.existing_chunk_counts(["d1"]) == {("d1", "v1"): 2}
    assert store.generation() == 1
    assert store.chunk_count() == 2


def test_chunk_metadata_round_trips(store: ChromaStore, embedder) -> None:  # noqa: ANN001
    _write_and_commit(store, embedder, "d1", "v1", ["Glaciers carve valleys.", "Moraines mark their edges."])
    chunks = sorted(store.all_chunks())
    assert [c[0] for c in chunks] == ["d1:v1:0", "d1:v1:1"]
    meta = chunks[1][1]
    assert meta == {"doc_id": "d1", "version": "v1", "n": 1, "start": 24, "end": 50,
                    "source": "/docs/a.txt", "title": "A", "page": 2}
    assert chunks[1][2] == "Moraines mark their edges."


def test_chunk_texts_live_in_the_metadata_and_older_chunks_with_texts_as_documents_still_read(
        store: ChromaStore, embedder) -> None:  # noqa: ANN001
    # new writes give Chroma no document, so it builds no full-text index (which nothing here reads)
    texts = ["Glaciers carve valleys.", "Moraines mark their edges."]
    _write_and_commit(store, embedder, "d1", "v1", texts)
    assert store.chunks.get(include=["documents"])["documents"] == [None, None]
    # a chunk written the way indexes before 2026-11-29 hold it: the text as the Chroma document
    old = _records("d0", "v0", ["Fjords are drowned valleys."])[0]
    store.chunks.upsert(ids=[old.id], embeddings=embedder.embed([old.text]).tolist(), documents=[old.text],
                        metadatas=[old.metadata()])
    store.commit_documents([DocumentCommit("d0", "v0", old.source, "A", old.text, 1)])
    expected = {"d0:v0:0": (old.metadata(), "Fjords are drowned valleys."),
                "d1:v1:1": (_records("d1", "v1", texts)[1].metadata(), "Moraines mark their edges.")}
    for rows in (store.all_chunks(), list(store.iter_chunks()), store.chunks_of(["d0", "d1"])):
        got = {rid: (meta, text) for rid, meta, text in rows}
        assert {k: got[k] for k in expected} == expected
    assert store.chunk_texts(["d0:v0:0", "d1:v1:1"]) == expected
    assert store.existing_chunk_counts(["d0", "d1"]) == {("d0", "v0"): 1, ("d1", "v1"): 2}
    moved = store.rekey_document("d0", "d9", key="docs/a.txt")  # copied into today's layout
    assert moved.chunks == 1 and store.chunks.get(ids=["d9:v0:0"], include=["documents"])["documents"] == [None]
    assert store.chunk_texts(["d9:v0:0"])["d9:v0:0"][1] == "Fjords are drowned valleys."


def test_sentence_vectors_are_named_by_one_list_per_version_and_older_per_sentence_records_still_go(
        store: ChromaStore, embedder) -> None:  # noqa: ANN001
    texts = ["Glaciers carve valleys.", "Moraines mark their edges."]
    records = [SentenceRecord("d1", "v1", 0, 23), SentenceRecord("d1", "v1", 24, 50)]
    store.write_sentences(records, embedder.embed(texts))
    got = store.sentences.get(ids=[r.id for r in records] + ["d1:v1:sentences"], include=["metadatas"])
    assert dict(zip(got["ids"], got["metadatas"], strict=True)) == {  # no metadata row per sentence: the list
        records[0].id: None, records[1].id: None,
        "d1:v1:sentences": {"doc_id": "d1", "version": "v1", "spans": "0-23,24-50"}}
    _write_and_commit(store, embedder, "d1", "v1", texts)
    # an index written before 2026-11-29: a per-sentence record with its own metadata, and no list
    old = "Fjords are drowned valleys."
    store.sentences.upsert(ids=["d0:v0:0:27"], embeddings=embedder.embed([old]).tolist(),
                           metadatas=[{"doc_id": "d0", "version": "v0", "start": 0, "end": 27}])
    _write_and_commit(store, embedder, "d0", "v0", [old])
    store.rekey_document("d0", "d9", key="docs/f.txt")  # copied under a list; the old record deleted with d0
    assert set(store.sentence_vectors(["d9:v0:0:27", "d0:v0:0:27"])) == {"d9:v0:0:27"}
    assert store.sentences.get(ids=["d9:v0:sentences"], include=["metadatas"])["metadatas"][0]["spans"] == "0-27"
    store.delete_document("d1")
    store.delete_document("d9")
    assert store.sentences.count() == 0


def test_query_returns_cosine_similarity(store: ChromaStore, embedder) -> None:  # noqa: ANN001
    texts = ["Glaciers carve valleys.", "The stock market fell sharply.", "Penguins live in Antarctica."]
    _write_and_commit(store, embedder, "d1", "v1", texts)
    hits = store.query(embedder.embed(["The stock market fell sharply."])[0], n=10)
    assert len(hits) == 3  # n is capped at the collection size
    assert hits[0][2] == "The stock market fell sharply."
    assert hits[0][3] == pytest.approx(1.0, abs=1e-3)
    assert hits[0][3] > hits[1][3] >= hits[2][3]
    only = store.query(embedder.embed(["ice"])[0], n=5, where={"n": 2})
    assert [h[0] for h in only] == ["d1:v1:2"]


def test_query_on_empty_index(store: ChromaStore, embedder) -> None:  # noqa: ANN001
    assert store.query(embedder.embed(["anything"])[0], n=5) == []


def test_sweep_deletes_uncommitted_and_superseded_chunks(store: ChromaStore, embedder) -> None:  # noqa: ANN001
    _write_and_commit(store, embedder, "d1", "v1", ["Old text one.", "Old text two."])
    _write_and_commit(store, embedder, "d1", "v2", ["New text."])  # v1's chunks are now superseded
    store.write_chunks(_records("d2", "v1", ["Never committed."]), embedder.embed(["Never committed."]))
    assert store.chunk_count() == 4
    assert store.sweep() == 3
    assert [c[0] for c in store.all_chunks()] == ["d1:v2:0"]
    assert store.sweep() == 0


def test_a_sweep_leaves_versions_another_writer_has_announced(store: ChromaStore, embedder) -> None:  # noqa: ANN001
    """Two processes on one Chroma server: one writes a document's chunks, the other's sweep runs before
    the commit. The young write marker keeps the sweep off that version; after the commit the marker goes."""
    _write_and_commit(store, embedder, "d1", "v1", ["Committed text."])
    marker = store.mark_pending([("d2", "v1")], dim=embedder.dim)  # the other writer, mid-batch
    store.write_chunks(_records("d2", "v1", ["Being written."]), embedder.embed(["Being written."]))
    assert store.sweep() == 0 and store.chunk_count() == 2, "in flight elsewhere: not an orphan"
    store.commit_documents([DocumentCommit("d2", "v1", "/docs/b.txt", "B", "Being written.", 1)])
    store.settle(marker)
    assert store.sweep() == 0 and store.chunk_count() == 2
    assert store.sentences.get(where={"doc_id": PENDING})["ids"] == []

    store.mark_pending([("d3", "v1")], dim=embedder.dim)  # a writer that died before its commit
    store.write_chunks(_records("d3", "v1", ["Never committed."]), embedder.embed(["Never committed."]))
    assert store.sweep() == 0, "within the grace period it might still be running"
    assert store.sweep(grace_s=0) == 1, "past it, its leftovers are orphans"
    assert store.sentences.get(where={"doc_id": PENDING})["ids"] == [] and store.chunk_count() == 2


def test_write_chunks_is_idempotent(store: ChromaStore, embedder) -> None:  # noqa: ANN001
    records = _records("d1", "v1", ["Same text.", "Same again."])
    vectors = embedder.embed([r.text for r in records])
    store.write_chunks(records, vectors)
    store.write_chunks(records, vectors)
    assert store.chunk_count() == 2


def test_delete_document(store: ChromaStore, embedder) -> None:  # noqa: ANN001
    _write_and_commit(store, embedder, "d1", "v1", ["One.", "Two."])
    _write_and_commit(store, embedder, "d2", "v1", ["Three."])
    generation = store.generation()
    assert store.delete_document("d1") == 2
    assert list(store.docs()) == ["d2"]
    assert {c[1]["doc_id"] for c in store.all_chunks()} == {"d2"}
    assert store.generation() == generation + 1
    with pytest.raises(DocumentNotFound):
        store.delete_document("d1")
    with pytest.raises(DocumentNotFound):
        store.doc_text("d1")


def test_paging_reads_past_chroma_get_limit(settings: Settings) -> None:
    store = ChromaStore.connect(settings.chroma, settings.chroma_path, page_size=7)
    records = _records("d1", "v1", [f"chunk {i}" for i in range(20)])
    store.write_chunks(records, np.eye(20, 384, dtype=np.float32))
    assert len(store.all_chunks()) == 20
    assert store.sweep() == 20 and store.chunk_count() == 0  # uncommitted: deleted in pages too


def test_server_down_is_one_clear_error(tmp_path, unused_port: int) -> None:  # noqa: ANN001
    url = f"http://127.0.0.1:{unused_port}"
    settings = Settings(data_dir=tmp_path, chroma={"url": url})
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as err:
        ChromaStore.connect(settings.chroma, settings.chroma_path)
    assert time.monotonic() - started < 15
    assert url in err.value.message and "\n" not in err.value.message
    assert err.value.status == 503


def test_real_chroma_server_round_trip(chroma_server: str, tmp_path, embedder) -> None:  # noqa: ANN001
    settings = Settings(data_dir=tmp_path, chroma={"url": chroma_server, "collection": "store-test"})
    store = ChromaStore.connect(settings.chroma, settings.chroma_path)
    assert store.url == chroma_server
    store.ping()
    _write_and_commit(store, embedder, "d1", "v1", ["Glaciers carve valleys.", "Penguins live in Antarctica."])
    assert store.docs()["d1"].chunks == 2
    hits = store.query(embedder.embed(["Where do penguins live?"])[0], n=1)
    assert hits[0][2] == "Penguins live in Antarctica."
    assert store.delete_document("d1") == 2
    assert store.chunk_count() == 0
    assert not (tmp_path / "chroma").exists(), "server mode writes nothing under data_dir"


def test_batch_commit_and_counts(store: ChromaStore, embedder) -> None:  # noqa: ANN001
    texts = ["One.", "Two.", "Three."]
    store.write_chunks(_records("d1", "v1", texts[:2]) + _records("d2", "v9", texts[2:]), embedder.embed(texts))
    assert store.existing_chunk_counts(["d1", "d2", "d3", "d1"]) == {("d1", "v1"): 2, ("d2", "v9"): 1}
    store.commit_documents([
        DocumentCommit("d1", "v1", "/a", "A", "One. Two.", 2),
        DocumentCommit("d2", "v9", "/b", "B", "Three.", 1),
    ])
    assert store.generation() == 1, "one bump per batch"
    assert {d: i.version for d, i in store.docs().items()} == {"d1": "v1", "d2": "v9"}
    assert store.sweep() == 0
    store.commit_documents([])
    assert store.generation() == 1


def test_document_keeps_pdf_page_spans_and_older_records_fall_back_to_chunk_pages(store: ChromaStore,
                                                                                  embedder) -> None:  # noqa: ANN001
    texts = ["Glaciers carve valleys.", "Moraines mark their edges."]
    _write_and_commit(store, embedder, "old", "v1", texts)  # a ledger record without page spans
    records = _records("new", "v1", texts, source="/docs/b.pdf")
    store.write_chunks(records, embedder.embed(texts))
    spans = [(0, 23, 1), (24, 50, 2)]
    store.commit_documents([DocumentCommit("new", "v1", "/docs/b.pdf", "B", " ".join(texts), 2, spans)])

    new, old = store.document("new"), store.document("old")
    assert new.pages == spans and new.info.pages == 2 and store.docs()["new"].pages == 2
    assert new.text == " ".join(texts) and new.info == store.docs()["new"]
    assert old.pages == [] and old.info.pages == 0
    assert store.chunk_page("old", "v1", 30) == 2 and store.chunk_page("old", "v1", 500) == 0
    with pytest.raises(DocumentNotFound):
        store.document("missing")


def test_change_log_for_readers(store: ChromaStore, embedder) -> None:  # noqa: ANN001
    """What an incremental reader asks: documents committed since a generation, the count, the ids."""
    _write_and_commit(store, embedder, "d1", "v1", ["One."])
    _write_and_commit(store, embedder, "d2", "v1", ["Two."])
    g = store.generation()
    assert store.changed_since(0) == {"d1": "v1", "d2": "v1"}
    _write_and_commit(store, embedder, "d1", "v2", ["One again."])
    assert store.changed_since(g + 1) == {"d1": "v2"}
    assert store.changed_since(g) == {"d1": "v2", "d2": "v1"}, "inclusive: a racing commit is seen again"
    assert store.doc_count() == 2 and store.doc_ids() == {"d1", "d2"}
    store.delete_document("d2")
    assert store.doc_count() == 1 and store.doc_ids() == {"d1"}
    assert {rid for rid, _, _ in store.chunks_of(["d1"])} == {"d1:v1:0", "d1:v2:0"}  # any version: callers filter
    texts, vectors = store.chunk_texts(["d1:v2:0", "missing"]), store.chunk_vectors(["d1:v2:0", "missing"])
    assert list(texts) == list(vectors) == ["d1:v2:0"]
    assert texts["d1:v2:0"][1] == "One again." and vectors["d1:v2:0"].shape == (384,)


def test_rekey_on_a_real_chroma_server(chroma_server: str, tmp_path, embedder) -> None:  # noqa: ANN001
    """Re-keying copies the stored vectors over HTTP too (no re-embedding), and the old id is gone."""
    settings = Settings(data_dir=tmp_path, chroma={"url": chroma_server, "collection": "rekey-test"})
    store = ChromaStore.connect(settings.chroma, settings.chroma_path)
    _write_and_commit(store, embedder, "old", "v1", ["Glaciers carve valleys.", "Penguins live in Antarctica."])
    info = store.rekey_document("old", "new", key="docs/a.txt")
    assert (info.id, info.key, info.chunks, info.version) == ("new", "docs/a.txt", 2, "v1")
    assert list(store.docs()) == ["new"] and store.doc_text("new").startswith("Glaciers")
    hits = store.query(embedder.embed(["Where do penguins live?"])[0], n=1)
    assert hits[0][0] == "new:v1:1" and hits[0][3] > 0.5
    assert store.changed_since(store.generation()) == {}  # the delete of "old" came last
    assert "new" in store.changed_since(store.generation() - 1)


def test_doc_texts_follow_a_reingest_here(store: ChromaStore, embedder) -> None:  # noqa: ANN001
    """Document texts are cached per generation: a commit through this store empties the cache."""
    _write_and_commit(store, embedder, "d1", "v1", ["Old text."])
    store.generation()  # what the retriever reads before every question
    assert store.doc_texts(["d1"]) == {"d1": "Old text."}
    assert store.doc_texts(["d1"]) == {"d1": "Old text."}
    assert store.cache_stats()["doc_texts"]["hits"] == 1
    _write_and_commit(store, embedder, "d1", "v2", ["New text."])
    assert store.doc_texts(["d1"]) == {"d1": "New text."}
    store.delete_document("d1")
    assert store.doc_texts(["d1"]) == {}


def test_doc_texts_follow_a_commit_by_another_writer(settings: Settings, embedder) -> None:  # noqa: ANN001
    """Another process (here another store on the same index) re-ingests a document: the next generation read
    shows it, and without one the cache serves nothing older than ``text_fresh_s``."""
    reader = ChromaStore.connect(settings.chroma, settings.chroma_path)
    writer = ChromaStore.connect(settings.chroma, settings.chroma_path)
    _write_and_commit(writer, embedder, "d1", "v1", ["Old text."])
    reader.generation()
    assert reader.doc_texts(["d1"]) == {"d1": "Old text."}
    _write_and_commit(writer, embedder, "d1", "v2", ["New text."])
    reader.generation()
    assert reader.doc_texts(["d1"]) == {"d1": "New text."}

    unfresh = ChromaStore.connect(settings.chroma, settings.chroma_path, text_fresh_s=0.0)
    unfresh.generation()
    time.sleep(0.01)
    assert unfresh.doc_texts(["d1"]) == {"d1": "New text."}
    _write_and_commit(writer, embedder, "d1", "v3", ["Newest text."])
    assert unfresh.doc_texts(["d1"]) == {"d1": "Newest text."}, "no generation read since: not from the cache"


def test_chunk_and_sentence_reads_are_cached_by_versioned_id(store: ChromaStore, embedder) -> None:  # noqa: ANN001
    """Rows and vectors are cached by their ids (which name a version); rewriting an id evicts it."""
    _write_and_commit(store, embedder, "d1", "v1", ["Glaciers carve valleys.", "Penguins live in Antarctica."])
    first = store.chunk_texts(["d1:v1:1", "d1:v1:0", "missing"])
    first_vectors = store.chunk_vectors(["d1:v1:1", "d1:v1:0", "missing"])
    again, again_vectors = store.chunk_texts(["d1:v1:0", "d1:v1:1"]), store.chunk_vectors(["d1:v1:0", "d1:v1:1"])
    assert list(first) == list(first_vectors) == ["d1:v1:1", "d1:v1:0"]
    assert first["d1:v1:0"][1] == "Glaciers carve valleys."
    assert all(again[i][1] == first[i][1] and np.array_equal(again_vectors[i], first_vectors[i]) for i in again)
    stats = store.cache_stats()
    assert stats["chunk_rows"]["hits"] == 2 and stats["chunk_vectors"]["hits"] == 2
    hits = store.query(embedder.embed(["Where do penguins live?"])[0], n=5)
    assert [h[0] for h in hits][:1] == ["d1:v1:1"] and hits[0][2] == "Penguins live in Antarctica."
    store.write_chunks(_records("d1", "v1", ["Rewritten under the same id."]), embedder.embed(["Rewritten."]))
    assert store.chunk_texts(["d1:v1:0"])["d1:v1:0"][1] == "Rewritten under the same id."
