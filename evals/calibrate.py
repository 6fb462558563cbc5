"""Calibrate the abstention model (and report retrieval fusion) on the dev sets.

1. Every question of every dev set (``sample``, CLAP NQ ``clapnq`` all 600, ``clapnq-lgo`` all 300,
   ``instances``) is prepared by the production engine (``engine.prepare``: retrieval, evidence, the
   features of ``assistant.abstain.FEATURES``) over its own eval index.
2. A logistic model is fitted on one half of each dev set (even positions within each dataset and
   class), each (dataset, class) group weighted equally so that no corpus dominates, each weight kept
   on the side of zero its feature means (``assistant.abstain.DECREASING``); the threshold is
   the highest one whose false abstention stays within ``--max-false`` on the fit half of *every*
   dataset with answerable questions.
3. The other half is the held-out report: false abstention and abstention recall per dataset.
4. Fusion: Recall@1/@5 and MRR of the CLAP NQ gold passage for several BM25 weights, with the
   production formula (``assistant.retrieval.fuse``).

``--write`` stores the result in ``assistant/abstention.json``, which ``AbstentionModel.load`` reads.

Usage: ``python -m evals.calibrate [--index DIR] [--max-false 0.10] [--write]``
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.abstain import DECREASING, FEATURES
from assistant.retrieval import fuse
from assistant.services import Services
from evals.clapnq import ClapItem, load_clapnq
from evals.datasets import Dataset, load_datasets
from evals.runner import document_scope, follow_up_history, shared_services

DATASETS = ("sample", "clapnq", "clapnq-lgo", "instances")
OUT = Path(__file__).resolve().parent.parent / "assistant" / "abstention.json"


@dataclass
class Row:
    dataset: str
    answerable: bool
    features: tuple[float, ...]
    fit: bool  # in the fit half (else held out)


def collect(ds: Dataset, services: Services) -> list[Row]:
    """The engine's abstention features for every question of ``ds`` (follow-ups get their history)."""
    root = services.settings.data_dir
    services.ingestor.ingest(ds.corpus_writer(root / "corpus"))
    engine = services.engine
    scope = document_scope(services)
    seen: dict[bool, int] = {True: 0, False: 0}
    rows = []
    answers: dict[str, str] = {}
    for item in ds.items:
        history = follow_up_history(ds, item, answers)
        prep = engine.prepare(item.question, history, scope(item))
        if ds.name == "sample":  # later follow-ups need this answer as their history
            answers[item.id] = engine.ask(item.question, history, scope(item)).answer
        rows.append(Row(ds.name, item.answerable, prep.features, fit=seen[item.answerable] % 2 == 0))
        seen[item.answerable] += 1
    return rows


def fit_logistic(x: np.ndarray, y: np.ndarray, w: np.ndarray, steps: int = 6000, lr: float = 0.5,
                 l2: float = 1e-3, signs: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Weighted logistic regression by gradient descent on standardised features; raw-scale weights.
    ``signs`` (+1 / -1 per feature) keeps each weight on its side of zero (projected gradient)."""
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = (x - mu) / sd
    coef = np.zeros(z.shape[1])
    b = 0.0
    w = w / w.sum()
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(z @ coef + b)))
        coef -= lr * (z.T @ (w * (p - y)) + l2 * coef)
        b -= lr * float(np.sum(w * (p - y)))
        if signs is not None:
            coef = np.where(signs > 0, np.maximum(coef, 0.0), np.minimum(coef, 0.0))
    return coef / sd, b - float(np.sum(coef * mu / sd))


def rates(rows: list[Row], prob: np.ndarray, threshold: float, floor: float) -> dict[str, dict[str, float | int]]:
    """Per dataset: false abstention (answerable) and abstention recall (unanswerable), with counts."""
    out: dict[str, dict[str, float | int]] = {}
    for name in dict.fromkeys(r.dataset for r in rows):
        idx = [i for i, r in enumerate(rows) if r.dataset == name]
        abstain = {i: rows[i].features[0] < floor or prob[i] < threshold for i in idx}
        pos = [i for i in idx if rows[i].answerable]
        neg = [i for i in idx if not rows[i].answerable]
        entry: dict[str, float | int] = {"answerable": len(pos), "unanswerable": len(neg)}
        if pos:
            entry["false_abstention"] = round(sum(abstain[i] for i in pos) / len(pos), 4)
        if neg:
            entry["abstention_recall"] = round(sum(abstain[i] for i in neg) / len(neg), 4)
        if pos and neg:
            entry["auc"] = round(float(np.mean([[prob[p] > prob[n] for n in neg] for p in pos])), 4)
        out[name] = entry
    return out


def choose_threshold(rows: list[Row], prob: np.ndarray, max_false: float, floor: float) -> float:
    """The highest threshold whose false abstention is within ``max_false`` on every dataset's rows."""
    best = 0.0
    for t in np.unique(np.round(prob, 4)):
        worst = max(v.get("false_abstention", 0.0) for v in rates(rows, prob, float(t), floor).values())
        if worst <= max_false:
            best = max(best, float(t))
    return best


def fusion_table(services: Services, items: list[ClapItem], weights: list[float]) -> list[dict[str, float]]:
    retriever = services.engine.retriever
    cache = []
    for item in items:
        qvec = services.embedder.embed([item.question])[0]
        snap = retriever.snapshot()
        dense, lexical, found = retriever.gather(snap, item.question, qvec, None)
        src = {rid: Path(str(meta["source"])).name for rid, (meta, _) in found.items()}
        cache.append((item.filename, dense, lexical, src))
    rows = []
    for weight in weights:
        r1 = r5 = mrr = 0.0
        for gold, dense, lexical, src in cache:
            docs = list(dict.fromkeys(src[r] for _, r in fuse(dense, lexical, weight)))
            rank = docs.index(gold) + 1 if gold in docs else 0
            r1 += rank == 1
            r5 += 0 < rank <= 5
            mrr += 1 / rank if rank else 0
        n = len(cache)
        rows.append({"bm25_weight": weight, "recall@1": round(r1 / n, 4), "recall@5": round(r5 / n, 4),
                     "mrr": round(mrr / n, 4)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, default=Path("var/calibration"), help="folder for the dev-set indexes")
    ap.add_argument("--max-false", type=float, default=0.10, help="false abstention allowed on each fit half")
    ap.add_argument("--floor", type=float, default=0.2, help="dense cosine below this is off-topic: always abstain")
    ap.add_argument("--weights", default="0,0.1,0.15,0.2,0.3", help="BM25 weights to compare")
    ap.add_argument("--write", action="store_true", help=f"write {OUT.relative_to(OUT.parent.parent)}")
    args = ap.parse_args()

    started = time.perf_counter()
    rows: list[Row] = []
    clap_services = None
    for ds, services in shared_services(load_datasets("full", DATASETS), "extractive", args.index):
        rows += collect(ds, services)
        if ds.name == "clapnq":
            clap_services = services
        print(f"{ds.name}: {len(ds.items)} questions prepared ({time.perf_counter() - started:.0f} s)", flush=True)

    x = np.asarray([r.features for r in rows], dtype=np.float64)
    y = np.asarray([1.0 if r.answerable else 0.0 for r in rows])
    fit = np.asarray([r.fit for r in rows])
    groups = [(r.dataset, r.answerable) for r in rows]
    sizes = {g: sum(1 for h, f in zip(groups, fit, strict=True) if h == g and f) for g in set(groups)}
    weight = np.asarray([1.0 / sizes[g] for g in groups])
    signs = np.asarray([-1.0 if name in DECREASING else 1.0 for name in FEATURES])
    coef, bias = fit_logistic(x[fit], y[fit], weight[fit], signs=signs)
    prob = 1 / (1 + np.exp(-(x @ coef + bias)))
    fit_rows = [r for r in rows if r.fit]
    held_rows = [r for r in rows if not r.fit]
    threshold = choose_threshold(fit_rows, prob[fit], args.max_false, args.floor)
    result = {
        "features": list(FEATURES),
        "weights": [round(float(v), 6) for v in coef],
        "bias": round(float(bias), 6),
        "threshold": round(threshold, 6),
        "floor": args.floor,
        "max_false_abstention": args.max_false,
        "fitted_on": "even positions within each dataset and class of sample, CLAP NQ (600), CLAP NQ "
                     "leave-gold-out (300), instances; each (dataset, class) group weighted equally",
        "fit": rates(fit_rows, prob[fit], threshold, args.floor),
        "heldout": rates(held_rows, prob[~fit], threshold, args.floor),
        "fusion": fusion_table(clap_services, [c for c in load_clapnq() if c.answerable],
                               [float(w) for w in args.weights.split(",")]) if clap_services else [],
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result, indent=2))
    if args.write:
        OUT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
