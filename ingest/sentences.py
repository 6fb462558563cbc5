"""Sentence vectors computed at ingest, so that evidence selection embeds nothing at query time.

Every sentence of a document (``assistant.text.sentence_spans`` over its whole text: the boundaries
evidence selection cuts its windows at) gets one unit vector, stored in Chroma (``ChromaStore``'s
sentences collection) under ``sentence_id(doc_id, version, start, end)``, so a reader finds it from the
span alone. Two ways to compute them (``IngestSettings.sentence_vectors``):

* ``late`` (late chunking): the mean of the token states inside the sentence's span, from the forward
  pass that embeds the chunk holding most of it; nearly free, and the vector carries the chunk's context.
* ``separate``: each sentence embedded on its own, in the same length-sorted run as the chunks.

``off`` stores none (readers then embed sentences at query time). An embedder without token states
(an OpenAI-compatible endpoint) gets ``separate`` when ``late`` is asked for.

Example::

    vectors, sentences, sentence_vectors = embed_batch(embedder, docs, mode="late")
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ingest.embedder import Embedder, SpanEmbedder

Span = tuple[int, int]


def sentence_id(doc_id: str, version: str, start: int, end: int) -> str:
    return f"{doc_id}:{version}:{start}:{end}"


def chunk_key(chunk_id: str) -> tuple[str, str]:
    """``(doc_id, version)`` of a chunk id ``<doc_id>:<version>:<n>`` (``ChunkRecord.id``); ``("", "")`` if it
    is not one."""
    parts = chunk_id.rsplit(":", 2)
    return (parts[0], parts[1]) if len(parts) == 3 else ("", "")


def chunk_version(chunk_id: str) -> str:
    """The version part of a chunk id."""
    return chunk_key(chunk_id)[1]


@dataclass(frozen=True)
class SentenceRecord:
    doc_id: str
    version: str
    start: int
    end: int

    @property
    def id(self) -> str:
        return sentence_id(self.doc_id, self.version, self.start, self.end)


@dataclass(frozen=True)
class DocumentChunks:
    """One document: its text, its chunks (``ChunkRecord``s: doc_id, version, text, start, end) and its
    sentence spans."""

    text: str
    chunks: Sequence[Any]
    sentences: Sequence[Span]


def owners(sentences: Sequence[Span], chunks: Sequence[Span]) -> list[int]:
    """For each sentence, the index of the chunk that holds most of it (-1: none); on a tie (a sentence
    inside the overlap of two chunks) the one where it sits furthest from the chunk's edges.
    ``chunks`` are in document order (starts and ends increasing)."""
    starts = [c[0] for c in chunks]
    out = []
    for s, e in sentences:
        best, key = -1, (0, 0)
        j = bisect_right(starts, e - 1) - 1
        while j >= 0 and chunks[j][1] > s:
            cs, ce = chunks[j]
            k = (min(e, ce) - max(s, cs), min(s - cs, ce - e))
            if k[0] > 0 and (best < 0 or k > key):
                best, key = j, k
            j -= 1
        out.append(best)
    return out


def embed_batch(embedder: Embedder, docs: Sequence[DocumentChunks], mode: str
                ) -> tuple[np.ndarray, list[SentenceRecord], np.ndarray]:
    """Embed every chunk of ``docs`` (in order) and, per ``mode``, their sentences.

    Returns (chunk vectors, sentence records, sentence vectors in the records' order)."""
    chunks = [c for d in docs for c in d.chunks]
    texts = [c.text for c in chunks]
    none = np.zeros((0, 1), dtype=np.float32)
    if mode == "off":
        return embedder.embed(texts), [], none
    if mode == "late" and isinstance(embedder, SpanEmbedder):
        spans: list[list[Span]] = [[] for _ in chunks]
        held: list[list[SentenceRecord]] = [[] for _ in chunks]
        base = 0
        for d in docs:
            for (s, e), k in zip(d.sentences, owners(d.sentences, [(c.start, c.end) for c in d.chunks]), strict=True):
                if k >= 0:
                    c = d.chunks[k]
                    spans[base + k].append((max(s, c.start) - c.start, min(e, c.end) - c.start))
                    held[base + k].append(SentenceRecord(c.doc_id, c.version, s, e))
            base += len(d.chunks)
        vectors, pooled = embedder.embed_spans(texts, spans)
        records: list[SentenceRecord] = []
        rows: list[np.ndarray] = []
        for recs, mat in zip(held, pooled, strict=True):
            for rec, vec in zip(recs, mat, strict=True):
                if vec.any():  # a span past the model's 256 tokens has no state: left to query time
                    records.append(rec)
                    rows.append(vec)
        return vectors, records, np.stack(rows) if rows else none
    # separate: one length-sorted run over chunks and sentences together
    records, sentence_texts = [], []
    for d in docs:
        for s, e in d.sentences if d.chunks else ():
            records.append(SentenceRecord(d.chunks[0].doc_id, d.chunks[0].version, s, e))
            sentence_texts.append(d.text[s:e])
    both = embedder.embed(texts + sentence_texts)
    return both[: len(texts)], records, both[len(texts) :]
