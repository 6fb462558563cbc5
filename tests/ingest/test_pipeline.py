"""ingest/pipeline.py: IngestService over real files, the real embedder and a real embedded Chroma."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from passages import write_passages

from assistant.services import Services
from assistant.settings import IngestSettings, Settings
from ingest.embedder import MAX_TOKENS, Embedder
from ingest.pipeline import IngestService, safe_filename
from ingest.store import ChromaStore, DocumentCommit


class CountingEmbedder:
    """The real embedder, counting the texts it embeds; raises ``fail_with`` on call ``fail_on_call``."""

    def __init__(self, inner: Embedder, fail_on_call: int = 0, fail_with: BaseException | None = None) -> None:
        self.inner = inner
        self.model_name = inner.model_name
        self.count_tokens = inner.count_tokens
        self.calls: list[int] = []
        self.fail_on_call = fail_on_call
        self.fail_with = fail_with

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls.append(len(texts))
        if self.fail_on_call and len(self.calls) == self.fail_on_call:
            raise self.fail_with or KeyboardInterrupt()
        return self.inner.embed(texts)

    def embed_spans(self, texts: list[str], spans: list[list[tuple[int, int]]]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Late chunking (sentence vectors from the chunks' own pass): counted as the chunks' texts."""
        self.calls.append(len(texts))
        if self.fail_on_call and len(self.calls) == self.fail_on_call:
            raise self.fail_with or KeyboardInterrupt()
        return self.inner.embed_spans(texts, spans)  # type: ignore[attr-defined]

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def embedded(self) -> int:
        return sum(self.calls)


def _service(services: Services, embedder: Embedder | None = None, settings: Settings | None = None,
             store: ChromaStore | None = None) -> IngestService:
    """An IngestService on the test's store (or ``store``), with another embedder or other ingest limits."""
    s = settings or services.settings
    return IngestService(store or services.store, embedder or services.embedder, s.chunk, s.ingest,
                         uploads_dir=s.uploads_dir)


def _with(settings: Settings, **ingest: Any) -> Settings:
    return settings.model_copy(update={"ingest": IngestSettings(**{**settings.ingest.model_dump(), **ingest})})


HTML = ("<html><head><title>Tides</title><style>.x{color:red}</style><script>var leak = 'SCRIPTLEAK';</script>"
        "</head><body><p>Spring tides follow the full moon.</p><script>alert('SCRIPTLEAK2')</script></body></html>")


@pytest.fixture
def corpus(tmp_path: Path, make_pdf: Any, make_docx: Any) -> Path:
    """One good file of each format, nested; plus hidden files and an unsupported file."""
    root = tmp_path / "docs"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".hidden-dir").mkdir()
    (root / "notes.txt").write_text("Glaciers carve U-shaped valleys. They move a few metres a year.")
    (root / "sub" / "readme.md").write_text("# Volcanoes\n\nShield volcanoes have gentle slopes.")
    (root / "sub" / "tides.html").write_text(HTML)
    (root / "sub" / "old.htm").write_text("<p>Old pages use the htm suffix.</p>")
    make_pdf(root / "sub" / "deeper" / "report.pdf", ["Page one is about auroras.", "Page two is about terns."])
    make_docx(root / "sub" / "deeper" / "islands.docx", ["Atolls ring lagoons."], title="Islands")
    (root / ".secret.txt").write_text("hidden file, never indexed")
    (root / ".hidden-dir" / "inside.txt").write_text("inside a hidden folder, never indexed")
    (root / "data.csv").write_text("a,b\n1,2\n")
    return root


def _by_name(services: Any) -> dict[str, Any]:
    return {Path(d.source).name: d for d in services.ingestor.documents()}


def test_every_format_is_indexed(services: Any, corpus: Path, index_invariants: Any) -> None:
    report = services.ingestor.ingest([corpus])
    assert report.documents == {"added": 6, "updated": 0, "unchanged": 0, "removed": 0, "failed": 1}
    assert [(Path(f.path).name, f.code) for f in report.failures] == [("data.csv", "unsupported_format")]
    assert report.failures[0].reason.startswith("unsupported file type '.csv'; supported: .txt")
    ledger = index_invariants(services.store)
    docs = _by_name(services)
    assert set(docs) == {"notes.txt", "readme.md", "tides.html", "old.htm", "report.pdf", "islands.docx"}
    assert report.chunks["added"] == sum(d.chunks for d in ledger.values()) == services.store.chunk_count()
    assert docs["readme.md"].title == "Volcanoes" and docs["islands.docx"].title == "Islands"
    assert docs["tides.html"].title == "Tides"
    html = services.store.doc_text(docs["tides.html"].id)
    assert html == "Spring tides follow the full moon."
    assert services.store.doc_text(docs["islands.docx"].id) == "Atolls ring lagoons."
    assert "Page two is about terns." in services.store.doc_text(docs["report.pdf"].id)
    for _, meta, text in services.store.all_chunks():
        assert "SCRIPTLEAK" not in text and "hidden" not in text
        assert meta["source"] == str(Path(meta["source"]).resolve())
        assert services.embedder.count_tokens(text) + 2 <= MAX_TOKENS
    assert docs["notes.txt"].id == services.ingestor.document_id(corpus / "notes.txt")


def test_pdf_chunks_keep_page_numbers(services: Any, tmp_path: Path, make_pdf: Any) -> None:
    pages = ["\n".join(f"Page {p} line {i}: the survey of region {p} found {i} new species of beetle."
                       for i in range(25)) for p in (1, 2, 3)]
    path = make_pdf(tmp_path / "survey.pdf", pages)
    report = services.ingestor.ingest([path])
    assert report.documents["added"] == 1
    text = services.store.doc_text(services.ingestor.document_id(path))
    chunks = services.store.all_chunks()
    assert len(chunks) >= 6, "each page is long enough for two chunks"
    for _, meta, chunk in chunks:
        assert text[meta["start"]:meta["end"]] == chunk
        assert chunk.startswith(f"Page {meta['page']} ") or f"Page {meta['page']} line" in chunk[:60], (meta, chunk[:60])
    assert {meta["page"] for _, meta, _ in chunks} == {1, 2, 3}


def test_unchanged_reingest_embeds_and_writes_nothing(services: Any, corpus: Path) -> None:
    counting = CountingEmbedder(services.embedder)
    first = _service(services, counting).ingest([corpus])
    assert counting.embedded == first.chunks["added"] > 0
    generation, chunk_ids = services.store.generation(), sorted(c[0] for c in services.store.all_chunks())

    again = CountingEmbedder(services.embedder)
    second = _service(services, again).ingest([corpus])
    assert second.documents == {"added": 0, "updated": 0, "unchanged": 6, "removed": 0, "failed": 1}
    assert second.chunks == {"added": 0, "removed": 0}
    assert again.calls == [], "nothing was embedded"
    assert services.store.generation() == generation, "nothing was committed"
    assert sorted(c[0] for c in services.store.all_chunks()) == chunk_ids


def test_changed_file_replaces_its_chunks(services: Any, tmp_path: Path, clapnq_passages: Any,
                                         index_invariants: Any) -> None:
    folder = tmp_path / "docs"
    paths = write_passages(folder, clapnq_passages[:3])
    services.ingestor.ingest([folder])
    target = paths[0]
    doc_id = services.ingestor.document_id(target)
    before = services.store.docs()[doc_id]
    other_chunks = sorted(c[0] for c in services.store.all_chunks() if c[1]["doc_id"] != doc_id)

    new_text = "A rewritten document. " + " ".join(clapnq_passages[10][1].split()[:350])
    target.write_text(new_text)
    report = services.ingestor.ingest([folder])
    assert report.documents == {"added": 0, "updated": 1, "unchanged": 2, "removed": 0, "failed": 0}
    after = index_invariants(services.store)[doc_id]
    assert after.version != before.version
    assert report.chunks == {"added": after.chunks, "removed": before.chunks}
    mine = [c for c in services.store.all_chunks() if c[1]["doc_id"] == doc_id]
    assert len(mine) == after.chunks >= 2
    assert {c[1]["version"] for c in mine} == {after.version}, "no chunk of the old version is left"
    assert services.store.doc_text(doc_id) == new_text
    assert sorted(c[0] for c in services.store.all_chunks() if c[1]["doc_id"] != doc_id) == other_chunks
    assert len(services.ingestor.documents()) == 3


def test_prune_removes_only_vanished_files_under_the_given_folders(
        services: Any, tmp_path: Path, index_invariants: Any) -> None:
    folder, elsewhere = tmp_path / "docs", tmp_path / "elsewhere"
    folder.mkdir()
    elsewhere.mkdir()
    for name in ("keep.txt", "gone.txt"):
        (folder / name).write_text(f"The file {name} talks about mountain goats and their habits.")
    (elsewhere / "outside.txt").write_text("Outside the pruned folder; its file will vanish too.")
    services.ingestor.ingest([folder, elsewhere])
    (folder / "gone.txt").unlink()
    (elsewhere / "outside.txt").unlink()

    without = services.ingestor.ingest([folder])
    assert without.documents["removed"] == 0 and len(services.ingestor.documents()) == 3

    report = services.ingestor.ingest([folder], prune=True)
    assert report.documents == {"added": 0, "updated": 0, "unchanged": 1, "removed": 1, "failed": 0}
    assert report.chunks["removed"] == 1
    names = {Path(d.source).name for d in index_invariants(services.store).values()}
    assert names == {"keep.txt", "outside.txt"}, "a folder not given is not pruned"


def test_bad_files_are_reported_and_good_files_still_indexed(
        services: Any, settings: Settings, tmp_path: Path, make_pdf: Any, index_invariants: Any) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good-1.txt").write_text("Otters hold hands while they sleep.")
    (folder / "good-2.md").write_text("# Bees\n\nBees dance to share where flowers are.")
    (folder / "latin.txt").write_bytes("Les crêpes de la Chandeleur sont délicieuses.".encode("latin-1"))
    (folder / "empty.txt").write_bytes(b"")
    (folder / "binary.txt").write_bytes(bytes(range(256)) * 16)
    (folder / "corrupt.pdf").write_bytes(b"%PDF-1.4\nnot a pdf at all\n")
    (folder / "huge.txt").write_text("big " * 300_000)  # 1.2 MB, over the 1 MB limit below
    (folder / "vanished.txt").symlink_to(folder / "no-such-target.txt")  # unreadable, even for root
    expected = {"empty.txt", "binary.txt", "corrupt.pdf", "huge.txt", "vanished.txt"}
    if os.geteuid() != 0:  # root reads anything: the broken symlink covers "unreadable" then
        (folder / "locked.txt").write_text("permission denied")
        (folder / "locked.txt").chmod(0)
        expected.add("locked.txt")

    service = _service(services, settings=_with(settings, max_file_mb=1))
    report = service.ingest([folder])
    reasons = {Path(f.path).name: f.reason for f in report.failures}
    assert set(reasons) == expected
    assert report.documents["failed"] == len(expected) and report.documents["added"] == 3
    assert reasons["empty.txt"] == "file is empty"
    assert "binary" in reasons["binary.txt"]
    assert "PDF" in reasons["corrupt.pdf"]
    assert "over the 1 MB limit" in reasons["huge.txt"]
    assert reasons["vanished.txt"].startswith("cannot read file")
    assert all(r and "\n" not in r for r in reasons.values())
    docs = {Path(d.source).name: d for d in index_invariants(services.store).values()}
    assert set(docs) == {"good-1.txt", "good-2.md", "latin.txt"}
    assert services.store.doc_text(docs["latin.txt"].id) == "Les crêpes de la Chandeleur sont délicieuses."


def test_missing_path_is_reported(services: Any, tmp_path: Path) -> None:
    report = services.ingestor.ingest([tmp_path / "nope"])
    assert [(f.path, f.reason) for f in report.failures] == [(str(tmp_path / "nope"), "no such file or directory")]


def test_same_file_given_twice_is_ingested_once(services: Any, corpus: Path) -> None:
    report = services.ingestor.ingest([corpus / "notes.txt", corpus, corpus / "notes.txt"])
    assert report.documents["added"] == 6
    assert len(services.ingestor.documents()) == 6


def test_interrupted_run_is_completed_by_the_next(services: Any, settings: Settings, tmp_path: Path,
                                                  clapnq_passages: Any, index_invariants: Any) -> None:
    folder = tmp_path / "docs"
    paths = write_passages(folder, clapnq_passages[:12])
    small = _with(settings, batch_chunks=3)
    crashing = CountingEmbedder(services.embedder, fail_on_call=3)
    with pytest.raises(KeyboardInterrupt):
        _service(services, crashing, small).ingest([folder])
    committed = len(services.store.docs())
    assert 0 < committed < len(paths), "the run was cut short after committing some documents"

    counting = CountingEmbedder(services.embedder)
    report = _service(services, counting, small).ingest([folder])
    assert report.documents["unchanged"] == committed
    assert report.documents["added"] == len(paths) - committed
    ledger = index_invariants(services.store)
    assert sorted(d.source for d in ledger.values()) == sorted(str(p.resolve()) for p in paths)


class CrashingStore(ChromaStore):
    """The real store on the same collection, interrupted in its second ``commit_documents``."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.commits: list[int] = []

    def commit_documents(self, docs: Sequence[DocumentCommit]) -> None:
        if self.commits:
            raise KeyboardInterrupt  # after the second batch's chunks were written
        self.commits.append(len(docs))
        super().commit_documents(docs)


def test_crash_between_chunk_write_and_commit(services: Any, settings: Settings, tmp_path: Path,
                                              clapnq_passages: Any, index_invariants: Any) -> None:
    """Chunks written but their documents never committed: the next run commits them without
    embedding them again, and leaves no duplicates."""
    folder = tmp_path / "docs"
    paths = write_passages(folder, clapnq_passages[:9])
    store = services.store
    crashing = CrashingStore.connect(settings.chroma, settings.chroma_path)  # same collection, same data
    small = _with(settings, batch_chunks=3)
    with pytest.raises(KeyboardInterrupt):
        _service(services, settings=small, store=crashing).ingest([folder])
    ledger = store.docs()
    assert len(ledger) == crashing.commits[0] > 0
    written_uncommitted = store.chunk_count() - sum(d.chunks for d in ledger.values())
    assert written_uncommitted > 0

    counting = CountingEmbedder(services.embedder)
    report = _service(services, counting, small).ingest([folder])
    assert report.documents["unchanged"] == len(ledger)
    assert report.documents["added"] == len(paths) - len(ledger)
    assert counting.embedded == report.chunks["added"] - written_uncommitted, "written chunks are not embedded again"
    index_invariants(store)
    assert len(store.docs()) == len(paths)


def test_llama_index_global_settings_are_never_touched(services: Any, corpus: Path) -> None:
    from llama_index.core.settings import Settings as LlamaSettings

    services.ingestor.ingest([corpus])
    assert LlamaSettings._llm is None
    assert LlamaSettings._embed_model is None


def test_uploads_are_saved_under_a_safe_name_and_ingested(services: Any, settings: Settings) -> None:
    report = services.ingestor.ingest_uploads([
        ("../../etc/evil.txt", b"Uploaded text about comets and their tails."),
        ("sheet.xlsx", b"PK..."),
    ])
    assert report.documents["added"] == 1 and report.documents["failed"] == 1
    assert [Path(f.path).name for f in report.failures] == ["sheet.xlsx"]
    saved = settings.uploads_dir / "evil.txt"
    assert saved.read_bytes() == b"Uploaded text about comets and their tails."
    assert [d.source for d in services.ingestor.documents()] == [str(saved.resolve())]


@pytest.mark.parametrize(("name", "safe"), [
    ("../../etc/passwd", "passwd"), ("C:\\Users\\me\\a b.txt", "a b.txt"), ("", "upload"),
    ("...", "upload"), ("r\u00e9sum\u00e9;rm -rf.txt", "r\u00e9sum\u00e9_rm -rf.txt"),
])
def test_safe_filename(name: str, safe: str) -> None:
    assert safe_filename(name) == safe


def test_failed_upload_leaves_no_file_and_no_server_path(services) -> None:  # noqa: ANN001
    """Regression: an upload that failed to load stayed in uploads/ and its failure named the server path."""
    report = services.ingestor.ingest_uploads([("good.txt", b"Plain words about harbours and ferries."),
                                               ("empty.txt", b"   "), ("../../evil.md", b"\x00\x01binary")])
    assert report.documents["added"] == 1 and report.documents["failed"] == 2
    assert sorted(f.path for f in report.failures) == ["empty.txt", "evil.md"]
    assert sorted(p.name for p in services.settings.uploads_dir.iterdir()) == ["good.txt"]
    again = services.ingestor.ingest_uploads([("good.txt", b"Plain words about harbours and ferries.")])
    assert again.documents["unchanged"] == 1 and again.document_ids == report.document_ids


def test_a_failed_batch_stops_the_parsing_thread(services: Any, settings: Settings, tmp_path: Path,
                                                 clapnq_passages: Any) -> None:
    """Files are parsed in a producer thread ahead of the embedder: an error while embedding reaches the
    caller, and the producer stops at once (it would otherwise wait on its full queue forever)."""
    import threading

    from assistant.errors import EmbedderUnavailable

    folder = tmp_path / "docs"
    write_passages(folder, clapnq_passages[:80])
    failing = CountingEmbedder(services.embedder, fail_on_call=1, fail_with=EmbedderUnavailable("the model is gone"))
    with pytest.raises(EmbedderUnavailable):
        _service(services, failing, _with(settings, batch_chunks=1)).ingest([folder])
    assert not [t for t in threading.enumerate() if t.name == "ingest-prepare"]
    assert services.store.docs() == {}


class OverlapStore(ChromaStore):
    """The real store, whose n-th chunk write waits (up to 3 s) until the model has started on batch n+1."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.embedded = threading.Condition()
        self.calls: list[int] = []  # the embedder's calls, appended as each starts
        self.overlapped: list[bool] = []
        self.threads: set[str] = set()

    def write_chunks(self, records: Sequence[Any], vectors: np.ndarray) -> None:
        self.threads.add(threading.current_thread().name)
        n = len(self.overlapped) + 1
        with self.embedded:
            self.overlapped.append(self.embedded.wait_for(lambda: len(self.calls) > n, timeout=3))
        super().write_chunks(records, vectors)


class SignallingEmbedder(CountingEmbedder):
    def __init__(self, inner: Embedder, store: OverlapStore) -> None:
        super().__init__(inner)
        self.calls = store.calls
        self.store = store

    def embed_spans(self, texts: list[str], spans: list[list[tuple[int, int]]]) -> tuple[np.ndarray, list[np.ndarray]]:
        with self.store.embedded:
            self.calls.append(len(texts))
            self.store.embedded.notify_all()
        return self.inner.embed_spans(texts, spans)  # type: ignore[attr-defined]


def test_each_batch_is_written_while_the_model_embeds_the_next_and_both_ends_are_small(
        services: Any, settings: Settings, tmp_path: Path, clapnq_passages: Any, index_invariants: Any) -> None:
    """A writer thread writes batch k while the model embeds batch k+1 (the last batch's write has nothing left
    to overlap). The first and last batches hold an eighth of ``batch_chunks``: the model starts early, and the
    final write, which nothing overlaps, is short."""
    folder = tmp_path / "docs"
    paths = write_passages(folder, clapnq_passages[:40])
    store = OverlapStore.connect(settings.chroma, settings.chroma_path)
    embedder = SignallingEmbedder(services.embedder, store)
    report = _service(services, embedder, _with(settings, batch_chunks=16), store).ingest([folder])
    assert report.documents["added"] == len(paths) and not report.failures
    calls = embedder.calls
    assert len(calls) >= 4 and sum(calls) == report.chunks["added"]
    assert 2 <= calls[0] < 16 and 2 <= calls[-1] < 16 and all(c >= 16 for c in calls[1:-2])
    assert store.overlapped == [True] * (len(calls) - 1) + [False]  # the last write had nothing to wait for
    assert store.threads == {"ingest-write_0", threading.current_thread().name}
    index_invariants(store)
