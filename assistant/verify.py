"""GroundingVerifier: every answer sentence must be supported by the evidence it cites.

Support is deterministic: the sentence's content terms must be mostly covered by the evidence, every
number and every name in it must appear there, no name may be moved into a role the evidence gives
another name ("arms to Russia" over "arms to Ukraine": ``inverted``), and its embedding must be close
to the evidence's.
A sentence that its cited evidence does not support is re-attributed to the evidence that does;
a sentence nothing supports is dropped and reported. A model answering from its own knowledge
("The capital of Australia is Canberra [1]") fails the coverage and name checks.

Example::

    result = GroundingVerifier(embedder.embed).verify(answer_text, evidence)
    result.sentences   # [(text, [evidence ids])] that survived
    result.unsupported # dropped sentences
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from assistant.schema import Evidence
from assistant.text import content_terms, names, numbers, sentence_spans, stem, words

CITE = re.compile(r"\s*\[(\d+(?:\s*,\s*\d+)*)\]")
LEADING_CITES = re.compile(r"^(?:\s*\[\d+(?:\s*,\s*\d+)*\])+")
# A name in a role: after a preposition that says who gives, receives, opposes or acts ("arms to Ukraine")
_ROLE = re.compile(r"\b(to|from|against|by|for|with|into|towards?)\s+(?:the\s+)?([A-Z][\w’'-]*)")
# Sentences that only frame the answer carry no claim of their own
_FRAMING = re.compile(r"^(based on|according to|in summary|in short|to summari[sz]e)\b[^.]*[:.]?$", re.I)


@dataclass
class Verified:
    sentences: list[tuple[str, list[int]]] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    total: int = 0

    @property
    def score(self) -> float:
        return round(len(self.sentences) / self.total, 4) if self.total else 0.0


def split_cited(answer: str) -> list[tuple[str, list[int]]]:
    """Split an answer into sentences, each with the ``[n]`` markers that follow or sit inside it."""
    out: list[tuple[str, list[int]]] = []
    for s, e in sentence_spans(answer):
        raw = answer[s:e]
        lead = LEADING_CITES.match(raw)
        if lead and out:  # "... ambassador. [2] Next sentence": the [2] belongs to the sentence before
            out[-1][1].extend(int(n) for m in CITE.finditer(lead.group(0)) for n in m.group(1).split(","))
            raw = raw[lead.end() :]
        ids = [int(n) for m in CITE.finditer(raw) for n in m.group(1).split(",")]
        text = CITE.sub("", raw).strip()
        if not text and out:  # a lone "[2]" after the full stop belongs to the sentence before
            out[-1][1].extend(ids)
            continue
        if text:
            out.append((text, ids))
    return out


def _roles(text: str) -> set[tuple[str, str]]:
    """(preposition, stemmed first word of the name it governs) pairs: ("to", "ukrain")."""
    return {(p.lower(), stem(n.split("’")[0].split("'")[0].lower())) for p, n in _ROLE.findall(text)}


def inverted(sentence: str, evidence_text: str) -> bool:
    """True when the sentence puts a name of the evidence into a role the evidence gives another name.

    "South Korea might supply arms to Russia" against "... the consideration to supply arms to Ukraine"
    (Russia is named elsewhere in the passage): every word is covered, but the roles are swapped.
    """
    evidence_roles = _roles(evidence_text)
    evidence_words = {stem(w) for w in words(evidence_text)}
    for prep, name in _roles(sentence) - evidence_roles:
        if name in evidence_words and any(p == prep for p, _ in evidence_roles):
            return True
    return False


class GroundingVerifier:
    def __init__(self, embed: Callable[[list[str]], np.ndarray], min_coverage: float = 0.75,
                 min_similarity: float = 0.45, max_uncovered: int = 3) -> None:
        self.embed = embed
        self.min_coverage = min_coverage
        self.min_similarity = min_similarity
        self.max_uncovered = max_uncovered

    def supports(self, sentence: str, evidence_text: str, similarity: float) -> bool:
        terms = set(content_terms(sentence))
        if not terms:
            return False
        ev_terms = set(content_terms(evidence_text))
        covered = len(terms & ev_terms)
        coverage = covered / len(terms)
        if len(terms) - covered > self.max_uncovered:  # a long invented clause, even in a long sentence
            return False
        if not numbers(sentence) <= numbers(evidence_text):
            return False
        if not names(sentence) <= ev_terms:
            return False
        if inverted(sentence, evidence_text):
            return False
        return coverage >= self.min_coverage and similarity >= self.min_similarity

    def verify(self, answer: str, evidence: list[Evidence]) -> Verified:
        parts = [(t, ids) for t, ids in split_cited(answer) if not _FRAMING.match(t)]
        result = Verified(total=len(parts))
        if not parts or not evidence:
            result.unsupported = [t for t, _ in parts]
            return result
        by_id = {e.id: e for e in evidence}
        vecs = self.embed([t for t, _ in parts] + [e.text for e in evidence])
        s_vecs, e_vecs = vecs[: len(parts)], vecs[len(parts) :]
        sims = s_vecs @ e_vecs.T  # (sentences, evidence)
        col = {e.id: j for j, e in enumerate(evidence)}
        for i, (text, cited) in enumerate(parts):
            keep = [n for n in dict.fromkeys(cited) if n in by_id and self.supports(text, by_id[n].text, sims[i, col[n]])]
            if not keep:  # re-attribute to the best evidence that does support it
                for j in np.argsort(-sims[i]):
                    e = evidence[int(j)]
                    if self.supports(text, e.text, sims[i, j]):
                        keep = [e.id]
                        break
            if keep:
                result.sentences.append((text, keep))
            else:
                result.unsupported.append(text)
        return result
