"""Portable document ids (ingest/pipeline.py): the same file under the same ingest root has the same id on
every machine, and indexes keyed by absolute paths are re-keyed on their next ingest without re-embedding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from assistant.services import Services
from assistant.settings import Settings
from ingest.embedder import Embedder
from ingest.pipeline import IngestService, document_id, legacy_document_id, path_key


def _tree(base: Path) -> Path:
    root = base / "handbook"
    (root / "teams" / "ops").mkdir(parents=True)
    (root / "intro.txt").write_text("The handbook explains how the harbour office works.")
    (root / "teams" / "ops" / "shifts.md").write_text("# Shifts\n\nNight shifts start at ten and end at six.")
    return root


def _ids(services: Services) -> dict[str, str]:
    return {d.key: d.id for d in services.ingestor.documents()}


def test_same_tree_in_two_folders_gives_the_same_ids(tmp_path: Path, make_services: Any) -> None:
    one = make_services(Settings(data_dir=tmp_path / "one", llm={"backend": "extractive"}))
    two = make_services(Settings(data_dir=tmp_path / "two", llm={"backend": "extractive"}))
    a, b = _tree(tmp_path / "machine-a" / "home"), _tree(tmp_path / "machine-b" / "srv" / "data")
    one.ingestor.ingest([a])
    two.ingestor.ingest([b])
    assert _ids(one) == _ids(two)
    assert set(_ids(one)) == {"handbook/intro.txt", "handbook/teams/ops/shifts.md"}
    assert _ids(one)["handbook/intro.txt"] == document_id("handbook/intro.txt", "documents")
    # a file given directly is keyed by its own folder: the same id as through the folder
    assert one.ingestor.document_id(a / "intro.txt") == _ids(one)["handbook/intro.txt"]
    other = Settings(data_dir=tmp_path / "three", chroma={"collection": "other"}, llm={"backend": "extractive"})
    assert make_services(other).ingestor.document_id(a / "intro.txt") != _ids(one)["handbook/intro.txt"]


def test_a_second_machine_finds_everything_unchanged_and_prunes_by_key(settings: Settings, make_services: Any,
                                                                         tmp_path: Path, index_invariants: Any) -> None:
    """Two machines ingesting their copies of one tree into one index: no duplicates, and a prune on
    either removes what is gone from its copy."""
    services = make_services(settings)
    a, b = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    services.ingestor.ingest([a])
    generation = services.store.generation()
    report = services.ingestor.ingest([b])
    assert report.documents == {"added": 0, "updated": 0, "unchanged": 2, "removed": 0, "failed": 0}
    assert services.store.generation() == generation
    (b / "intro.txt").unlink()
    pruned = services.ingestor.ingest([b], prune=True)
    assert pruned.documents["removed"] == 1
    assert set(index_invariants(services.store)) == {services.ingestor.document_id(b / "teams/ops/shifts.md", b)}


def test_two_roots_with_the_same_name_and_path_are_refused(services: Services, tmp_path: Path) -> None:
    a, b = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    (b / "intro.txt").write_text("Another intro in another handbook folder.")
    report = services.ingestor.ingest([a, b])
    assert report.documents["added"] == 2 and report.documents["failed"] == 2
    assert all("common parent folder" in f.reason for f in report.failures)


def test_uploads_have_one_id_per_name_on_every_worker(settings: Settings, make_services: Any, tmp_path: Path) -> None:
    worker1 = make_services(settings)
    worker2 = make_services(settings.model_copy(update={"data_dir": tmp_path / "worker2"}), store=worker1.store)
    first = worker1.ingestor.ingest_uploads([("notes.txt", b"Ferries leave the harbour every hour.")])
    second = worker2.ingestor.ingest_uploads([("notes.txt", b"Ferries leave the harbour every half hour.")])
    assert first.document_ids == second.document_ids == [document_id("uploads:notes.txt", "documents")]
    assert second.documents["updated"] == 1 and len(worker1.ingestor.documents()) == 1


class CountingEmbedder:
    def __init__(self, inner: Embedder) -> None:
        self.inner, self.model_name, self.count_tokens, self.texts = inner, inner.model_name, inner.count_tokens, 0

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed(self, texts: list[str]) -> np.ndarray:
        self.texts += len(texts)
        return self.inner.embed(texts)


def test_an_index_keyed_by_absolute_paths_is_rekeyed_without_re_embedding(
        settings: Settings, make_services: Any, tmp_path: Path, index_invariants: Any) -> None:
    services = make_services(settings)
    root = _tree(tmp_path / "a")
    services.ingestor.ingest([root])
    store = services.store
    for doc in services.ingestor.documents():  # the index as an older version wrote it
        path = root.parent / doc.key
        store.rekey_document(doc.id, legacy_document_id(path), key="")
    assert {d.id for d in services.ingestor.documents()} == {legacy_document_id(p) for p in root.rglob("*.*")}

    counting = CountingEmbedder(services.embedder)
    s = settings
    report = IngestService(store, counting, s.chunk, s.ingest, uploads_dir=s.uploads_dir).ingest([root])
    assert counting.texts == 0, "re-keyed, not re-embedded"
    assert report.documents["unchanged"] == 2
    ledger = index_invariants(store)
    assert set(ledger) == {services.ingestor.document_id(p, root) for p in root.rglob("*.*")}
    assert {d.key for d in ledger.values()} == {path_key(p, root) for p in root.rglob("*.*")}
    for doc_id in ledger:  # the sentence vectors moved with the chunks (no query-time embedding)
        assert store.sentences.get(where={"doc_id": doc_id})["ids"], doc_id
    answer = services.engine.ask("When do night shifts start?")
    assert answer.citations and answer.citations[0].document_id in ledger
