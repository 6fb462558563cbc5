"""ingest/sentences.py: sentence vectors computed at ingest and stored in Chroma (late chunking or separate)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant.settings import IngestSettings, Settings
from assistant.text import sentence_spans
from ingest.embedder import MiniLMEmbedding
from ingest.sentences import owners, sentence_id

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


def _with(settings: Settings, **ingest: Any) -> Settings:
    return settings.model_copy(update={"ingest": IngestSettings(**{**settings.ingest.model_dump(), **ingest})})


def test_owners_pick_the_chunk_holding_most_of_a_sentence() -> None:
    chunks = [(0, 100), (80, 200)]  # overlap 80..100
    sentences = [(0, 40), (85, 98), (82, 95), (90, 150), (150, 199), (300, 310)]
    # (85, 98) and (82, 95) lie in both chunks: each goes to the one whose edges it is further from
    assert owners(sentences, chunks) == [0, 1, 0, 1, 1, -1]


def test_a_late_sentence_vector_is_nearest_its_own_sentence(embedder: MiniLMEmbedding) -> None:
    text = "The harbour froze in January. Tomatoes need full sun and warm soil. Interest rates rose again."
    spans = sentence_spans(text)
    _, pooled = embedder.embed_spans([text], [spans])
    alone = embedder.embed([text[a:b] for a, b in spans])
    sims = pooled[0] @ alone.T
    assert list(sims.argmax(axis=1)) == [0, 1, 2], sims
    assert np.allclose(np.linalg.norm(pooled[0], axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("mode", ["late", "separate"])
def test_every_sentence_of_a_document_has_a_stored_vector(settings: Settings, make_services: Any, mode: str,
                                                          index_invariants: Any) -> None:
    services = make_services(_with(settings, sentence_vectors=mode))
    services.ingestor.ingest([SAMPLE])
    store = services.store
    [doc] = store.docs().values()
    text = store.doc_text(doc.id)
    ids = [sentence_id(doc.id, doc.version, a, b) for a, b in sentence_spans(text)]
    stored = store.sentence_vectors(ids)
    assert set(stored) == set(ids) and store.sentences.count() == len(ids) + 1  # and the version's list
    if mode == "separate":  # exactly the sentence's own embedding
        a, b = sentence_spans(text)[3]
        alone = services.embedder.embed([text[a:b]])[0]
        assert float(stored[sentence_id(doc.id, doc.version, a, b)] @ alone) > 0.999
    index_invariants(store)


def test_sentence_vectors_follow_updates_and_deletes(settings: Settings, make_services: Any, tmp_path: Path,
                                                     index_invariants: Any) -> None:
    services = make_services(settings)
    folder = tmp_path / "docs"
    folder.mkdir()
    note = folder / "note.txt"
    note.write_text("Comets have two tails. The dust tail curves. The ion tail points away from the Sun.")
    services.ingestor.ingest([folder])
    assert services.store.sentences.count() == 3 + 1  # three vectors and the list naming them
    note.write_text("Comets have two tails. The ion tail points away from the Sun.")
    services.ingestor.ingest([folder])
    assert services.store.sentences.count() == 2 + 1, "the old version's vectors and list are swept"
    index_invariants(services.store)
    [doc] = services.store.docs().values()
    services.ingestor.delete(doc.id)
    assert services.store.sentences.count() == 0


def test_sentence_vectors_of_a_failed_write_are_swept_by_the_next_run(settings: Settings, make_services: Any,
                                                                      tmp_path: Path, index_invariants: Any) -> None:
    """The chunk write fails after the sentence vectors were written: the run asks nothing more of the store
    (an embedded Chroma that failed a write can hang), and a later run's sweep removes them."""
    from assistant.errors import StoreUnavailable

    services = make_services(settings)
    store = services.store
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Comets have two tails. The dust tail curves.")
    services.ingestor.ingest([folder])
    assert store.sentences.count() == 2 + 1, "a committed write leaves no marker behind (two vectors, one list)"
    (folder / "a.txt").write_text("Comets have two tails. The ion tail points away from the Sun. It glows.")

    def full_disk(*args: Any, **kw: Any) -> None:
        raise StoreUnavailable("the disk is full")

    calls: list[str] = []
    real_call = store._call
    store.write_chunks = full_disk  # type: ignore[method-assign]
    store._call = lambda what, *a, **kw: calls.append(what) or real_call(what, *a, **kw)  # type: ignore[method-assign]
    with pytest.raises(StoreUnavailable):
        services.ingestor.ingest([folder])
    assert calls[-1] == "write sentence vectors", "nothing is asked of the store after the failed write"
    assert store.sentences.count() > 3, "the new version's vectors (and their list and marker) were written"
    del store.write_chunks, store._call
    store.sweep(grace_s=0)  # a later run: past the grace that protects writes in flight elsewhere
    assert store.sentences.count() == 3, "the uncommitted version's vectors, its list and the marker are gone"
    index_invariants(store)
