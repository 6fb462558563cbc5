"""Abstention from retrieval evidence, not from the prompt: a small logistic model over three
features, fitted on CLAP NQ by ``evals/calibrate.py`` and stored in ``assistant/calibration.json``.

Features: the best chunk dense cosine, the best evidence-window cosine, and the best IDF-weighted
share of the question's terms found in one window. The threshold was chosen on one half of the
questions for at most 10% false abstention; the other half is the held-out report.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources

FEATURES = ("top_dense", "best_window", "best_lexical")


@dataclass(frozen=True)
class AbstentionModel:
    weights: tuple[float, ...]
    bias: float
    threshold: float

    @classmethod
    def load(cls, threshold: float | None = None) -> AbstentionModel:
        """The committed calibration; ``threshold`` overrides its decision threshold."""
        try:
            data = json.loads((resources.files("assistant") / "calibration.json").read_text())
            model = cls(tuple(data["weights"]), float(data["bias"]), float(data["threshold"]))
        except FileNotFoundError:  # before the first calibration: a plain threshold on the dense score
            model = cls((12.0, 0.0, 0.0), -12.0 * 0.3, 0.5)
        return model if threshold is None else cls(model.weights, model.bias, threshold)

    def probability(self, features: tuple[float, ...]) -> float:
        """Estimated probability that the documents answer the question."""
        z = self.bias + sum(w * x for w, x in zip(self.weights, features, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def abstain(self, features: tuple[float, ...]) -> bool:
        return self.probability(features) < self.threshold
