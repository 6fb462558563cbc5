"""Abstention from retrieval evidence, not from the prompt.

Two modes (``ASSISTANT_RETRIEVAL__ABSTENTION``):

* ``balanced`` (default): abstain when the best chunk is plainly off-topic (dense cosine below a
  floor) or when the question's key terms are mostly absent from the top chunks (IDF-weighted
  coverage below a minimum: "What is the GDP of North Korea?" over a text that never mentions GDP).
  Both signals are corpus-agnostic.
* ``strict``: additionally a logistic model over (best dense cosine, best fused score), fitted on
  CLAP NQ dev by ``evals/calibrate.py``, with the threshold set on one half of the questions for at
  most 10% false abstention and reported on the other half. Its dense scale is specific to corpora
  like CLAP's (encyclopaedic passages, each on one topic): on the sample news article, answerable
  questions score 0.27-0.62 top cosine, which the CLAP threshold (~0.55) would refuse. Use it for
  such corpora; the evals run CLAP in this mode.

The fitted numbers live in ``assistant/calibration.json``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from typing import Literal

FEATURES = ("top_dense", "top_fused")


def abstention_features(chunks: list) -> tuple[float, ...]:
    """The logistic model's inputs from the retrieved chunks (``RetrievedChunk``s, best fused first)."""
    if not chunks:
        return (0.0, 0.0)
    return (max(c.dense for c in chunks), chunks[0].score)


@dataclass(frozen=True)
class AbstentionModel:
    weights: tuple[float, ...]
    bias: float
    threshold: float
    floor: float = 0.2
    min_coverage: float = 0.35
    mode: Literal["balanced", "strict"] = "balanced"

    @classmethod
    def load(cls, mode: Literal["balanced", "strict"] = "balanced",
             threshold: float | None = None) -> AbstentionModel:
        """The committed calibration; ``threshold`` overrides the strict model's threshold."""
        try:
            data = json.loads((resources.files("assistant") / "calibration.json").read_text())
            weights, bias, thr = tuple(data["weights"]), float(data["bias"]), float(data["threshold"])
            floor, cov = float(data.get("floor", 0.2)), float(data.get("min_coverage", 0.35))
        except FileNotFoundError:  # before the first calibration
            weights, bias, thr, floor, cov = (12.0, 0.0), -12.0 * 0.3, 0.5, 0.2, 0.35
        return cls(weights, bias, thr if threshold is None else threshold, floor, cov, mode)

    def probability(self, features: tuple[float, ...]) -> float:
        """The strict model's estimate that the documents answer the question."""
        z = self.bias + sum(w * x for w, x in zip(self.weights, features, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def abstain(self, features: tuple[float, ...], coverage: float) -> bool:
        if features[0] < self.floor or coverage < self.min_coverage:
            return True
        return self.mode == "strict" and self.probability(features) < self.threshold
