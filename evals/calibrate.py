"""Calibrate retrieval fusion and abstention on CLAP NQ dev (600 passages pooled, 600 questions).

1. Fusion: for each answerable question, dense and BM25 candidates are scored once; Recall@1/@5 and
   MRR of the gold passage are reported for several BM25 weights (0 = dense alone).
2. Abstention: the retrieval features (``assistant.abstain.abstention_features``) of all 600 questions; a logistic model is fitted
   on one half (even positions within each class) and its threshold set for at most ``--max-false``
   false abstention on that half; the other half is the held-out report. The result is written to
   ``assistant/calibration.json``, which ``assistant.abstain.AbstentionModel`` loads.

Usage: ``python -m evals.calibrate [--index DIR] [--write]``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from assistant.abstain import FEATURES, abstention_features
from assistant.retrieval import fuse
from assistant.services import Services
from assistant.settings import Settings
from evals.clapnq import ClapItem, load_clapnq, write_corpus


def _services(index: Path, bm25_weight: float | None = None) -> Services:
    retrieval = {"bm25_weight": bm25_weight} if bm25_weight is not None else {}
    settings = Settings(data_dir=index, llm={"backend": "extractive"}, retrieval=retrieval,
                        chroma={"collection": "clapnq"})
    return Services(settings)


def fusion_table(services: Services, items: list[ClapItem], weights: list[float]) -> list[dict[str, float]]:
    retriever = services.engine.retriever
    rows = []
    cache = []
    for item in items:
        qvec = services.embedder.embed([item.question])[0]
        snap = retriever.snapshot()
        dense, lexical = retriever.candidates(snap, item.question, qvec)
        src = {rid: Path(snap.metas[snap.row[rid]]["source"]).name for rid in set(dense) | set(lexical)}
        cache.append((item.filename, dense, lexical, src))
    for w in weights:
        r1 = r5 = mrr = 0.0
        for gold, dense, lexical, src in cache:
            fused = fuse(dense, lexical, w)
            docs = list(dict.fromkeys(src[r] for _, r in fused))
            rank = docs.index(gold) + 1 if gold in docs else 0
            r1 += rank == 1
            r5 += 0 < rank <= 5
            mrr += 1 / rank if rank else 0
        n = len(cache)
        rows.append({"bm25_weight": w, "recall@1": round(r1 / n, 4), "recall@5": round(r5 / n, 4), "mrr": round(mrr / n, 4)})
    return rows


def fit_logistic(x: np.ndarray, y: np.ndarray, steps: int = 4000, lr: float = 0.5,
                 l2: float = 1e-3) -> tuple[np.ndarray, float]:
    """Plain gradient descent on standardised features; returns weights and bias on the raw scale."""
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = (x - mu) / sd
    w = np.zeros(z.shape[1])
    b = 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(z @ w + b)))
        w -= lr * (z.T @ (p - y) / len(y) + l2 * w)
        b -= lr * float(np.mean(p - y))
    return w / sd, b - float(np.sum(w * mu / sd))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, default=Path("var/calibration"), help="data dir for the CLAP index")
    ap.add_argument("--max-false", type=float, default=0.10, help="false abstention allowed on the fit half")
    ap.add_argument("--weights", default="0,0.05,0.1,0.15,0.2,0.3,0.5", help="BM25 weights to compare")
    ap.add_argument("--floor", type=float, default=0.2, help="balanced mode: dense cosine below this is off-topic")
    ap.add_argument("--min-coverage", type=float, default=0.35, help="balanced mode: minimum key-term coverage")
    ap.add_argument("--write", action="store_true", help="write assistant/calibration.json")
    args = ap.parse_args()

    items = load_clapnq()
    services = _services(args.index)
    corpus = write_corpus(items, args.index / "corpus")
    t = time.perf_counter()
    report = services.ingestor.ingest([corpus])
    print(f"index: {report.documents} in {time.perf_counter() - t:.1f} s")

    answerable = [i for i in items if i.answerable]
    table = fusion_table(services, answerable, [float(w) for w in args.weights.split(",")])
    print("fusion (answerable, doc-level):")
    for row in table:
        print("  ", row)

    feats, labels = [], []
    t = time.perf_counter()
    retriever = services.engine.retriever
    coverage = []
    for item in items:
        chunks = retriever.retrieve(item.question)
        feats.append(abstention_features(chunks))
        coverage.append(retriever.coverage(item.question, chunks))
        labels.append(1.0 if item.answerable else 0.0)
    per_q = (time.perf_counter() - t) / len(items) * 1000
    x, y = np.asarray(feats), np.asarray(labels)
    pos_idx = np.flatnonzero(y == 1)
    neg_idx = np.flatnonzero(y == 0)
    fit = np.concatenate([pos_idx[0::2], neg_idx[0::2]])
    held = np.concatenate([pos_idx[1::2], neg_idx[1::2]])
    w, b = fit_logistic(x[fit], y[fit])
    prob = 1 / (1 + np.exp(-(x @ w + b)))
    gate = (x[:, 0] < args.floor) | (np.asarray(coverage) < args.min_coverage)
    # the highest threshold whose false abstention on the fit half, gates included, stays within budget
    fit_pos = fit[y[fit] == 1]
    budget = int(np.floor(args.max_false * len(fit_pos))) - int(gate[fit_pos].sum())
    open_probs = np.sort(prob[fit_pos][~gate[fit_pos]])
    threshold = float(open_probs[max(0, budget)]) if budget >= 0 else 0.0

    def rates(idx: np.ndarray, strict: bool = True) -> dict:
        a = gate[idx] | (prob[idx] < threshold) if strict else gate[idx]
        pos = y[idx] == 1
        return {"false_abstention": round(float(a[pos].mean()), 4), "abstention_recall": round(float(a[~pos].mean()), 4),
                "abstention_precision": round(float((~pos[a]).mean()) if a.any() else 0.0, 4)}

    def auc(idx: np.ndarray, scores: np.ndarray) -> float:
        pos, neg = scores[idx][y[idx] == 1], scores[idx][y[idx] == 0]
        return round(float((pos[:, None] > neg[None, :]).mean()), 4)

    result = {
        "features": list(FEATURES), "weights": [round(float(v), 6) for v in w], "bias": round(float(b), 6),
        "threshold": round(threshold, 6), "max_false_abstention": args.max_false,
        "fitted_on": "CLAP NQ dev, even positions of each class (150 answerable + 150 unanswerable)",
        "floor": args.floor, "min_coverage": args.min_coverage,
        "fit": rates(fit), "heldout": rates(held), "heldout_balanced": rates(held, strict=False),
        "heldout_auc": {"model": auc(held, prob), **{f: auc(held, x[:, j]) for j, f in enumerate(FEATURES)}},
        "fusion": table, "retrieve_ms_per_question": round(per_q, 1),
    }
    print(json.dumps(result, indent=2))
    if args.write:
        out = Path(__file__).resolve().parent.parent / "assistant" / "calibration.json"
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
