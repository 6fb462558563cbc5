"""The CI gate: the thresholds in ``evals/thresholds.toml`` and the check of a run against them.

Example::

    failures = gate(result, load_thresholds()["ci"])   # [] when every bound is met
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from evals.results import SuiteResult

Bounds = dict[str, float]  # metric `x` -> lower bound; `x_max` -> upper bound on metric `x`
SuiteThresholds = dict[str, Bounds]  # dataset -> its bounds
Thresholds = dict[str, SuiteThresholds]  # suite -> its datasets' bounds


def load_thresholds(path: Path | None = None) -> Thresholds:
    text = path.read_text(encoding="utf-8") if path else (resources.files("evals") / "thresholds.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def gate(result: SuiteResult, suite_thresholds: SuiteThresholds) -> list[str]:
    """One message per metric on the wrong side of its threshold. A key ``x_max`` bounds metric ``x``
    from above; any other key bounds the metric of that name from below. A missing metric fails."""
    failures = []
    for ds in result.datasets:
        for key, bound in suite_thresholds.get(ds.name, {}).items():
            name, upper = (key[:-4], True) if key.endswith("_max") else (key, False)
            value = ds.metrics.get(name)
            if value is None:
                failures.append(f"{ds.name}.{name} was not measured (threshold {key} = {bound})")
            elif (value > bound) if upper else (value < bound):
                op = ">" if upper else "<"
                failures.append(f"{ds.name}.{name} = {value:.3f} {op} {'maximum' if upper else 'threshold'} {bound}")
    return failures
