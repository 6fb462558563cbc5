"""BM25Index: an in-memory BM25 (Lucene variant, the scores of ``bm25s``) that updates per document.

``bm25s`` precomputes every (chunk, term) score, so any change to the corpus (its size, a term's
document frequency, the average length) changes every score and forces a full rebuild. Here the
index keeps raw term frequencies and scores lazily at query time, so a change touches only:

* the global statistics (chunk count, total length, per-term document frequency), updated by
  adding and subtracting the changed documents' counts;
* the one shard (of ``shards``, chosen by a hash of the document id) holding each changed document:
  its sorted (term, row, tf) arrays are rebuilt from its other documents plus the new chunks.

Instances are immutable: ``update`` returns a new index sharing the untouched shards, so readers of
the old one are never disturbed. Within a shard rows are ordered by document id and the arrays by
(term, row), so an index updated step by step is bit-for-bit the one built from scratch.

Example::

    index = BM25Index.build({"d1": [("d1:v:0", ["zebrafish", "lisbon"])]})
    index = index.update(added={"d2": [("d2:v:0", ["axolotl"])]}, removed=["d1"])
    index.top(["axolotl"], n=5)      # [(score, "d2:v:0")]
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

EMPTY = "\u2205"  # the token of a chunk without content terms (it still counts as one token)
K1, B = 1.5, 0.75  # bm25s defaults

DocChunks = Sequence[tuple[str, Sequence[str]]]  # [(chunk id, its tokens)] of one document


@dataclass(frozen=True)
class _Shard:
    docs: dict[str, tuple[int, int]]  # doc id -> its rows [start, end)
    ids: list[str]  # chunk id of each row
    dl: np.ndarray  # tokens of each row (float64)
    term: np.ndarray  # int32, sorted; with row and tf: one entry per (row, distinct term)
    row: np.ndarray  # int32
    tf: np.ndarray  # float64

    @staticmethod
    def empty() -> _Shard:
        return _Shard({}, [], np.zeros(0), np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))



@dataclass(frozen=True)
class _Encoded:
    """One document's chunks as arrays: what a shard is assembled from."""

    ids: list[str]
    dl: np.ndarray
    term: np.ndarray
    row: np.ndarray
    tf: np.ndarray


@dataclass(frozen=True)
class BM25Index:
    shards: tuple[_Shard, ...]
    vocab: dict[str, int]  # append-only, shared between versions (ids beyond len(df) are unknown here)
    df: np.ndarray  # int64 per term id: chunks containing it
    n_chunks: int
    n_tokens: int
    shard_of: dict[str, int] = field(default_factory=dict)  # doc id -> shard

    # -- building ---------------------------------------------------------------------------------
    @classmethod
    def build(cls, docs: Mapping[str, DocChunks], shards: int = 64) -> BM25Index:
        if shards < 1:
            raise ValueError(f"shards must be at least 1, got {shards}")
        empty = cls(tuple(_Shard.empty() for _ in range(shards)), {}, np.zeros(0, np.int64), 0, 0)
        return empty.update(added=docs)

    def update(self, added: Mapping[str, DocChunks] = {}, removed: Iterable[str] = ()) -> BM25Index:  # noqa: B006
        """A new index with ``added`` documents inserted (replacing any with the same id) and ``removed`` dropped."""
        gone = {d for d in removed if d in self.shard_of} | {d for d in added if d in self.shard_of}
        vocab = self.vocab
        encoded = {doc: self._encode(chunks, vocab) for doc, chunks in added.items()}
        df = np.zeros(len(vocab), np.int64)
        df[: len(self.df)] = self.df
        stats = [self.n_chunks, self.n_tokens]
        touched: dict[int, dict[str, _Encoded]] = {self.shard_of[d]: {} for d in gone}
        for doc, enc in encoded.items():
            touched.setdefault(self._home(doc), {})[doc] = enc
        shards = list(self.shards)
        shard_of = {d: s for d, s in self.shard_of.items() if d not in gone}
        for s, new in touched.items():
            shards[s] = self._rebuild(shards[s], gone, new, df, stats)
            shard_of.update(dict.fromkeys(new, s))
        return BM25Index(tuple(shards), vocab, df, stats[0], stats[1], shard_of)

    def _home(self, doc: str) -> int:
        return zlib.crc32(doc.encode()) % len(self.shards)

    @staticmethod
    def _encode(chunks: DocChunks, vocab: dict[str, int]) -> _Encoded:
        ids, dls, terms, rows, tfs = [], [], [], [], []
        for r, (cid, tokens) in enumerate(chunks):
            tokens = list(tokens) or [EMPTY]
            counts: dict[int, int] = {}
            for t in tokens:
                tid = vocab.setdefault(t, len(vocab))
                counts[tid] = counts.get(tid, 0) + 1
            ids.append(cid)
            dls.append(len(tokens))
            terms.extend(counts)
            tfs.extend(counts.values())
            rows.extend([r] * len(counts))
        return _Encoded(ids, np.asarray(dls, np.float64), np.asarray(terms, np.int32),
                        np.asarray(rows, np.int32), np.asarray(tfs, np.float64))

    @staticmethod
    def _rebuild(old: _Shard, gone: set[str], new: dict[str, _Encoded], df: np.ndarray, stats: list[int]) -> _Shard:
        """The shard without ``gone``, plus ``new``, rows in document-id order; updates ``df`` and
        ``stats`` ([chunks, tokens]) in place. One pass over the shard's arrays, whatever it holds."""
        kept = {d: span for d, span in old.docs.items() if d not in gone}
        remap = np.full(len(old.ids), -1, np.int64)
        order = sorted(set(kept) | set(new))
        docs: dict[str, tuple[int, int]] = {}
        ids: list[str] = []
        dls: list[np.ndarray] = []
        offset = 0
        for doc in order:
            if doc in new:
                enc = new[doc]
                size, doc_ids, dl = len(enc.ids), enc.ids, enc.dl
            else:
                start, end = kept[doc]
                size, doc_ids, dl = end - start, old.ids[start:end], old.dl[start:end]
                remap[start:end] = np.arange(offset, offset + size)
            docs[doc] = (offset, offset + size)
            ids.extend(doc_ids)
            dls.append(dl)
            offset += size
        dropped = remap[old.row] < 0 if len(old.row) else np.zeros(0, bool)
        np.subtract.at(df, old.term[dropped], 1)
        stats[0] += offset - len(old.ids)
        stats[1] += int(sum(d.sum() for d in dls) - old.dl.sum())
        terms, rows, tfs = [old.term[~dropped]], [remap[old.row[~dropped]]], [old.tf[~dropped]]
        for doc, enc in new.items():
            np.add.at(df, enc.term, 1)
            terms.append(enc.term)
            rows.append(enc.row + docs[doc][0])
            tfs.append(enc.tf)
        if not ids:
            return _Shard.empty()
        term, row, tf = np.concatenate(terms), np.concatenate(rows).astype(np.int32), np.concatenate(tfs)
        order_ = np.lexsort((row, term))
        return _Shard(docs, ids, np.concatenate(dls), term[order_], row[order_], tf[order_])

    # -- reading ----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.n_chunks

    def doc_freq(self, term: str) -> int:
        tid = self.vocab.get(term)
        return int(self.df[tid]) if tid is not None and tid < len(self.df) else 0

    def top(self, query: Sequence[str], n: int, documents: set[str] | None = None) -> list[tuple[float, str]]:
        """The ``n`` best (score, chunk id) with a positive score, best first (ties by id); only in
        ``documents`` when given. Each query token counts once per occurrence, as in ``bm25s``."""
        if not self.n_chunks or n < 1:
            return []
        weights: dict[int, float] = {}
        for t in query:
            tid = self.vocab.get(t)
            if tid is not None and tid < len(self.df) and self.df[tid] > 0:
                weights[tid] = weights.get(tid, 0.0) + self._idf(int(self.df[tid]))
        if not weights:
            return []
        avgdl = self.n_tokens / self.n_chunks
        found: list[tuple[float, str]] = []
        for shard in self.shards:
            if not shard.ids or (documents is not None and not documents.intersection(shard.docs)):
                continue
            scores = self._score(shard, weights, avgdl)
            if documents is not None:
                keep = np.zeros(len(shard.ids), bool)
                for doc in documents.intersection(shard.docs):
                    start, end = shard.docs[doc]
                    keep[start:end] = True
                scores[~keep] = 0.0
            hits = np.flatnonzero(scores > 0)
            if len(hits) > n:
                hits = hits[np.argpartition(-scores[hits], n - 1)[:n]]
            found.extend((float(scores[i]), shard.ids[i]) for i in hits)
        found.sort(key=lambda x: (-x[0], x[1]))
        return found[:n]

    def _idf(self, df: int) -> float:
        return math.log(1 + (self.n_chunks - df + 0.5) / (df + 0.5))

    @staticmethod
    def _score(shard: _Shard, weights: dict[int, float], avgdl: float) -> np.ndarray:
        scores = np.zeros(len(shard.ids))
        norm = K1 * (1 - B + B * shard.dl / avgdl)
        for tid, idf in weights.items():
            lo, hi = np.searchsorted(shard.term, [tid, tid + 1])
            if lo == hi:
                continue
            rows, tf = shard.row[lo:hi], shard.tf[lo:hi]
            scores[rows] += idf * tf / (tf + norm[rows])  # rows are distinct within one term
        return scores
