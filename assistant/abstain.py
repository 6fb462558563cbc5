"""Abstention: one calibrated model decides whether the retrieved passages answer the question.

The decision is made from evidence, before generation, never by the prompt alone (a small model
answers from its own knowledge, and refuses real questions when told to refuse). Its inputs:

* retrieval: the best dense cosine of the retrieved chunks, the best fused score, the IDF-weighted
  coverage of the question's terms by the top chunks (``HybridRetriever.coverage``), the score of
  the best evidence window (``EvidenceSelector``), and, sentence by sentence, the best cosine of one
  sentence of the best window with the question, the best of the top three windows, how far that
  sentence stands above its window's mean (a passage that answers has one sentence that matches the
  question, not only a topic);
* reading (``assistant.reading``): whether the best evidence window satisfies the question's
  constraints (years, numbers, names), names a conflicting year, holds a candidate answer of the
  expected type, mentions the asked attribute, and covers the question's key terms.

A logistic model over these features gives ``p_answerable``; every weight is fitted with the sign its
feature means (more of any feature means more answerable, except ``conflict``), so no feature can
count against the evidence it measures; the engine abstains below ``threshold``,
and always when the best chunk is plainly off-topic (dense cosine under ``floor``). One model for every
corpus: its weights, bias and threshold are data (``assistant/abstention.json``), fitted by
``python -m evals.calibrate`` on one half of each dev set and reported on the other half.

Example::

    model = AbstentionModel.load()
    model.abstain(features)            # features: one float per name in FEATURES
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

from assistant.reading import READING_FEATURES
from assistant.schema import Evidence, RetrievedChunk

RETRIEVAL_FEATURES = ("top_dense", "top_fused", "coverage", "evidence_score", "top_sentence", "top3_sentence",
                      "sentence_margin")
DECREASING = ("conflict",)  # features fitted with a weight <= 0; every other feature's weight is >= 0
FEATURES = RETRIEVAL_FEATURES + READING_FEATURES
CALIBRATION = "abstention.json"


def retrieval_features(chunks: Sequence[RetrievedChunk], coverage: float,
                       evidence: Sequence[Evidence]) -> tuple[float, ...]:
    """The values of ``RETRIEVAL_FEATURES`` for the retrieved chunks (best fused first) and the evidence
    windows (best first)."""
    if not chunks:
        return (0.0,) * len(RETRIEVAL_FEATURES)
    best = evidence[0].sentence_scores if evidence else []
    top_sentence = max(best, default=0.0)
    top3 = max((s for e in evidence[:3] for s in e.sentence_scores), default=0.0)
    margin = top_sentence - sum(best) / len(best) if best else 0.0
    return (max(c.dense for c in chunks), chunks[0].score, coverage, evidence[0].score if evidence else 0.0,
            top_sentence, top3, margin)


@dataclass(frozen=True)
class AbstentionModel:
    weights: tuple[float, ...]
    bias: float
    threshold: float
    floor: float = 0.2

    def __post_init__(self) -> None:
        if len(self.weights) != len(FEATURES):
            raise ValueError(f"the abstention model needs {len(FEATURES)} weights ({', '.join(FEATURES)}), "
                             f"got {len(self.weights)}: re-run `python -m evals.calibrate --write`")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"abstain_threshold must be within 0..1, got {self.threshold}")

    @classmethod
    def load(cls, threshold: float | None = None) -> AbstentionModel:
        """The committed calibration; ``threshold`` overrides its threshold."""
        data = json.loads((resources.files("assistant") / CALIBRATION).read_text(encoding="utf-8"))
        if tuple(data["features"]) != FEATURES:
            raise ValueError(f"{CALIBRATION} was fitted on features {data['features']}, the engine computes "
                             f"{list(FEATURES)}: re-run `python -m evals.calibrate --write`")
        return cls(tuple(float(w) for w in data["weights"]), float(data["bias"]),
                   float(data["threshold"]) if threshold is None else threshold, float(data.get("floor", 0.2)))

    def probability(self, features: Sequence[float]) -> float:
        """The model's estimate that the passages answer the question (0..1)."""
        z = self.bias + sum(w * x for w, x in zip(self.weights, features, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def abstain(self, features: Sequence[float]) -> bool:
        return features[0] < self.floor or self.probability(features) < self.threshold
