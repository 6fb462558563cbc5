"""The eval report: ``report.json`` (everything), ``report.md`` (summary, then failures first),
``chart.png`` (metrics per dataset, and the abstention trade-off), and a terminal summary table.

Example::

    paths = write_report(result, Path("var/eval-ci"), thresholds["ci"])
    print_summary(result, thresholds["ci"])
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from evals.results import DatasetResult, QuestionResult, SuiteResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes

Thresholds = Mapping[str, Mapping[str, float]]  # dataset -> bounds, as ``evals.gate.SuiteThresholds``

SHOWN = ("citation_validity", "citation_support", "citation_hit", "facts_recall", "f1", "abstention_precision",
         "abstention_recall", "false_abstention_rate", "recall_at_1", "recall_at_5", "mrr", "engine_grounding",
         "judge_faithfulness", "regressions", "seconds_per_answer", "questions", "answered")
CHARTED = ("citation_validity", "citation_support", "citation_hit", "facts_recall", "f1", "abstention_precision",
           "abstention_recall", "false_abstention_rate", "recall_at_1", "recall_at_5", "mrr")


def _fmt(v: float | None) -> str:
    if v is None:
        return "–"
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def _bound(thresholds: Thresholds, dataset: str, metric: str) -> str:
    t = thresholds.get(dataset, {})
    if metric in t:
        return f"≥ {t[metric]}"
    if f"{metric}_max" in t:
        return f"≤ {t[metric + '_max']}"
    return ""


def summary_rows(result: SuiteResult, thresholds: Thresholds) -> list[list[str]]:
    names = [d.name for d in result.datasets]
    rows = [["metric", *[f"{n}" for n in names], *[f"{n} gate" for n in names]]]
    for metric in SHOWN:
        if all(metric not in d.metrics for d in result.datasets):
            continue
        rows.append([metric, *[_fmt(d.metrics.get(metric)) for d in result.datasets],
                     *[_bound(thresholds, d.name, metric) for d in result.datasets]])
    return rows


def print_summary(result: SuiteResult, thresholds: Thresholds) -> None:
    rows = summary_rows(result, thresholds)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print(f"\neval suite={result.suite} backend={result.backend} ({result.seconds:.0f} s)")
    for n, row in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print("gate:", "PASS" if not result.gate_failures else f"FAIL ({len(result.gate_failures)})")


def _question_md(q: QuestionResult) -> list[str]:
    lines = [f"#### {q.dataset} · `{q.id}`" + (f" (follow-up to `{q.follows}`)" if q.follows else ""),
             f"- **question** ({'answerable' if q.answerable else 'unanswerable'}): {q.question}"]
    if q.query != q.question:
        lines.append(f"- **standalone query**: {q.query}")
    lines.append(f"- **answer** ({q.backend or 'not generated'}, p_answerable {q.p_answerable:.2f}, "
                 f"gold rank {q.gold_rank if q.answerable else '–'}): {q.answer or '–'}")
    for c in q.citations:
        lines.append(f"  - [{c['id']}] `{Path(c['source']).name}` [{c['start']}:{c['end']}]: "
                     f"“{' '.join(c['quote'].split())[:400]}”")
    lines += [f"- ✗ {f}" for f in q.failures]
    scores = {k: v for k, v in q.scores.items() if k != "judge_claims"}
    lines.append(f"- scores: `{json.dumps(scores)}`")
    return lines + [""]


def markdown(result: SuiteResult, thresholds: Thresholds) -> str:
    rows = summary_rows(result, thresholds)
    out = [f"# Grounding eval: suite `{result.suite}`, backend `{result.backend}`", "",
           f"{result.seconds:.0f} s; options {json.dumps(result.options)}", "",
           "| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    out += ["", "## Gate", ""]
    out += [f"- ✗ {f}" for f in result.gate_failures] or ["All thresholds met."]
    for ds in result.datasets:
        out += ["", f"Index `{ds.name}`: {json.dumps(ds.ingest)}"] + [f"- note: {n}" for n in ds.notes]
    for ds in result.datasets:
        failed = [q for q in ds.questions if q.failures]
        out += ["", f"## {ds.name}: {len(failed)} of {len(ds.questions)} questions with failures", ""]
        for q in failed:
            out += _question_md(q)
    out += ["", "## Passing questions", ""]
    for ds in result.datasets:
        for q in ds.questions:
            if not q.failures:
                out.append(f"- {ds.name} `{q.id}`: {q.question} → {(q.answer or '(prepared only)')[:200]}")
    return "\n".join(out) + "\n"


def chart(result: SuiteResult, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4.5))
    ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2.2, 1]})
    metrics = [k for k in CHARTED if any(d.metrics.get(k) is not None for d in result.datasets)]
    width = 0.8 / max(1, len(result.datasets))
    for i, ds in enumerate(result.datasets):
        xs = [j + i * width for j in range(len(metrics))]
        ax.bar(xs, [ds.metrics.get(k) or 0.0 for k in metrics], width, label=ds.name)
    ax.set_xticks([j + width * (len(result.datasets) - 1) / 2 for j in range(len(metrics))])
    ax.set_xticklabels(metrics, rotation=40, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_title(f"suite {result.suite}, backend {result.backend}")
    ax.legend(fontsize=8)
    _abstention_panel(ax2, result.datasets)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _abstention_panel(ax: Axes, datasets: list[DatasetResult]) -> None:
    """Histogram of the engine's p_answerable for answerable vs unanswerable questions."""
    bins = [i / 20 for i in range(21)]
    for ds in datasets:
        for answerable, style in ((True, "-"), (False, "--")):
            vals = [q.p_answerable for q in ds.questions if q.answerable == answerable]
            if vals:
                ax.hist(vals, bins=bins, histtype="step", linestyle=style,
                        label=f"{ds.name} {'answerable' if answerable else 'unanswerable'}")
    ax.set_xlabel("p_answerable (engine's abstention model)")
    ax.set_ylabel("questions")
    ax.set_title("abstention trade-off")
    ax.legend(fontsize=7)


def write_report(result: SuiteResult, folder: Path, thresholds: Thresholds) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    data = result.to_dict()
    data["thresholds"] = thresholds
    paths = [folder / "report.json", folder / "report.md"]
    paths[0].write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
    paths[1].write_text(markdown(result, thresholds), encoding="utf-8")
    paths.append(chart(result, folder / "chart.png"))
    return paths
