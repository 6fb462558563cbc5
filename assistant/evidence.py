"""EvidenceSelector: from retrieved chunks to a few numbered sentence windows ``[1]..[k]``.

A window is three consecutive sentences of one paragraph, cut from the document's own text, so its span can be
quoted exactly. Windows carry their context: the sentence that answers "What did South Korea do in
response?" never names South Korea (the sentence before it does) and ranks 23rd of 34 when sentences
are scored alone; in a window with the sentence before it, it ranks first.

Scoring is two-stage to stay cheap: a lexical score (IDF-weighted overlap of the question's content
terms with the window, plus the chunk's retrieval score) keeps the best ``prefilter`` windows, then
each window's vector (the normalised sum of its sentences' vectors) is compared with the question's.
Sentence vectors are read from the index (``stored``: computed at ingest, see ``ingest.sentences``), so
a new question embeds nothing but itself; a sentence without a stored vector (an index ingested before
they existed, ``ASSISTANT_INGEST__SENTENCE_VECTORS=off``) is embedded here and cached.
Heading lines (a title with no closing punctuation) are never evidence.

Example::

    evidence = EvidenceSelector(embedder, stored=store.sentence_vectors).select(query, qvec, chunks, doc_texts, k=4)
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from assistant.schema import Evidence, RetrievedChunk
from assistant.text import content_terms, sentence_spans
from ingest.embedder import Embedder
from ingest.sentences import chunk_version, sentence_id

log = logging.getLogger(__name__)


@dataclass
class Window:
    document_id: str
    source: str
    title: str
    chunk_id: str
    start: int
    end: int
    sentences: list[str]
    text: str
    chunk_score: float
    spans: list[tuple[int, int]]
    lexical: float = 0.0
    dense: float = 0.0
    score: float = 0.0
    sentence_dense: list[float] = field(default_factory=list)


_CLOSED = re.compile(r"""[.!?:;]["”’')\]]*$""")


def _heading(sentence: str) -> bool:
    """A title or heading line ("Reichstag fire", "Portia (The Merchant of Venice)"): short, and not ended
    by sentence punctuation (a closing bracket or quote counts only after a full stop, ! or ?)."""
    return len(sentence.split()) < 20 and not _CLOSED.search(sentence.rstrip())


class EvidenceSelector:
    """``stored(sentence_ids) -> {id: vector}`` reads sentence vectors computed at ingest (None: embed them)."""

    def __init__(self, embedder: Embedder, prefilter: int = 4, cache_size: int = 50_000,
                 stored: Callable[[list[str]], dict[str, np.ndarray]] | None = None) -> None:
        self.embedder = embedder
        self.stored = stored
        self._warned = False
        self.prefilter = prefilter
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def windows(self, chunks: list[RetrievedChunk], doc_texts: dict[str, str], size: int = 3) -> list[Window]:
        """Sliding windows of ``size`` consecutive sentences of one paragraph, touching a retrieved chunk."""
        out: list[Window] = []
        seen: set[tuple[str, int, int]] = set()
        for chunk in chunks:
            text = doc_texts.get(chunk.document_id, "")
            if not text:
                continue
            # the paragraphs the chunk touches, so windows can reach across chunk borders
            lo = text.rfind("\n\n", 0, max(0, chunk.start - 1))
            lo = 0 if lo < 0 else lo
            hi = text.find("\n\n", chunk.end)
            spans = [sp for sp in sentence_spans(text, lo, len(text) if hi < 0 else hi) if not _heading(text[sp[0]:sp[1]])]
            paragraphs: list[list[tuple[int, int]]] = []
            for sp in spans:
                if paragraphs and "\n\n" not in text[paragraphs[-1][-1][1] : sp[0]]:
                    paragraphs[-1].append(sp)
                else:
                    paragraphs.append([sp])
            for para in paragraphs:
                for i in range(max(1, len(para) - size + 1)):
                    parts = para[i : i + size]
                    ws, we = parts[0][0], parts[-1][1]
                    if we <= chunk.start or ws >= chunk.end or (chunk.document_id, ws, we) in seen:
                        continue
                    seen.add((chunk.document_id, ws, we))
                    out.append(Window(chunk.document_id, chunk.source, chunk.title, chunk.id, ws, we,
                                      [text[a:b] for a, b in parts], text[ws:we], chunk.score, parts))
        return out

    def select(self, query: str, qvec: np.ndarray, chunks: list[RetrievedChunk], doc_texts: dict[str, str],
               k: int = 4, bonus: Callable[[str, str], float] | None = None) -> list[Evidence]:
        """The ``k`` best non-overlapping windows, numbered from 1, best first.

        ``bonus(window_text, document_title)`` is added to each shortlisted window's score (the reader's constraint
        satisfaction, ``assistant.reading.window_bonus``)."""
        windows = self.windows(chunks, doc_texts)
        if not windows:
            return []
        self._lexical(query, windows)
        windows.sort(key=lambda w: w.lexical + w.chunk_score, reverse=True)
        shortlist = windows[: self.prefilter]
        for w, vecs in zip(shortlist, self.sentence_vectors(shortlist), strict=True):
            pooled = vecs.sum(axis=0)
            w.dense = float(pooled @ qvec) / max(float(np.linalg.norm(pooled)), 1e-12)
            w.sentence_dense = [round(float(c), 4) for c in vecs @ qvec]
            w.score = 0.6 * w.dense + 0.25 * w.lexical + 0.15 * w.chunk_score + (bonus(w.text, w.title) if bonus else 0.0)
        shortlist.sort(key=lambda w: w.score, reverse=True)
        chosen: list[Window] = []
        for w in shortlist:
            if any((c.document_id == w.document_id and c.start < w.end and w.start < c.end) or c.text == w.text
                   for c in chosen):
                continue
            chosen.append(w)
            if len(chosen) == k:
                break
        return [
            Evidence(id=i, document_id=w.document_id, source=w.source, title=w.title, text=w.text,
                     start=w.start, end=w.end, score=round(w.score, 4), chunk_id=w.chunk_id,
                     sentence_scores=w.sentence_dense)
            for i, w in enumerate(chosen, start=1)
        ]

    @staticmethod
    def _lexical(query: str, windows: list[Window]) -> None:
        terms = set(content_terms(query, drop_question_words=True))
        if not terms:
            return
        bags = [set(content_terms(w.text)) for w in windows]
        n = len(bags)
        idf = {t: math.log(1 + (n + 1) / (1 + sum(t in b for b in bags))) for t in terms}
        total = sum(idf.values())
        for w, bag in zip(windows, bags, strict=True):
            w.lexical = sum(v for t, v in idf.items() if t in bag) / total

    def sentence_vectors(self, windows: list[Window]) -> list[np.ndarray]:
        """Per window, the matrix of its sentences' vectors (stored at ingest; a missing one is embedded)."""
        keys = [[sentence_id(w.document_id, chunk_version(w.chunk_id), a, b) for a, b in w.spans] for w in windows]
        found = self.stored([k for ks in keys for k in ks]) if self.stored is not None else {}
        missing = [t for w, ks in zip(windows, keys, strict=True) for k, t in zip(ks, w.sentences, strict=True)
                   if k not in found]
        if missing and self.stored is not None and not self._warned:
            self._warned = True
            log.warning("%d sentence(s) have no stored vector, so they are embedded at query time (slower): "
                        "re-run `assistant ingest` on their documents to store them", len(missing))
        embedded = self.vectors([[t] for t in missing]) if missing else np.zeros((0, 1), dtype=np.float32)
        fresh = dict(zip(missing, embedded, strict=True))
        return [np.stack([found[k] if k in found else fresh[t] for k, t in zip(ks, w.sentences, strict=True)])
                for w, ks in zip(windows, keys, strict=True)]

    def vectors(self, groups: list[list[str]]) -> np.ndarray:
        """One unit vector per group of sentences: the normalised sum of their (cached) embeddings.

        Embedding sentences once and pooling them costs a third of embedding every window (each
        sentence sits in up to three windows), and the cache is shared by evidence selection and
        verification.
        """
        with self._lock:
            missing = list(dict.fromkeys(t for g in groups for t in g if t not in self._cache))
        fresh: np.ndarray | list[np.ndarray] = self.embedder.embed(missing) if missing else []
        with self._lock:
            for text, vec in zip(missing, fresh, strict=True):
                self._cache[text] = vec
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
            pooled: list[np.ndarray] = []
            for group in groups:
                total: np.ndarray | None = None
                for text in group:
                    vec = self._cache.get(text)
                    if vec is None:  # evicted meanwhile by another thread: embed it alone
                        vec = self.embedder.embed([text])[0]
                    else:
                        self._cache.move_to_end(text)
                    total = vec.copy() if total is None else total + vec
                assert total is not None, "a group has at least one sentence"
                pooled.append(total)
        if not pooled:
            return np.zeros((0, 1), dtype=np.float32)
        out = np.stack(pooled)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.clip(norms, 1e-12, None)

    def text_vectors(self, texts: list[str]) -> np.ndarray:
        """Unit vectors of arbitrary texts, pooled from their sentences."""
        return self.vectors([[t[a:b] for a, b in sentence_spans(t)] or [t] for t in texts])
