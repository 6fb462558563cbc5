"""IngestService: files in, chunks + embeddings + ledger records out, idempotently.

* A document's id is portable: a hash of the collection name and the file's key, the name of the
  folder given to ``ingest`` plus the path below it (``notes/2024/a.md``; a file given directly is
  keyed by its folder's name: ``notes/a.md``), so every machine ingesting the same tree into one Chroma
  server computes the same ids. Uploads are keyed ``uploads:<safe file name>``. Its version is a hash
  of its bytes and of the chunking/embedding configuration. An unchanged file is skipped before it is
  even parsed. Documents indexed under the old absolute-path ids are re-keyed on their next ingest,
  without re-embedding (``ChromaStore.rekey_document``).
* A producer thread reads, parses and chunks files while the calling thread embeds and writes, so
  parsing hides behind the model (onnxruntime releases the GIL).
* Chunks are embedded in batches across documents (the embedder sorts each batch by length), with
  their sentences' vectors (``ingest.sentences``), then written, then each document is committed (see
  ``ChromaStore``), then its old version is deleted.
* Every run ends with a sweep of orphan chunks (``ChromaStore.sweep``: not of versions another process is
  writing), so an interrupted run is completed by the next one.

Example::

    service = IngestService(store, embedder, settings.chunk, settings.ingest, uploads_dir=settings.uploads_dir)
    report = service.ingest([Path("docs/")], prune=True)
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import re
import sys
import threading
import time
from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from assistant.errors import AssistantError, BadDocument
from assistant.schema import DocumentInfo, IngestFailure, IngestReport, Passage
from assistant.settings import ChunkSettings, IngestSettings
from assistant.text import sentence_spans
from ingest.chunking import Chunker
from ingest.embedder import Embedder
from ingest.excerpts import DEFAULT_CONTEXT, excerpt
from ingest.loaders import Bounds, admit, load_file
from ingest.sentences import DocumentChunks, SentenceRecord, embed_batch
from ingest.store import ChromaStore, ChunkRecord, DocumentCommit

log = logging.getLogger(__name__)


def document_id(key: str, collection: str) -> str:
    """The portable id of the document with this key (see ``path_key``) in this collection."""
    return hashlib.sha1(f"{collection}\0{key}".encode()).hexdigest()[:16]


def path_key(path: Path, root: Path | None = None) -> str:
    """``<root folder name>/<path below root>``; without ``root`` the file's own folder is the root."""
    absolute = Path(os.path.abspath(path))
    base = Path(os.path.abspath(root)) if root is not None else absolute.parent
    return "/".join((base.name, *absolute.relative_to(base).parts))


def legacy_document_id(path: Path) -> str:
    """The id of indexes before ids were portable (the resolved absolute path): found and re-keyed."""
    return hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16]


def safe_filename(name: str) -> str:
    """A bare, harmless file name from a user-supplied one (``../../etc/passwd`` -> ``passwd``)."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[^\w.\- ]+", "_", base).strip(" .")
    return base[:120] or "upload"


@dataclass
class _Pending:
    doc_id: str
    key: str
    source: str  # the resolved path, as on its chunks
    version: str
    title: str
    text: str
    records: list[ChunkRecord]
    previous: DocumentInfo | None
    pages: list[tuple[int, int, int]]
    sentences: list[tuple[int, int]]


@dataclass
class _Embedded:
    """A batch after the model: its documents, those whose chunks were embedded, and their vectors."""

    batch: list[_Pending]
    todo: list[_Pending]
    vectors: np.ndarray | None
    sentences: list[SentenceRecord]
    sentence_vectors: np.ndarray


class IngestService:
    def __init__(self, store: ChromaStore, embedder: Embedder, chunk: ChunkSettings, limits: IngestSettings,
                 *, uploads_dir: Path) -> None:
        self.store = store
        self.embedder = embedder
        self.limits = limits
        self.uploads_dir = uploads_dir
        self.max_bytes = int(limits.max_file_mb * 2**20)
        self.bounds = Bounds(max_pages=limits.max_pages, max_unzipped_bytes=int(limits.max_unzipped_mb * 2**20),
                             max_chars=limits.max_chars)
        # an embedder that gives its word pieces' spans (the bundled MiniLM) lets the chunker tokenize each text once
        self.chunker = Chunker(embedder.count_tokens, chunk.size, chunk.overlap,
                               token_spans=getattr(embedder, "token_spans", None))
        self.sentence_mode = limits.sentence_vectors
        fingerprint = f"{embedder.model_name}|{self.chunker.size}|{chunk.overlap}|v1"
        if self.sentence_mode != "off":  # a new mode re-ingests: that is how older indexes get sentence vectors
            fingerprint += f"|sentences={self.sentence_mode}"
        self._fingerprint = fingerprint.encode()
        # One writer at a time in this process (uploads, the folder watcher, deletes): a run's final
        # sweep must never see another run's chunks written but not yet committed.
        self._write_lock = threading.RLock()

    # -- public -------------------------------------------------------------------------------
    def document_id(self, path: Path, root: Path | None = None) -> str:
        """The id ``ingest`` gives ``path`` found under ``root`` (default: the file's own folder)."""
        return document_id(path_key(path, root), self.store.name)

    def ingest(self, paths: Iterable[Path], *, prune: bool = False, progress: bool = False,
               within: Iterable[Path] = ()) -> IngestReport:
        """Ingest files and folders. A file below one of the ``within`` folders is keyed relative to that
        folder (the folder watcher passes its watched folders, so a changed file keeps its id)."""
        paths = [Path(p) for p in paths]
        with self._write_lock:
            report = IngestReport()
            files = self._discover(paths, report, [Path(w) for w in within])
            return self._ingest(files, report, prune_roots=[p for p in paths if p.is_dir()] if prune else [],
                                progress=progress)

    def _ingest(self, files: list[tuple[Path, str]], report: IngestReport, *, prune_roots: list[Path],
                progress: bool = False) -> IngestReport:
        started = time.perf_counter()
        ledger = self.store.docs()
        for path, key in files:  # in this thread: the producer below only reads the store
            self._migrate(path, document_id(key, self.store.name), key, ledger)
        side = IngestReport()  # what the producer thread reports (unchanged, failed), merged below
        bar = tqdm(total=len(files), unit="file", desc="ingest", disable=not progress, file=sys.stderr)
        prepared = self._prepared(files, ledger, side, bar)
        try:
            self._embed_and_write(prepared, report, bar)
        finally:
            prepared.close()  # stops the producer now, also when a batch failed
            bar.close()
            for key, n in side.documents.items():
                report.documents[key] += n
            report.failures += side.failures
            report.document_ids += side.document_ids
        if prune_roots:
            self._prune(prune_roots, {document_id(key, self.store.name) for _, key in files}, ledger, report)
        self.store.sweep()
        report.seconds = round(time.perf_counter() - started, 3)
        return report

    def ingest_uploads(self, files: list[tuple[str, bytes]]) -> IngestReport:
        """Store uploaded files under ``data_dir/uploads`` (names sanitised) and ingest them."""
        started = time.perf_counter()
        report = IngestReport()
        upload_dir = self.uploads_dir
        upload_dir.mkdir(parents=True, exist_ok=True)
        saved: list[tuple[Path, str]] = []
        previous: dict[Path, bytes | None] = {}
        for name, data in files:
            clean = safe_filename(name)
            try:
                admit(clean, len(data), self.max_bytes)
            except BadDocument as exc:
                self._fail(report, Path(clean), exc)
                continue
            target = (upload_dir / clean).resolve()
            if upload_dir.resolve() not in target.parents:  # belt and braces after sanitising
                self._fail(report, Path(clean), BadDocument("refused file name"))
                continue
            previous[target] = target.read_bytes() if target.exists() else None
            target.write_bytes(data)
            saved.append((target, f"uploads:{clean}"))
        unique = list(dict(saved).items())  # the same name twice: one document, the last bytes
        with self._write_lock:
            inner = self._ingest(unique, IngestReport(), prune_roots=[]) if unique else IngestReport()
        for failure in inner.failures:  # keep nothing that failed; never show server paths to clients
            path = Path(failure.path)
            old = previous.get(path)
            if old is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(old)  # the indexed version stays, so does its file
            failure.path = path.name
        inner.failures = report.failures + inner.failures
        inner.documents["failed"] += len(report.failures)
        inner.seconds = round(time.perf_counter() - started, 3)
        return inner

    def documents(self) -> list[DocumentInfo]:
        return sorted(self.store.docs().values(), key=lambda d: d.source)

    def delete(self, doc_id: str) -> int:
        with self._write_lock:
            return self.store.delete_document(doc_id)

    def document(self, doc_id: str) -> DocumentInfo:
        """One document's metadata; ``DocumentNotFound`` (404) for an unknown id."""
        return self.store.document(doc_id).info

    def passage(self, doc_id: str, start: int, end: int | None = None, context: int = DEFAULT_CONTEXT) -> Passage:
        """The text of ``doc_id`` around ``[start:end]`` (see ``ingest.excerpts``); for a PDF indexed
        before page spans were kept, the page number from its chunks (without the page's text)."""
        doc = self.store.document(doc_id)
        passage = excerpt(doc, start, end, context)
        if passage.page is None and doc.info.source.lower().endswith(".pdf"):
            passage.page = self.store.chunk_page(doc_id, doc.info.version, start) or None
        return passage

    # -- steps --------------------------------------------------------------------------------
    def _discover(self, paths: list[Path], report: IngestReport, within: list[Path]) -> list[tuple[Path, str]]:
        """Every file to ingest with its key (see ``path_key``), each file and each key once."""
        anchors = [w.resolve() for w in within]

        def key_of(p: Path, root: Path | None) -> str:
            r = p.resolve()
            anchor = next((a for a in anchors if a in r.parents), None)
            return path_key(r, anchor) if anchor is not None else path_key(p, root)

        files: list[tuple[Path, str]] = []
        for root in paths:
            if root.is_dir():
                for p in sorted(root.rglob("*")):
                    rel = p.relative_to(root).parts
                    # a broken symlink is listed too, so that it is reported as unreadable, not skipped
                    if (p.is_file() or p.is_symlink() and not p.exists()) and not any(
                        part.startswith(".") for part in rel
                    ):
                        files.append((p, key_of(p, root)))
            elif root.is_file():
                files.append((root, key_of(root, None)))
            else:
                self._fail(report, root, BadDocument("no such file or directory"))
        seen: set[Path] = set()
        keys: dict[str, Path] = {}
        unique = []
        for f, key in files:
            r = f.resolve()
            if r in seen:
                continue
            seen.add(r)
            if key in keys:  # two roots with the same folder name holding the same relative path
                self._fail(report, f, BadDocument(
                    f"same document key {key!r} as {keys[key]}: ids are the folder name plus the path below "
                    "it, so ingest their common parent folder instead"))
                continue
            keys[key] = f
            unique.append((f, key))
        return unique

    def _prepared(self, files: list[tuple[Path, str]], ledger: dict[str, DocumentInfo], report: IngestReport,
                  bar: tqdm) -> Generator[_Pending, None, None]:
        """``_prepare`` of each file, run ahead in a producer thread by up to two batches of chunks.

        The look-ahead is counted in chunks, not files: a bound of 64 files kept less than one batch of small
        files ready, and the model waited for the producer between batches."""
        ahead: queue.Queue[_Pending | BaseException | None] = queue.Queue()
        room = threading.Condition()
        limit = 2 * self.limits.batch_chunks
        queued = 0  # chunks prepared and not yet taken
        stop = threading.Event()

        def produce() -> None:
            nonlocal queued
            try:
                for path, key in files:
                    if stop.is_set():
                        return
                    item = self._prepare(path, key, ledger, report)
                    bar.update(1)
                    if item is not None:
                        with room:
                            while queued >= limit and not stop.is_set():
                                room.wait(0.1)
                            queued += len(item.records)
                        ahead.put(item)
                ahead.put(None)
            except BaseException as exc:  # handed to the consumer, which raises it
                ahead.put(exc)

        worker = threading.Thread(target=produce, name="ingest-prepare", daemon=True)
        worker.start()
        try:
            while (got := ahead.get()) is not None:
                if isinstance(got, BaseException):
                    raise got
                with room:
                    queued -= len(got.records)
                    room.notify()
                yield got
        finally:
            stop.set()
            worker.join()  # a waiting producer sees ``stop`` within 0.1 s; one mid-file finishes that file

    def _prepare(self, path: Path, key: str, ledger: dict[str, DocumentInfo], report: IngestReport) -> _Pending | None:
        doc_id = document_id(key, self.store.name)
        try:
            admit(path.name, path.stat().st_size, self.max_bytes)
            data = path.read_bytes()
            version = hashlib.sha256(data + b"\0" + self._fingerprint).hexdigest()[:20]
            previous = ledger.get(doc_id)
            if previous is not None and previous.version == version:
                report.documents["unchanged"] += 1
                report.document_ids.append(doc_id)
                return None
            loaded = load_file(path, self.max_bytes, data=data, bounds=self.bounds)
        except BadDocument as exc:
            self._fail(report, path, exc)
            return None
        except OSError as exc:
            self._fail(report, path, BadDocument(f"cannot read file: {exc.strerror or exc}"))
            return None
        source = str(path.resolve())
        records = [
            ChunkRecord(doc_id=doc_id, version=version, n=i, text=text, start=start, end=end,
                        source=source, title=loaded.title, page=loaded.page_at(start))
            for i, (text, start, end) in enumerate(self.chunker.split(loaded.text))
        ]
        if not records:
            self._fail(report, path, BadDocument("no text could be extracted"))
            return None
        sentences = sentence_spans(loaded.text) if self.sentence_mode != "off" else []
        return _Pending(doc_id, key, source, version, loaded.title, loaded.text, records, previous, loaded.pages,
                        sentences)

    def _migrate(self, path: Path, doc_id: str, key: str, ledger: dict[str, DocumentInfo]) -> None:
        """Re-key a document still under its pre-portable id (absolute path): its chunks and vectors are
        copied, not re-embedded. A leftover old record (a crash mid-move) is deleted."""
        legacy = legacy_document_id(path)
        if legacy == doc_id or legacy not in ledger:
            return
        if doc_id in ledger:
            self.store.delete_document(legacy)
        else:
            ledger[doc_id] = self.store.rekey_document(legacy, doc_id, key)
            log.info("re-keyed %s: %s -> %s (portable id)", path, legacy, doc_id)
        del ledger[legacy]

    def _embed_and_write(self, prepared: Iterator[_Pending], report: IngestReport, bar: tqdm) -> None:
        """Embed batches of about ``batch_chunks`` chunks in this thread, while a writer thread writes the batch
        before and reads which chunks of the batch after are already written, so the model does not wait for
        whole writes (they held it up ~3 s per 1,000 chunks). It still waits some: an embedded Chroma write holds
        the GIL, so a session that ends a run during one is fed again only after it (README "Scaling").

        The store is only used by the writer thread, one call at a time, and after a failed write nothing more
        is asked of it (an embedded Chroma that failed a write can hang on the next call; a later sweep removes
        what was written, see ``ChromaStore.mark_pending``)."""
        batches = self._batches(prepared)
        stopping = threading.Event()

        def write_then_read_next(embedded: _Embedded | None) -> tuple[list[_Pending], list[_Pending]] | None:
            if embedded is not None:
                self._write(embedded, report, bar)
            batch = None if stopping.is_set() else next(batches, None)
            return (batch, self._todo(batch)) if batch else None

        with ThreadPoolExecutor(1, thread_name_prefix="ingest-write") as writer:
            upcoming = writer.submit(write_then_read_next, None).result()
            embedded = None
            try:
                while upcoming is not None:
                    batch, todo = upcoming
                    writing = writer.submit(write_then_read_next, embedded)
                    embedded = self._embed(batch, todo)
                    upcoming = writing.result()
            except BaseException:
                stopping.set()  # the writer finishes its write and reads no further batch
                raise
        if embedded is not None:
            self._write(embedded, report, bar)

    def _batches(self, prepared: Iterator[_Pending]) -> Generator[list[_Pending], None, None]:
        """Documents in batches of at least ``batch_chunks`` chunks, except at both ends: the first and the last
        batch hold about an eighth of that, so that the model starts as soon as a few files are chunked, and
        the last write, which nothing overlaps, is short."""
        small = max(1, self.limits.batch_chunks // 8)
        batch: list[_Pending] = []
        full: list[_Pending] = []  # a full batch, yielded once a document follows it (else it is the last)
        chunks, size = 0, small
        for item in prepared:
            if full:
                yield full
                full = []
            batch.append(item)
            chunks += len(item.records)
            if chunks >= size:
                full, batch, chunks, size = batch, [], 0, self.limits.batch_chunks
        last = full or batch
        cut, tail = len(last), 0
        while cut > 1 and tail < small:
            cut -= 1
            tail += len(last[cut].records)
        if tail >= small and cut > 0:
            yield last[:cut]
            yield last[cut:]
        elif last:
            yield last

    def _todo(self, batch: list[_Pending]) -> list[_Pending]:
        """The documents of ``batch`` whose chunks are not all written yet (one read: per-document round trips
        to Chroma, ~75 ms each, used to cost a third of the run). A run that was interrupted after writing a
        document's chunks, before committing it, does not embed them again."""
        written = self.store.existing_chunk_counts(p.doc_id for p in batch)
        return [p for p in batch if written.get((p.doc_id, p.version), 0) != len(p.records)]

    def _embed(self, batch: list[_Pending], todo: list[_Pending]) -> _Embedded:
        if not todo:
            return _Embedded(batch, todo, None, [], np.zeros((0, 1), dtype=np.float32))
        docs = [DocumentChunks(p.text, p.records, p.sentences) for p in todo]
        return _Embedded(batch, todo, *embed_batch(self.embedder, docs, self.sentence_mode))

    def _write(self, embedded: _Embedded, report: IngestReport, bar: tqdm) -> None:
        """Write a batch's vectors, commit its documents (one chunk write and one ledger write per batch)."""
        batch, todo = embedded.batch, embedded.todo
        marker = ""
        if embedded.vectors is not None:
            # The marker keeps other processes' sweeps off these versions until they are committed. Sentences
            # before their chunks: a version whose chunks are all written has all its sentence vectors.
            marker = self.store.mark_pending([(p.doc_id, p.version) for p in todo], dim=embedded.vectors.shape[1])
            self.store.write_sentences(embedded.sentences, embedded.sentence_vectors)
            self.store.write_chunks([r for p in todo for r in p.records], embedded.vectors)
        self.store.commit_documents([
            DocumentCommit(item.doc_id, item.version, item.source, item.title, item.text,
                           len(item.records), item.pages, key=item.key)
            for item in batch
        ])
        self.store.settle(marker)
        for item in batch:
            report.documents["updated" if item.previous else "added"] += 1
            report.chunks["added"] += len(item.records)
            if item.previous:
                report.chunks["removed"] += item.previous.chunks
            report.document_ids.append(item.doc_id)
        bar.set_postfix(chunks=report.chunks["added"])

    def _prune(self, roots: list[Path], present: set[str], ledger: dict[str, DocumentInfo],
               report: IngestReport) -> None:
        """Delete the documents under ``roots`` whose file is gone: by key (any machine's ingest of the same
        tree), or by absolute source path for documents indexed before keys existed."""
        prefixes = tuple(path_key(root, root) + "/" for root in roots)
        resolved = [p.resolve() for p in roots]
        for doc in list(ledger.values()):
            if doc.key:
                gone = doc.key.startswith(prefixes) and doc.id not in present
            else:
                source = Path(doc.source)
                gone = any(r == source or r in source.parents for r in resolved) and not source.exists()
            if gone:
                try:
                    report.chunks["removed"] += self.store.delete_document(doc.id)
                    report.documents["removed"] += 1
                except AssistantError:
                    continue

    @staticmethod
    def _fail(report: IngestReport, path: Path, error: BadDocument) -> None:
        report.documents["failed"] += 1
        report.failures.append(IngestFailure(path=str(path), reason=error.message, code=error.code))
