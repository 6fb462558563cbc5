"""assistant/abstain.py: one calibrated abstention model over retrieval and reading features."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from assistant.abstain import DECREASING, FEATURES, AbstentionModel, retrieval_features
from assistant.schema import Evidence, RetrievedChunk


def _chunk(score: float, dense: float, document_id: str = "d", text: str = "x") -> RetrievedChunk:
    return RetrievedChunk(id="c", document_id=document_id, source="s", title="t", text=text, start=0, end=1,
                          score=score, dense=dense)


def test_the_committed_calibration_loads_and_names_its_features() -> None:
    data = json.loads((resources.files("assistant") / "abstention.json").read_text())
    model = AbstentionModel.load()
    assert tuple(data["features"]) == FEATURES and len(model.weights) == len(FEATURES)
    assert 0 < model.threshold < 1
    assert data["heldout"], "held-out figures are committed with the weights"


def test_threshold_override_and_validation() -> None:
    assert AbstentionModel.load(threshold=0.9).threshold == 0.9
    with pytest.raises(ValueError, match=f"needs {len(FEATURES)} weights"):
        AbstentionModel((1.0,), 0.0, 0.5)
    with pytest.raises(ValueError, match="within 0..1"):
        AbstentionModel((0.0,) * len(FEATURES), 0.0, 1.5)


def test_retrieval_features_take_the_best_dense_the_top_fused_and_the_best_evidence() -> None:
    evidence = [Evidence(id=1, document_id="d", source="s", text="x", start=0, end=1, score=0.55,
                         sentence_scores=[0.3, 0.6, 0.3]),
                Evidence(id=2, document_id="e", source="s", text="y", start=0, end=1, score=0.5, sentence_scores=[0.7])]
    chunks = [_chunk(0.7, 0.5), _chunk(0.6, 0.65), _chunk(0.5, 0.45, "e", "y")]
    got = dict(zip(FEATURES, retrieval_features(chunks, 0.8, evidence), strict=False))
    assert got == pytest.approx({"top_dense": 0.65, "top_fused": 0.7, "coverage": 0.8, "evidence_score": 0.55,
                                 "top_sentence": 0.6, "top3_sentence": 0.7, "sentence_margin": 0.2})
    assert retrieval_features([], 1.0, []) == (0.0,) * 7


def test_every_weight_has_the_sign_its_feature_means() -> None:
    """More of a feature never counts against answering, except the decreasing ones (a conflicting year)."""
    model = AbstentionModel.load()
    for name, weight in zip(FEATURES, model.weights, strict=True):
        assert weight <= 0 if name in DECREASING else weight >= 0, name


def test_satisfying_evidence_answers_and_conflicting_evidence_abstains() -> None:
    """Same retrieval scores; only the reading differs (the question's year present vs another year)."""
    model = AbstentionModel.load()
    names = dict.fromkeys(FEATURES, 0.0)
    good = {**names, "top_dense": 0.7, "top_fused": 0.8, "coverage": 1.0, "evidence_score": 0.8, "top_sentence": 0.55,
            "top3_sentence": 0.55, "sentence_margin": 0.08, "constraints": 1.0,
            "conflict": 0.0, "type_found": 1.0, "attribute": 1.0, "window_coverage": 1.0, "predicate": 1.0}
    bad = {**good, "constraints": 0.0, "conflict": 1.0, "attribute": 0.0, "window_coverage": 0.5, "predicate": 0.0}
    assert model.probability(tuple(good.values())) > model.probability(tuple(bad.values()))
    assert not model.abstain(tuple(good.values()))
    assert model.abstain(tuple(bad.values()))


def test_off_topic_floor_always_abstains() -> None:
    model = AbstentionModel.load()
    features = (0.1, 0.9, 1.0, 0.9, 0.9, 0.9, 0.3, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0)
    assert model.abstain(features)
