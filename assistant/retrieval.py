"""HybridRetriever: dense (Chroma) + BM25, fused by a weighted sum of normalised scores.

Plain reciprocal rank fusion throws away the dense score's confidence and, measured on CLAP NQ,
loses to dense alone (Recall@1 0.940 vs 0.953). Here every candidate gets its exact dense cosine
(BM25-only candidates have their stored embeddings scored too) plus ``bm25_weight`` times its BM25
score divided by the best BM25 score of the query, so BM25 can lift exact names and numbers without
overruling a clear dense winner.

The BM25 index (``assistant.bm25``) follows the store's commit generation (one cheap read per
query): when it moved, only the documents committed since (added or replaced) are read from Chroma
and re-indexed, and removals are found by comparing document counts; a full read happens only on the
first query or when most documents changed. So it stays consistent with re-ingest, update, prune and
deletes, also when another process wrote to a shared Chroma server. Chroma stays the only source of
truth; the snapshot holds only chunk ids and term counts (texts are read back for the final chunks).

Example::

    retriever = HybridRetriever(store, embedder, settings.retrieval)
    chunks = retriever.retrieve("What did South Korea do in response?", top_k=5)
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from assistant.bm25 import BM25Index
from assistant.errors import IndexNotReady
from assistant.schema import RetrievedChunk
from assistant.settings import RetrievalSettings
from assistant.text import content_terms
from ingest.embedder import Embedder
from ingest.store import ChromaStore


def fuse(dense: dict[str, float], lexical: dict[str, float], bm25_weight: float) -> list[tuple[float, str]]:
    """(fused score, id) of every candidate, best first: dense cosine + weight x BM25 / the query's best BM25.

    The one fusion formula: retrieval and the calibration script (``evals/calibrate.py``) both call it.
    """
    best_bm25 = max(lexical.values(), default=0.0)
    fused = []
    for rid in set(dense) | set(lexical):
        b = lexical.get(rid, 0.0) / best_bm25 if best_bm25 > 0 else 0.0
        fused.append((dense.get(rid, 0.0) + bm25_weight * b, rid))
    fused.sort(reverse=True)
    return fused


@dataclass(frozen=True)
class Snapshot:
    """What the retriever knows at one store generation: the live documents and their BM25 index."""

    generation: int
    live: dict[str, str]  # doc_id -> committed version
    bm25: BM25Index

    @property
    def chunks(self) -> int:
        return len(self.bm25)


class HybridRetriever:
    # A change touching more than this share of the documents is read in full (one paged scan).
    FULL_REBUILD_SHARE = 0.5

    def __init__(self, store: ChromaStore, embedder: Embedder, config: RetrievalSettings, *, shards: int | None = None) -> None:
        self.store = store
        self.embedder = embedder
        self.config = config
        self.shards = shards
        self._snap: Snapshot | None = None
        self._lock = threading.Lock()

    # -- index state --------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """The live chunks' BM25 index at the store's current generation, updated only by what changed."""
        generation = self.store.generation()
        snap = self._snap
        if snap is not None and snap.generation == generation:
            return snap
        with self._lock:
            snap = self._snap
            if snap is None or snap.generation != generation:
                snap = self._update(snap, generation) if snap is not None else self.build(generation)
                self._snap = snap
            return snap

    @property
    def generation(self) -> int:
        """The commit generation of the last snapshot searched (0 before the first search)."""
        snap = self._snap
        return snap.generation if snap is not None else 0

    def build(self, generation: int) -> Snapshot:
        """A snapshot from a full, paged read of the store (first query; tests compare updates with it)."""
        live = {d.id: d.version for d in self.store.docs().values()}
        return Snapshot(generation, live, BM25Index.build(_by_doc(self.store.iter_chunks(), live), self.shards))

    def _update(self, snap: Snapshot, generation: int) -> Snapshot:
        changed = {d: v for d, v in self.store.changed_since(snap.generation).items() if snap.live.get(d) != v}
        live = {**snap.live, **changed}
        removed: set[str] = set()
        if len(live) != self.store.doc_count():
            removed = set(live) - self.store.doc_ids()
        if (len(changed) + len(removed) > self.FULL_REBUILD_SHARE * max(1, len(snap.live))
                or snap.bm25.wants_reshard):  # grown past its shards: rebuilt at each doubling, so O(1) amortised
            return self.build(generation)
        for d in removed:
            del live[d]
        added = _by_doc(self.store.chunks_of(changed), changed) if changed else {}
        return Snapshot(generation, live, snap.bm25.update(added=added, removed=removed))

    # -- retrieval ----------------------------------------------------------------------------
    def last_snapshot(self) -> Snapshot:
        """The snapshot searched last, without reading the generation (the first call builds one): for a caller
        that checks the generation after its search (``AnswerEngine.prepare``) and searches again if it moved."""
        return self._snap or self.snapshot()

    def retrieve(self, query: str, top_k: int | None = None, document_ids: list[str] | None = None,
                 query_vector: np.ndarray | None = None, snapshot: Snapshot | None = None) -> list[RetrievedChunk]:
        """The ``top_k`` chunks for ``query`` by fused score, best first, searched in ``snapshot`` (default: the
        one at the store's current generation)."""
        snap = snapshot or self.snapshot()
        if not snap.chunks:
            raise IndexNotReady("nothing is indexed yet: run `assistant ingest PATH` (or upload documents)")
        top_k = top_k or self.config.top_k
        qvec = query_vector if query_vector is not None else self.embedder.embed([query])[0]
        dense, lexical = self.candidates(snap, query, qvec, document_ids)
        fused = fuse(dense, lexical, self.config.bm25_weight)
        out: list[RetrievedChunk] = []
        done = 0
        while len(out) < top_k and done < len(fused):  # only the winners' texts are read
            batch = fused[done : done + top_k - len(out)]
            done += len(batch)
            rows = self.store.chunk_texts([rid for _, rid in batch])
            for score, rid in batch:
                if rid not in rows:
                    continue  # deleted since the search: the next candidate takes its place
                meta, text = rows[rid]
                out.append(RetrievedChunk(
                    id=rid, document_id=str(meta["doc_id"]), source=str(meta.get("source", "")),
                    title=str(meta.get("title", "")), text=text, start=int(meta["start"]),
                    end=int(meta["end"]), score=round(score, 6), dense=round(dense.get(rid, 0.0), 6),
                    bm25=round(lexical.get(rid, 0.0), 6),
                ))
        return out

    def candidates(self, snap: Snapshot, query: str, qvec: np.ndarray, document_ids: list[str] | None,
                   ) -> tuple[dict[str, float], dict[str, float]]:
        """Every candidate's exact dense cosine and its raw BM25 score (when it has one): the inputs of ``fuse``.

        Reads no chunk text: the dense search returns ids and distances (a chunk id names its document
        and version, so liveness needs no metadata), and only BM25-only candidates' stored vectors are read."""
        n = self.config.candidates
        where = None
        if document_ids:
            where = {"doc_id": {"$in": list(document_ids)}} if len(document_ids) > 1 else {"doc_id": document_ids[0]}
        dense = {rid: score for rid, score in self.store.nearest(qvec, n, where=where) if _live(snap, rid)}
        terms = content_terms(query, drop_question_words=True)
        allowed = set(document_ids) if document_ids else None
        lexical = {rid: score for score, rid in snap.bm25.top(terms, n, allowed)}
        vectors = self.store.chunk_vectors([rid for rid in lexical if rid not in dense])
        for rid, vec in vectors.items():
            dense[rid] = float(vec @ qvec)  # BM25 only: its stored vector gives the exact cosine
        lexical = {rid: s for rid, s in lexical.items() if rid in dense}  # a chunk deleted since the snapshot
        return dense, lexical

    def gather(self, snap: Snapshot, query: str, qvec: np.ndarray, document_ids: list[str] | None,
                ) -> tuple[dict[str, float], dict[str, float], dict[str, tuple[dict[str, Any], str]]]:
        """``candidates`` plus every candidate's ``(metadata, text)`` (the calibration script reads them)."""
        dense, lexical = self.candidates(snap, query, qvec, document_ids)
        return dense, lexical, self.store.chunk_texts(list(dense))

    def coverage(self, query: str, chunks: list[RetrievedChunk], top: int = 3) -> float:
        """IDF-weighted share of the question's content terms found in the ``top`` chunks (0..1).

        Low when the question asks about something the documents never mention ("the GDP of ...").
        """
        bm25 = (self._snap or self.snapshot()).bm25
        terms = set(content_terms(query, drop_question_words=True))
        if not terms:
            return 1.0
        n = max(1, len(bm25))
        df = {t: bm25.doc_freq(t) for t in terms}
        idf = {t: math.log((n - df[t] + 0.5) / (df[t] + 0.5) + 1) for t in terms}
        bag: set[str] = set()
        for c in chunks[:top]:
            bag.update(content_terms(c.text))
        return sum(v for t, v in idf.items() if t in bag) / sum(idf.values())


def _live(snap: Snapshot, chunk_id: str) -> bool:
    """Whether a chunk (id ``<doc_id>:<version>:<n>``, ``ingest.store.ChunkRecord.id``) is of its document's
    committed version in ``snap``."""
    parts = chunk_id.rsplit(":", 2)
    return len(parts) == 3 and snap.live.get(parts[0]) == parts[1]


def _by_doc(chunks: Iterable[tuple[str, dict[str, Any], str]], live: dict[str, str]) -> dict[str, list[tuple[str, list[str]]]]:
    """Live chunks' tokens grouped by document, in chunk order: what ``BM25Index`` indexes."""
    grouped: dict[str, list[tuple[int, str, list[str]]]] = {}
    for rid, meta, text in chunks:
        if not meta:  # deleted while it was read (Chroma returns the id with no metadata)
            continue
        doc = str(meta.get("doc_id"))
        if live.get(doc) == meta.get("version"):
            # interned: a full build holds every chunk's tokens at once, as pointers to one string per term
            grouped.setdefault(doc, []).append((int(meta.get("n", 0)), rid, [sys.intern(t) for t in content_terms(text)]))
    return {doc: [(rid, toks) for _, rid, toks in sorted(items)] for doc, items in grouped.items()}
