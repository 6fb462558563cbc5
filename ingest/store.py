"""ChromaStore: the index (chunks with embeddings) and the ledger (one record per document) in Chroma.

Two collections, ``<name>-chunks`` and ``<name>-docs``:

* a chunk record: id ``<doc_id>:<version>:<n>``, its embedding, and metadata
  ``doc_id, version, source, title, start, end, page, n, text``. The text sits in the metadata, not in
  Chroma's document field: Chroma builds a full-text (trigram) index of every document, which nothing here
  uses and which made up three quarters of a chunk write. Indexes written before 2026-11-29 hold it in the
  document field; readers take either (``_chunk_row``);
* a document record: id ``doc_id``, the document's whole extracted text (quotes are cut from it),
  metadata ``source, title, version, chunks, ingested_at, chars``, and for PDFs ``pages``: a JSON list of
  ``[start, end, page_number]`` text spans (absent in indexes written before 2026-11-29, and for other
  formats).

A third, ``<name>-sentences``, holds one vector per sentence of each chunked document version (id
``<doc_id>:<version>:<start>:<end>``, no metadata; see ``ingest.sentences``), so evidence selection needs
no embedding at query time, and per version one list naming them (id ``<doc_id>:<version>:sentences``,
metadata ``doc_id, version, spans``: ``"start-end,..."``), by which deletes and sweeps find the vectors. A
metadata row per sentence was a third of an ingest's CPU outside the model; indexes written before
2026-11-29 have one (``doc_id, version, start, end``) and no lists, and are deleted by it as before.

A document record is written only after all of its chunks are written: it is the commit point.
Chunks whose ``(doc_id, version)`` has no matching committed document are orphans; readers ignore
them and :meth:`sweep` deletes them. This is how a crash mid-run loses nothing committed and leaves
nothing behind after the next run (see README, "Ingestion guarantees").

A third record, ``__generation__`` in the docs collection, counts commits so that readers
(the BM25 index) know cheaply when something changed; each document record carries the generation
of its commit (``gen``), so a reader at generation ``g`` asks only for the documents committed since
(:meth:`changed_since`) and finds removals by comparing counts (:meth:`doc_count`, :meth:`doc_ids`).

Reads for answering are cached per process (``ReadCache``, bounded LRUs): chunk rows (metadata, text),
chunk vectors and sentence vectors by their ids, which name a document version (``<doc_id>:<version>:...``, the
version a hash of the file and the ingest settings) and so never change content; a write or delete through
this store evicts the ids it touches anyway. A similarity query asks Chroma for ids and distances only (the
search itself is cheap; hydrating metadata and texts is most of a query's cost) and takes the rows from
the cache, reading the missing ones in one ``get``.

Example::

    store = ChromaStore.connect(settings.chroma, settings.chroma_path)
    store.docs()            # {doc_id: DocumentInfo}
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from assistant.errors import AssistantError, DocumentNotFound, StoreUnavailable
from assistant.schema import DocumentInfo
from assistant.settings import ChromaSettings
from ingest.sentences import SentenceRecord, chunk_key, sentence_id

GENERATION_ID = "__generation__"
TEXT = "text"  # the metadata key of a chunk's text
PENDING = "__pending__"  # the doc_id of write markers (see ChromaStore.mark_pending)
SPANS = "spans"  # the metadata key of a version's sentence list: "start-end,start-end,..."
# A marker younger than this protects its versions from another process's sweep: they are being written.
PENDING_GRACE_S = 600.0
_PAGE = 5000  # Chroma caps a single get; page through larger collections
CHUNK_CACHE = 10_000  # chunk rows (metadata, text: ~2.5 KB) and, apart, chunk vectors (1.5 KB) kept per process
SENTENCE_CACHE = 30_000  # sentence vectors kept per process (1.5 KB each)
TEXT_CACHE_CHARS = 20_000_000  # document texts kept per process, in characters
TEXT_CACHE_FRESH_S = 2.0  # cached texts are served only this soon after a generation read showed no change

class ReadCache:
    """A thread-safe LRU bounded by the total ``weigh(value)`` (default: one per entry), with hit counts."""

    def __init__(self, capacity: int, weigh: Callable[[Any], int] | None = None) -> None:
        if capacity < 0:
            raise ValueError(f"capacity must be >= 0, got {capacity}")
        self.capacity = capacity
        self._weigh = weigh or (lambda _value: 1)
        self._items: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """The cached values of ``keys`` (the others are counted as misses)."""
        with self._lock:
            found = {}
            for k in keys:
                item = self._items.get(k)
                if item is None:
                    self.misses += 1
                    continue
                self._items.move_to_end(k)
                found[k] = item[0]
            self.hits += len(found)
            return found

    def put_many(self, items: dict[str, Any]) -> None:
        with self._lock:
            for k, v in items.items():
                w = self._weigh(v)
                if w > self.capacity:
                    continue
                old = self._items.pop(k, None)
                self._weight += w - (old[1] if old else 0)
                self._items[k] = (v, w)
            while self._weight > self.capacity:
                self._weight -= self._items.popitem(last=False)[1][1]

    def evict(self, keys: Iterable[str]) -> None:
        with self._lock:
            for k in keys:
                old = self._items.pop(k, None)
                self._weight -= old[1] if old else 0

    def evict_prefix(self, prefix: str) -> None:
        """Drop every key starting with ``prefix`` (a document's ``<doc_id>:``)."""
        with self._lock:
            for k in [k for k in self._items if k.startswith(prefix)]:
                self._weight -= self._items.pop(k)[1]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._weight = 0


@dataclass(frozen=True)
class ChunkRecord:
    doc_id: str
    version: str
    n: int
    text: str
    start: int
    end: int
    source: str
    title: str
    page: int = 0

    @property
    def id(self) -> str:
        return f"{self.doc_id}:{self.version}:{self.n}"

    def metadata(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id,
            "version": self.version,
            "n": self.n,
            "start": self.start,
            "end": self.end,
            "source": self.source,
            "title": self.title,
            "page": self.page,
        }


@dataclass(frozen=True)
class DocumentCommit:
    """A ledger record: ``doc_id`` now points at ``version``, whose ``chunks`` chunks are all written."""

    doc_id: str
    version: str
    source: str
    title: str
    text: str
    chunks: int
    pages: Sequence[tuple[int, int, int]] = ()  # (start, end, page number) spans of a PDF's text
    key: str = ""  # the portable path key (``root-name/relative/path``); empty for older callers


@dataclass(frozen=True)
class StoredDocument:
    """A committed document with its text and its PDF page spans (empty when unknown)."""

    info: DocumentInfo
    text: str
    pages: list[tuple[int, int, int]]


def _chunk_row(meta: dict[str, Any], doc: str | None) -> tuple[dict[str, Any], str]:
    """A stored chunk's metadata (without its text) and its text: from the metadata, or from the document field
    of a chunk written before texts moved into the metadata."""
    meta = dict(meta)
    text = meta.pop(TEXT, None)
    return meta, text if isinstance(text, str) else doc or ""


def _list_id(doc_id: str, version: str) -> str:
    """The id of a document version's sentence list."""
    return f"{doc_id}:{version}:sentences"


def _probe(dim: int) -> list[float]:
    """A unit vector for records that need one only because Chroma stores one per record."""
    probe = [0.0] * dim
    probe[0] = 1.0
    return probe


def _unit_mean(rows: np.ndarray) -> list[float]:
    mean = rows.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return (mean / norm).tolist() if norm > 0 else _probe(len(mean))


def _pages(meta: dict[str, Any]) -> list[tuple[int, int, int]]:
    try:
        return [(int(a), int(b), int(n)) for a, b, n in json.loads(str(meta.get("pages") or "[]"))]
    except (ValueError, TypeError):
        return []


def _info(doc_id: str, meta: dict[str, Any]) -> DocumentInfo:
    return DocumentInfo(
        id=doc_id,
        source=str(meta.get("source", "")),
        title=str(meta.get("title", "")),
        chunks=int(meta.get("chunks", 0)),
        version=str(meta.get("version", meta.get("hash", ""))),  # "hash": indexes before 2026-11-29
        ingested_at=str(meta.get("ingested_at", "")),
        chars=int(meta.get("chars", 0)),
        pages=len(_pages(meta)),
        key=str(meta.get("key", "")),
    )


# how a full disk (or ``ulimit -f``) shows through SQLite, hnswlib and the OS
_DISK_FULL = ("disk i/o error", "database or disk is full", "no space left", "file too large")


def _connect(chroma: ChromaSettings, path: Path) -> Any:
    import chromadb

    chroma_settings = chromadb.Settings(anonymized_telemetry=False)
    url = chroma.url
    if not url:
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    parsed = urlparse(url)
    try:
        client = chromadb.HttpClient(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or (443 if parsed.scheme == "https" else 8000),
            ssl=parsed.scheme == "https",
            settings=chroma_settings,
        )
        client.heartbeat()
        return client
    except Exception as exc:  # chromadb raises plain ValueError/httpx errors when the server is down
        raise StoreUnavailable(
            f"cannot reach the Chroma server at {url} ({type(exc).__name__}): start it with "
            f"`chroma run --host 127.0.0.1 --port {parsed.port or 8000}` or unset ASSISTANT_CHROMA__URL"
        ) from exc


class ChromaStore:
    """All reads and writes of the index go through here; Chroma errors become ``StoreUnavailable``."""

    def __init__(self, client: Any, name: str, url: str = "", *, page_size: int = _PAGE,
                 chunk_cache: int = CHUNK_CACHE, sentence_cache: int = SENTENCE_CACHE,
                 text_cache_chars: int = TEXT_CACHE_CHARS, text_fresh_s: float = TEXT_CACHE_FRESH_S) -> None:
        self.url = url or "embedded"
        self.name = name
        self._client = client
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        self._page = page_size  # rows per Chroma get/upsert/delete call
        self._lock = threading.Lock()
        self._chunk_rows = ReadCache(chunk_cache)  # id -> (metadata, text)
        self._chunk_vectors = ReadCache(chunk_cache)  # id -> vector
        self._sentence_vectors = ReadCache(sentence_cache)
        self._texts = ReadCache(text_cache_chars, weigh=len)
        self._seen: tuple[int, float] | None = None  # the last generation read, and when (time.monotonic)
        self._seen_lock = threading.Lock()
        self._text_fresh_s = text_fresh_s
        try:
            self.chunks = client.get_or_create_collection(
                f"{name}-chunks", embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
            )
            self.ledger = client.get_or_create_collection(f"{name}-docs", embedding_function=None)
            # never searched by similarity, only read by id: the cheapest graph Chroma builds
            self.sentences = client.get_or_create_collection(
                f"{name}-sentences", embedding_function=None,
                configuration={"hnsw": {"space": "cosine", "ef_construction": 8, "max_neighbors": 4}},
            )
        except Exception as exc:
            raise StoreUnavailable(f"Chroma at {self.url} refused to open collection {name!r}: {exc}") from exc

    @classmethod
    def connect(cls, chroma: ChromaSettings, path: Path, *, page_size: int = _PAGE, **caches: Any) -> ChromaStore:
        """The store at ``chroma.url``, or embedded under ``path`` when no URL is set (``caches``: the cache
        sizes of ``__init__``)."""
        return cls(_connect(chroma, path), chroma.collection, chroma.url, page_size=page_size, **caches)

    def cache_stats(self) -> dict[str, dict[str, int]]:
        """Entries, hits and misses of the read caches (chunk rows, sentence vectors, document texts)."""
        caches = {"chunk_rows": self._chunk_rows, "chunk_vectors": self._chunk_vectors,
                  "sentence_vectors": self._sentence_vectors, "doc_texts": self._texts}
        return {name: {"entries": len(c), "hits": c.hits, "misses": c.misses} for name, c in caches.items()}

    # -- guarded access -------------------------------------------------------------------------
    def _call(self, what: str, fn: Any, *args: Any, **kw: Any) -> Any:
        try:
            return fn(*args, **kw)
        except AssistantError:
            raise
        except Exception as exc:  # connection refused, timeouts, server errors: all mean "store unusable"
            detail = f"{type(exc).__name__}: {exc}"
            if any(m in detail.lower() for m in _DISK_FULL):
                raise StoreUnavailable(
                    f"Chroma at {self.url} could not write during {what}: the disk is full or a file size limit "
                    f"was reached ({detail}); free space and run again (everything committed before is kept)"
                ) from exc
            # embedded Chroma hides a full disk behind errors like "Error in compaction": say what to check
            hint = ("; check that the data dir's disk has free space and is writable (what was committed before "
                    "is kept)") if self.url == "embedded" else ""
            raise StoreUnavailable(f"Chroma at {self.url} failed during {what}: {detail}{hint}") from exc

    def ping(self) -> None:
        self._call("heartbeat", self._client.heartbeat)

    # -- documents ------------------------------------------------------------------------------
    def docs(self) -> dict[str, DocumentInfo]:
        """Every committed document, by id (without its text)."""
        return {rid: _info(rid, meta) for rid, meta, _ in self._get_all(self.ledger, include=["metadatas"])
                if rid != GENERATION_ID}

    def document(self, doc_id: str) -> StoredDocument:
        """One committed document with its text and page spans; ``DocumentNotFound`` if there is none."""
        res = self._call("get document", self.ledger.get, ids=[doc_id], include=["documents", "metadatas"])
        if not res["ids"] or doc_id == GENERATION_ID:
            raise DocumentNotFound(f"no document with id {doc_id!r}")
        meta = res["metadatas"][0] or {}
        return StoredDocument(_info(doc_id, meta), res["documents"][0] or "", _pages(meta))

    def chunk_page(self, doc_id: str, version: str, offset: int) -> int:
        """The page recorded on the live chunk holding ``offset`` (0 if none): the page number of
        PDFs committed before the ledger kept page spans."""
        where = {"$and": [{"doc_id": doc_id}, {"version": version}]}
        res = self._call("find chunk page", self.chunks.get, where=where, include=["metadatas"])
        for meta in res["metadatas"] or []:
            if int(meta.get("start", 0)) <= offset < int(meta.get("end", 0)) and int(meta.get("page", 0)):
                return int(meta["page"])
        return 0

    def doc_text(self, doc_id: str) -> str:
        res = self._call("get document", self.ledger.get, ids=[doc_id], include=["documents"])
        if not res["ids"] or doc_id == GENERATION_ID:
            raise DocumentNotFound(f"no document with id {doc_id!r}")
        return res["documents"][0] or ""

    def doc_texts(self, doc_ids: Iterable[str]) -> dict[str, str]:
        """``{doc_id: text}`` of the committed documents among ``doc_ids``.

        Cached: texts read since the last generation read are served again while that read is under
        ``text_fresh_s`` old; a read showing another generation (or a commit here) empties the cache.
        Every question reads the generation (``doc_texts_and_generation``, or the retriever's snapshot check
        when it searches again), so an answer never quotes a text older than the snapshot it searched."""
        return self._doc_texts(doc_ids, with_generation=False)[0]

    def doc_texts_and_generation(self, doc_ids: Iterable[str]) -> tuple[dict[str, str], int]:
        """``doc_texts`` and the current generation, read after them in one ledger ``get`` (a question's
        last look at the ledger: the engine checks that its snapshot was still current)."""
        texts, generation = self._doc_texts(doc_ids, with_generation=True)
        assert generation is not None
        return texts, generation

    def _doc_texts(self, doc_ids: Iterable[str], *, with_generation: bool) -> tuple[dict[str, str], int | None]:
        ids = sorted(set(doc_ids) - {GENERATION_ID})
        seen = self._seen
        fresh = seen is not None and time.monotonic() - seen[1] <= self._text_fresh_s
        found: dict[str, str] = self._texts.get_many(ids) if fresh and ids else {}
        missing = [i for i in ids if i not in found]
        generation: int | None = None
        if missing or with_generation:
            wanted = [GENERATION_ID, *missing] if with_generation else missing
            res = self._call("get documents", self.ledger.get, ids=wanted,
                             include=["documents", "metadatas"] if with_generation else ["documents"])
            metas = res["metadatas"] or [None] * len(res["ids"])
            read = {}
            for rid, doc, meta in zip(res["ids"], res["documents"], metas, strict=True):
                if rid == GENERATION_ID:
                    generation = int((meta or {}).get("n", 0))
                else:
                    read[rid] = doc or ""
            if with_generation:
                generation = generation or 0  # no record: nothing was ever committed
                self._saw(generation)  # these texts are of this generation
                seen = self._seen
            with self._seen_lock:  # only if no other generation was seen meanwhile (it emptied the cache)
                if seen is not None and self._seen is not None and self._seen[0] == seen[0]:
                    self._texts.put_many(read)
            found.update(read)
        return {i: found[i] for i in ids if i in found}, generation

    def generation(self) -> int:
        res = self._call("read generation", self.ledger.get, ids=[GENERATION_ID], include=["metadatas"])
        n = int(res["metadatas"][0]["n"]) if res["ids"] else 0
        self._saw(n)
        return n

    def _saw(self, generation: int) -> None:
        """Note a generation read (or written): a different one than before empties the text cache."""
        with self._seen_lock:
            if self._seen is None or self._seen[0] != generation:
                self._texts.clear()
            self._seen = (generation, time.monotonic())

    def _bump(self, n: int | None = None) -> None:
        n = self.generation() + 1 if n is None else n
        self._call(
            "bump generation", self.ledger.upsert, ids=[GENERATION_ID], embeddings=[[1.0]],
            documents=[""], metadatas=[{"n": n}],
        )
        self._saw(n)

    # -- writes ---------------------------------------------------------------------------------
    def write_chunks(self, records: Sequence[ChunkRecord], vectors: np.ndarray) -> None:
        """Upsert chunk records (idempotent: ids are content-versioned)."""
        for b in range(0, len(records), self._page):
            part = records[b : b + self._page]
            self._call(
                "write chunks", self.chunks.upsert,
                ids=[r.id for r in part],
                embeddings=vectors[b : b + self._page].tolist(),
                metadatas=[{**r.metadata(), TEXT: r.text} for r in part],  # no document: see the module docstring
            )
        self._chunk_rows.evict(r.id for r in records)
        self._chunk_vectors.evict(r.id for r in records)

    def existing_chunk_counts(self, doc_ids: Iterable[str]) -> dict[tuple[str, str], int]:
        """Chunks already written per ``(doc_id, version)`` for these documents (one read, not one per doc)."""
        ids = sorted(set(doc_ids))
        counts: dict[tuple[str, str], int] = {}
        for b in range(0, len(ids), 500):
            res = self._call("count chunks", self.chunks.get, where={"doc_id": {"$in": ids[b : b + 500]}},
                             include=[])
            for rid in res["ids"]:
                key = chunk_key(rid)  # from the id: the metadata would bring the texts along
                counts[key] = counts.get(key, 0) + 1
        return counts

    def commit_documents(self, docs: Sequence[DocumentCommit]) -> None:
        """Point each ``doc_id`` at its ``version``: from now on its chunks of that version are live.

        Call it only after all their chunks are written (this write is the commit point): one ledger
        upsert and one generation bump for the whole batch."""
        if not docs:
            return
        now = datetime.now(UTC).isoformat(timespec="seconds")
        generation = self.generation() + 1
        metas: list[dict[str, Any]] = [
            {"source": d.source, "title": d.title, "version": d.version, "chunks": d.chunks,
             "chars": len(d.text), "ingested_at": now, "gen": generation, **({"key": d.key} if d.key else {})}
            for d in docs
        ]
        for meta, d in zip(metas, docs, strict=True):
            if d.pages:
                meta["pages"] = json.dumps([list(span) for span in d.pages], separators=(",", ":"))
        self._call(
            "commit documents", self.ledger.upsert, ids=[d.doc_id for d in docs], embeddings=[[1.0]] * len(docs),
            documents=[d.text for d in docs], metadatas=metas,
        )
        self._bump(generation)

    def delete_document(self, doc_id: str) -> int:
        """Remove a document and all its chunks; returns the number of chunks removed."""
        if not self._call("find document", self.ledger.get, ids=[doc_id], include=[])["ids"]:
            raise DocumentNotFound(f"no document with id {doc_id!r}")
        self._call("delete document", self.ledger.delete, ids=[doc_id])
        self._delete_sentences({"doc_id": doc_id})
        ids = self._call("find chunks", self.chunks.get, where={"doc_id": doc_id}, include=[])["ids"]
        if ids:
            self._call("delete chunks", self.chunks.delete, ids=ids)
        self._chunk_rows.evict_prefix(f"{doc_id}:")  # not needed for correctness (ids name versions): hygiene
        self._chunk_vectors.evict_prefix(f"{doc_id}:")
        self._sentence_vectors.evict_prefix(f"{doc_id}:")
        self._bump()
        return len(ids)

    def sweep(self, grace_s: float = PENDING_GRACE_S) -> int:
        """Delete orphan chunks and sentence vectors (no committed document of that version). Returns how many
        chunks.

        Versions named by a write marker (``mark_pending``) younger than ``grace_s`` are left alone: another
        process (an API worker's upload, another ``ingest``) is writing them and has not committed yet.
        A marker whose versions are all committed, or that is older, is removed with its leftovers."""
        live = {d.id: d.version for d in self.docs().values()}
        markers = self._call("read write markers", self.sentences.get, where={"doc_id": PENDING},
                             include=["metadatas"])
        busy: set[tuple[str, str]] = set()
        versions: set[tuple[str, str]] = set()  # to delete the sentence vectors of
        done: list[str] = []
        now = time.time()
        for rid, meta in zip(markers["ids"], markers["metadatas"] or [], strict=True):
            named = {(str(d), str(v)) for d, v in json.loads(str(meta["versions"]))}
            open_ = {(d, v) for d, v in named if live.get(d) != v}
            if open_ and now - float(meta.get("at", 0) or 0) < grace_s:
                busy |= open_
            else:
                versions |= open_
                done.append(rid)
        stale = []
        for rid, _, _ in self._get_all(self.chunks, include=[]):
            key = chunk_key(rid)  # from the id: the metadata would bring the texts along
            if live.get(key[0]) != key[1] and key not in busy:
                stale.append(rid)
                versions.add(key)
        for doc_id, version in sorted(versions):  # sentences first: they never outlive their chunks
            self._delete_sentences({"$and": [{"doc_id": doc_id}, {"version": version}]})
        if done:
            self._call("delete write markers", self.sentences.delete, ids=done)
        for b in range(0, len(stale), self._page):
            self._call("delete orphans", self.chunks.delete, ids=stale[b : b + self._page])
        return len(stale)

    def mark_pending(self, versions: Iterable[tuple[str, str]], dim: int) -> str:
        """Note that these ``(doc_id, version)``s are being written (before any of their chunks or sentence
        vectors); returns the marker's id, for ``settle`` once they are committed. ``dim``: the vectors'
        dimension (the marker sits in the sentences collection, read only by its doc_id)."""
        marker = f"{PENDING}:{uuid.uuid4().hex}"
        self._call("mark pending writes", self.sentences.upsert, ids=[marker], embeddings=[_probe(dim)],
                   metadatas=[{"doc_id": PENDING, "versions": json.dumps(sorted(set(versions)), separators=(",", ":")),
                               "at": round(time.time(), 3)}])
        return marker

    def settle(self, marker: str) -> None:
        """Remove a ``mark_pending`` marker once its versions are committed."""
        if marker:
            self._call("settle pending writes", self.sentences.delete, ids=[marker])

    # -- sentence vectors (evidence selection reads them instead of embedding at query time) --------
    # Written just before their version's chunks and deleted before them, so complete chunks mean complete
    # sentences. A batch's writes are announced by a marker (``mark_pending``) that ``settle`` removes once
    # they are committed; if the run fails or dies in between, a later ``sweep`` deletes what was written of
    # the versions never committed (nothing else is asked of a store that just failed a write: an embedded
    # Chroma can hang on the next call).
    def write_sentences(self, records: Sequence[SentenceRecord], vectors: np.ndarray) -> None:
        """Each version's sentence list, then the vectors it names (so a list names every vector written)."""
        named: dict[tuple[str, str], list[int]] = {}
        for i, r in enumerate(records):
            named.setdefault((r.doc_id, r.version), []).append(i)
        lists = sorted(named.items())
        for b in range(0, len(lists), self._page):
            batch = lists[b : b + self._page]
            self._call(
                "write sentence lists", self.sentences.upsert, ids=[_list_id(d, v) for (d, v), _ in batch],
                # the list's vector: its sentences' mean (one vector per record is required; distinct ones keep
                # Chroma's graph out of the many-duplicates case)
                embeddings=[_unit_mean(vectors[rows]) for _, rows in batch],
                metadatas=[{"doc_id": d, "version": v, SPANS: ",".join(f"{records[i].start}-{records[i].end}" for i in rows)}
                           for (d, v), rows in batch],
            )
        for b in range(0, len(records), self._page):
            part = records[b : b + self._page]
            self._call("write sentence vectors", self.sentences.upsert, ids=[r.id for r in part],
                       embeddings=vectors[b : b + self._page].tolist())
        self._sentence_vectors.evict(r.id for r in records)

    def _sentence_records(self, where: dict[str, Any]) -> tuple[list[str], list[str]]:
        """The sentence vectors of the versions matching ``where`` (named by their lists, or, in older indexes,
        carrying their own metadata) and the lists: ``(vector ids, list ids)``."""
        res = self._call("read sentence lists", self.sentences.get, where=where, include=["metadatas"])
        vectors: list[str] = []
        lists: list[str] = []
        for rid, meta in zip(res["ids"], res["metadatas"] or [], strict=True):
            if SPANS in meta:
                lists.append(rid)
                for span in str(meta[SPANS]).split(","):
                    if span:
                        start, end = span.split("-")
                        vectors.append(sentence_id(str(meta["doc_id"]), str(meta["version"]), int(start), int(end)))
            else:
                vectors.append(rid)
        return vectors, lists

    def _delete_sentences(self, where: dict[str, Any]) -> None:
        """Delete the sentence vectors of the versions matching ``where``, then their lists (a run that dies in
        between leaves a list, found again by the next delete or sweep)."""
        vectors, lists = self._sentence_records(where)
        for ids in (vectors, lists):
            for b in range(0, len(ids), self._page):
                self._call("delete sentence vectors", self.sentences.delete, ids=ids[b : b + self._page])

    def sentence_vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        """The stored vectors of these sentence ids (``ingest.sentences.sentence_id``); absent ids are left out."""
        return self._read_through(ids, self._sentence_vectors,
                                  lambda missing: self._vectors(self.sentences, missing, "read sentence vectors"))

    @staticmethod
    def _read_through(ids: list[str], cache: ReadCache, read: Callable[[list[str]], dict[str, Any]]) -> dict[str, Any]:
        """``{id: value}`` of the ids found, in ``ids``' order: cached ones from ``cache``, the rest from one
        ``read(missing)`` (which leaves out ids it does not find), then cached."""
        ids = list(dict.fromkeys(ids))  # Chroma refuses duplicate ids
        found = cache.get_many(ids)
        missing = [i for i in ids if i not in found]
        if missing:
            fresh = read(missing)
            cache.put_many(fresh)
            found.update(fresh)
        return {i: found[i] for i in ids if i in found}

    def _vectors(self, collection: Any, ids: list[str], what: str) -> dict[str, np.ndarray]:
        res = self._call(what, collection.get, ids=ids, include=["embeddings"])
        return {rid: vec.copy() for rid, vec in  # copies: a row view would keep the whole batch alive
                zip(res["ids"], np.asarray(res["embeddings"], dtype=np.float32), strict=True)}

    # -- reads for retrieval --------------------------------------------------------------------
    def all_chunks(self) -> list[tuple[str, dict[str, Any], str]]:
        """(id, metadata, text) of every chunk, orphans included (callers filter by the ledger)."""
        return list(self.iter_chunks())

    def embeddings(self, ids: list[str]) -> tuple[list[str], np.ndarray]:
        """Stored vectors of these chunks: (ids found, float32 matrix in that order)."""
        res = self._call("read embeddings", self.chunks.get, ids=ids, include=["embeddings"])
        return list(res["ids"]), np.asarray(res["embeddings"], dtype=np.float32)

    def chunk_count(self) -> int:
        return int(self._call("count", self.chunks.count))

    def query(self, vector: np.ndarray, n: int, where: dict[str, Any] | None = None) -> list[tuple[str, dict[str, Any], str, float]]:
        """Nearest chunks (at most ``n``; fewer when the collection holds fewer): (id, metadata, text, cosine
        similarity); the rows come from ``chunk_texts`` (cached)."""
        hits = self.nearest(vector, n, where)
        rows = self.chunk_texts([rid for rid, _ in hits])
        return [(rid, rows[rid][0], rows[rid][1], score) for rid, score in hits if rid in rows]  # deleted meanwhile: gone

    def nearest(self, vector: np.ndarray, n: int, where: dict[str, Any] | None = None) -> list[tuple[str, float]]:
        """Ids and cosine similarities of the ``n`` nearest chunks, best first. Chroma is asked for ids and
        distances only: the search itself is cheap; reading each hit's metadata and text is most of a query."""
        res = self._call("query", self.chunks.query, query_embeddings=[vector.tolist()], n_results=n,
                         where=where, include=["distances"])
        return [(rid, 1.0 - float(dist)) for rid, dist in zip(res["ids"][0], res["distances"][0], strict=True)]

    # -- change tracking (readers that follow the generation incrementally) ----------------------
    def changed_since(self, generation: int) -> dict[str, str]:
        """``{doc_id: version}`` of the documents committed at ``generation`` or later (inclusive: a
        commit racing with the reader's last read is seen again, never missed; re-applying is a no-op)."""
        res = self._call("read changes", self.ledger.get, where={"gen": {"$gte": generation}}, include=["metadatas"])
        return {rid: str(meta.get("version", "")) for rid, meta in zip(res["ids"], res["metadatas"], strict=True)
                if rid != GENERATION_ID}

    def doc_count(self) -> int:
        """How many documents are committed (one cheap count; the generation record is not one)."""
        n = int(self._call("count documents", self.ledger.count))
        return n - 1 if n else 0

    def doc_ids(self) -> set[str]:
        """The ids of every committed document (ids only: cheap even for many documents)."""
        return {rid for rid, _, _ in self._get_all(self.ledger, include=[]) if rid != GENERATION_ID}

    def chunks_of(self, doc_ids: Iterable[str]) -> list[tuple[str, dict[str, Any], str]]:
        """(id, metadata, text) of every chunk of these documents, any version (callers filter)."""
        ids = sorted(set(doc_ids))
        out: list[tuple[str, dict[str, Any], str]] = []
        for b in range(0, len(ids), 500):
            part = ids[b : b + 500]
            res = self._call("read chunks", self.chunks.get,
                             where={"doc_id": {"$in": part}} if len(part) > 1 else {"doc_id": part[0]},
                             include=["metadatas", "documents"])
            out.extend((rid, *_chunk_row(meta, doc)) for rid, meta, doc in zip(res["ids"], res["metadatas"],
                                                                             res["documents"], strict=True))
        return out

    def iter_chunks(self) -> Iterable[tuple[str, dict[str, Any], str]]:
        """(id, metadata, text) of every chunk, one page at a time (orphans included)."""
        return ((rid, *_chunk_row(meta, doc)) for rid, meta, doc in
                self._get_all(self.chunks, include=["metadatas", "documents"]))

    def chunk_texts(self, ids: list[str]) -> dict[str, tuple[dict[str, Any], str]]:
        """``{id: (metadata, text)}`` of these chunks (the ones found; cached, one read for the rest).
        Callers must not modify the returned metadata dicts (they are shared with the cache)."""

        def read(missing: list[str]) -> dict[str, tuple[dict[str, Any], str]]:
            res = self._call("read chunks", self.chunks.get, ids=missing, include=["metadatas", "documents"])
            return {rid: _chunk_row(meta, doc) for rid, meta, doc in zip(res["ids"], res["metadatas"], res["documents"],
                                                                        strict=True)
                    if meta}  # a row deleted while it was read comes back without metadata: not found

        return self._read_through(ids, self._chunk_rows, read)

    def chunk_vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        """``{id: vector}`` of these chunks (the ones found; cached, one read for the rest)."""
        return self._read_through(ids, self._chunk_vectors,
                                  lambda missing: self._vectors(self.chunks, missing, "read chunk vectors"))

    def rekey_document(self, old_id: str, new_id: str, key: str) -> DocumentInfo:
        """Move a committed document to a new id without re-embedding: copy its chunks (vectors,
        texts, metadata) and sentence vectors, then its ledger record under ``new_id`` (the commit point),
        then delete ``old_id``.
        A crash in between leaves both; the caller deletes a leftover ``old_id`` on its next run."""
        res = self._call("read document", self.ledger.get, ids=[old_id], include=["metadatas", "documents"])
        if not res["ids"]:
            raise DocumentNotFound(f"no document with id {old_id!r}")
        meta, text = dict(res["metadatas"][0]), res["documents"][0] or ""
        version = str(meta.get("version", ""))
        got = self._call("read chunks", self.chunks.get, where={"doc_id": old_id},
                         include=["metadatas", "documents", "embeddings"])
        keep = [i for i, m in enumerate(got["metadatas"]) if str(m.get("version")) == version]
        # announced like an ingest's writes, so another process's sweep leaves the copies alone until the commit
        marker = self.mark_pending([(new_id, version)], dim=len(got["embeddings"][keep[0]])) if keep else ""
        for b in range(0, len(keep), self._page):
            part = keep[b : b + self._page]
            rows = [_chunk_row(got["metadatas"][i], got["documents"][i]) for i in part]
            metas = [{**m, "doc_id": new_id, TEXT: t} for m, t in rows]  # copied in today's layout
            self._call("copy chunks", self.chunks.upsert,
                       ids=[f"{new_id}:{version}:{m.get('n', i)}" for i, m in zip(part, metas, strict=True)],
                       embeddings=np.asarray(got["embeddings"], dtype=np.float32)[part].tolist(), metadatas=metas)
        vector_ids, _ = self._sentence_records({"$and": [{"doc_id": old_id}, {"version": version}]})
        found = self._vectors(self.sentences, vector_ids, "read sentence vectors") if vector_ids else {}
        copies = [(SentenceRecord(new_id, version, *map(int, rid.rsplit(":", 2)[1:])), vec) for rid, vec in found.items()]
        if copies:  # before the ledger commit, like an ingest
            self.write_sentences([r for r, _ in copies], np.stack([v for _, v in copies]))
        generation = self.generation() + 1
        meta.update(key=key, gen=generation)
        self._call("commit document", self.ledger.upsert, ids=[new_id], embeddings=[[1.0]], documents=[text],
                   metadatas=[meta])
        self._bump(generation)
        self.settle(marker)
        self.delete_document(old_id)
        return self.docs_by_id([new_id])[new_id]

    def docs_by_id(self, doc_ids: list[str]) -> dict[str, DocumentInfo]:
        """The committed documents among ``doc_ids``."""
        res = self._call("read documents", self.ledger.get, ids=doc_ids, include=["metadatas"])
        return {rid: _info(rid, meta) for rid, meta in zip(res["ids"], res["metadatas"], strict=True)}

    def _get_all(self, col: Any, include: list[str]) -> Iterable[tuple[str, dict[str, Any], str]]:
        offset = 0
        while True:
            res = self._call("read", col.get, include=include, limit=self._page, offset=offset)
            ids = res["ids"]
            metas = res.get("metadatas") or [{}] * len(ids)
            docs = res.get("documents") or [""] * len(ids)
            yield from zip(ids, metas, docs, strict=True)
            if len(ids) < self._page:
                return
            offset += self._page
