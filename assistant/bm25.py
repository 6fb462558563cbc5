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
# A shard is rebuilt whole when one of its documents changes (a few tens of ms per 10k chunks) and every query
# visits every shard (a fixed cost per shard and query term): 10k chunks a shard balances the two.
SHARD_CHUNKS = 10_000
MAX_SHARDS = 256

DocChunks = Sequence[tuple[str, Sequence[str]]]  # [(chunk id, its tokens)] of one document


@dataclass(frozen=True)
class _Shard:
    docs: dict[str, tuple[int, int]]  # doc id -> its rows [start, end)
    ids: list[str]  # chunk id of each row
    dl: np.ndarray  # tokens of each row (float64)
    term: np.ndarray  # int32, sorted; with row and tf: one entry per (row, distinct term)
    row: np.ndarray  # int32
    tf: np.ndarray  # float32 (exact for counts): with term and row, 12 bytes per entry, ~50 entries per chunk

    @staticmethod
    def empty() -> _Shard:
        return _Shard({}, [], np.zeros(0), np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.float32))



def _key(term: np.ndarray, row: np.ndarray) -> np.ndarray:
    """One sortable int64 per (term, row)."""
    return (term.astype(np.int64) << 32) | row.astype(np.int64)


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
    # per shard, tf / (tf + k1 (1 - b + b dl / avgdl)) of every entry: fixed for one version (avgdl is)
    _tfc: dict[int, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    @property
    def wants_reshard(self) -> bool:
        """True once the shards hold over twice ``SHARD_CHUNKS`` each: a fresh ``build`` keeps updates cheap."""
        return len(self.shards) < MAX_SHARDS and self.n_chunks > 2 * SHARD_CHUNKS * len(self.shards)

    # -- building ---------------------------------------------------------------------------------
    @classmethod
    def build(cls, docs: Mapping[str, DocChunks], shards: int | None = None) -> BM25Index:
        """The index of ``docs``; ``shards`` defaults to one per ``SHARD_CHUNKS`` chunks (1..``MAX_SHARDS``)."""
        if shards is None:
            chunks = sum(len(c) for c in docs.values())
            shards = min(MAX_SHARDS, max(1, math.ceil(chunks / SHARD_CHUNKS)))
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
        ids: list[str] = []
        dls: list[int] = []
        terms: list[int] = []
        rows: list[int] = []
        tfs: list[int] = []
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
                        np.asarray(rows, np.int32), np.asarray(tfs, np.float32))

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
        dropped = remap[old.row] < 0
        np.subtract.at(df, old.term[dropped], 1)
        stats[0] += offset - len(old.ids)
        stats[1] += int(sum(d.sum() for d in dls) - old.dl.sum())
        if not ids:
            return _Shard.empty()
        # Kept entries stay sorted by (term, row): kept documents keep their relative order. Only the new
        # documents' entries are sorted, then merged in (linear), so a shard update needs no full sort.
        term, row, tf = old.term[~dropped], remap[old.row[~dropped]].astype(np.int32), old.tf[~dropped]
        if new:
            for enc in new.values():
                np.add.at(df, enc.term, 1)
            n_term = np.concatenate([enc.term for enc in new.values()])
            n_row = np.concatenate([enc.row + docs[doc][0] for doc, enc in new.items()]).astype(np.int32)
            n_tf = np.concatenate([enc.tf for enc in new.values()])
            n_key = _key(n_term, n_row)
            by_key = np.argsort(n_key)
            at = np.searchsorted(_key(term, row), n_key[by_key])
            term, row, tf = (np.insert(term, at, n_term[by_key]), np.insert(row, at, n_row[by_key]),
                             np.insert(tf, at, n_tf[by_key]))
        return _Shard(docs, ids, np.concatenate(dls), term, row, tf)

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
        tids = np.fromiter(weights, np.int32, len(weights))  # the dtype of _Shard.term: see _score
        idfs = list(weights.values())
        starts = np.cumsum([0] + [len(sh.ids) for sh in self.shards])
        scores = np.zeros(int(starts[-1]))
        for s, shard in enumerate(self.shards):
            if shard.ids and (documents is None or not documents.isdisjoint(shard.docs)):
                self._score(s, tids, idfs, scores[starts[s] : starts[s + 1]])
        if documents is not None:
            keep = np.zeros(len(scores), bool)
            for s, shard in enumerate(self.shards):
                for doc in documents.intersection(shard.docs):
                    start, end = shard.docs[doc]
                    keep[starts[s] + start : starts[s] + end] = True
            scores[~keep] = 0.0
        hits = np.flatnonzero(scores)
        if len(hits) > n:  # the n best and every tie of the n-th, so that ties are broken by id below
            cut = -np.partition(-scores[hits], n - 1)[n - 1]
            hits = hits[scores[hits] >= cut]
        shard_no = np.searchsorted(starts, hits, side="right") - 1
        found = [(float(scores[i]), self.shards[s].ids[i - starts[s]])
                 for i, s in zip(hits.tolist(), shard_no.tolist(), strict=True)]
        found.sort(key=lambda x: (-x[0], x[1]))
        return found[:n]

    def _idf(self, df: int) -> float:
        return math.log(1 + (self.n_chunks - df + 0.5) / (df + 0.5))

    def _score(self, s: int, tids: np.ndarray, idfs: list[float], out: np.ndarray) -> None:
        """Add shard ``s``'s scores for the query terms ``tids`` (with their ``idfs``) to ``out``."""
        shard = self.shards[s]
        tfc = self._tfc.get(s)
        if tfc is None:  # once per shard and index version; racing threads compute the same array
            avgdl = self.n_tokens / self.n_chunks
            tfc = (shard.tf / (shard.tf + K1 * (1 - B + B * shard.dl[shard.row] / avgdl))).astype(np.float32)
            self._tfc[s] = tfc
        # searchsorted with another dtype than shard.term's would convert the whole array on every call
        los, his = np.searchsorted(shard.term, tids).tolist(), np.searchsorted(shard.term, tids + 1).tolist()
        for lo, hi, idf in zip(los, his, idfs, strict=True):
            if lo < hi:
                out[shard.row[lo:hi]] += idf * tfc[lo:hi]  # rows are distinct within one term
