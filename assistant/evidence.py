"""EvidenceSelector: from retrieved chunks to a few numbered sentence windows ``[1]..[k]``.

A window is a sentence with its neighbours, cut from the document's own text, so its span can be
quoted exactly. Windows carry their context: the sentence that answers "What did South Korea do in
response?" never names South Korea (the sentence before it does) and ranks 23rd of 34 when sentences
are scored alone; as the centre of a window it ranks first.

Scoring is two-stage to stay within ~100 ms: a cheap lexical score (IDF-weighted overlap of the
question's content terms with the window, plus the chunk's retrieval score) keeps the best
``prefilter`` windows, then their embeddings (cached) are compared with the question's.

Example::

    evidence = EvidenceSelector(embedder).select(query, qvec, chunks, doc_texts, k=4)
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from assistant.schema import Evidence, RetrievedChunk
from assistant.text import content_terms, sentence_spans


@dataclass
class Window:
    document_id: str
    source: str
    title: str
    chunk_id: str
    start: int
    end: int
    centre: tuple[int, int]
    text: str
    chunk_score: float
    lexical: float = 0.0
    dense: float = 0.0
    score: float = 0.0


class EvidenceSelector:
    def __init__(self, embedder: object, prefilter: int = 12, cache_size: int = 20_000) -> None:
        self.embedder = embedder
        self.prefilter = prefilter
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size

    def windows(self, chunks: list[RetrievedChunk], doc_texts: dict[str, str]) -> list[Window]:
        """Every sentence of the retrieved chunks as the centre of a window (sentence ± 1)."""
        out: list[Window] = []
        seen: set[tuple[str, int]] = set()
        for chunk in chunks:
            text = doc_texts.get(chunk.document_id, "")
            if not text:
                continue
            # sentences of the chunk's neighbourhood, so windows can reach across chunk borders
            lo = max(0, text.rfind("\n\n", 0, max(0, chunk.start - 1)))
            hi = text.find("\n\n", chunk.end + 1)
            spans = sentence_spans(text, lo, len(text) if hi < 0 else hi)
            for i, (s, e) in enumerate(spans):
                if e <= chunk.start or s >= chunk.end or (chunk.document_id, s) in seen:
                    continue
                seen.add((chunk.document_id, s))
                ws, we = s, e  # neighbours join the window only from the same paragraph
                if i > 0 and "\n\n" not in text[spans[i - 1][1] : s]:
                    ws = spans[i - 1][0]
                if i + 1 < len(spans) and "\n\n" not in text[e : spans[i + 1][0]]:
                    we = spans[i + 1][1]
                out.append(Window(chunk.document_id, chunk.source, chunk.title, chunk.id, ws, we, (s, e),
                                  text[ws:we], chunk.score))
        return out

    def select(self, query: str, qvec: np.ndarray, chunks: list[RetrievedChunk], doc_texts: dict[str, str],
               k: int = 4) -> list[Evidence]:
        """The ``k`` best non-overlapping windows, numbered from 1, best first."""
        windows = self.windows(chunks, doc_texts)
        if not windows:
            return []
        self._lexical(query, windows, chunks)
        windows.sort(key=lambda w: w.lexical + w.chunk_score, reverse=True)
        shortlist = windows[: self.prefilter]
        vecs = self._embed([w.text for w in shortlist])
        for w, v in zip(shortlist, vecs, strict=True):
            w.dense = float(v @ qvec)
            w.score = 0.6 * w.dense + 0.25 * w.lexical + 0.15 * w.chunk_score
        shortlist.sort(key=lambda w: w.score, reverse=True)
        chosen: list[Window] = []
        for w in shortlist:
            if any(c.document_id == w.document_id and c.start < w.end and w.start < c.end for c in chosen):
                continue
            chosen.append(w)
            if len(chosen) == k:
                break
        return [
            Evidence(id=i, document_id=w.document_id, source=w.source, title=w.title, text=w.text,
                     start=w.start, end=w.end, score=round(w.score, 4), chunk_id=w.chunk_id)
            for i, w in enumerate(chosen, start=1)
        ]

    @staticmethod
    def _lexical(query: str, windows: list[Window], chunks: list[RetrievedChunk]) -> None:
        terms = set(content_terms(query, drop_question_words=True))
        if not terms:
            return
        bags = [set(content_terms(w.text)) for w in windows]
        n = len(bags)
        idf = {t: math.log(1 + (n + 1) / (1 + sum(t in b for b in bags))) for t in terms}
        total = sum(idf.values())
        for w, bag in zip(windows, bags, strict=True):
            w.lexical = sum(v for t, v in idf.items() if t in bag) / total

    def _embed(self, texts: list[str]) -> list[np.ndarray]:
        """Embeddings of window texts, from an LRU cache keyed by the text itself."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            for text, vec in zip(missing, self.embedder.embed(missing), strict=True):
                self._cache[text] = vec
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        out = []
        for text in texts:
            self._cache.move_to_end(text)
            out.append(self._cache[text])
        return out
