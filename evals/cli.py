"""``assistant eval``: run a suite, gate it, write the report, print the summary.

``assistant/cli.py`` parses the arguments and calls ``run_cli(args)``; the exit code is 1 when the
gate fails. See ``evals/README.md`` for the options.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from evals.datasets import DATASETS
from evals.gate import gate, load_thresholds
from evals.metrics import LLMJudge
from evals.report import print_summary, write_report
from evals.runner import run_suite


def _judge(args: argparse.Namespace) -> LLMJudge | None:
    """The optional LLM judge; its key is read from the environment variable named by --judge-key-env."""
    if not getattr(args, "judge_url", ""):
        return None
    key = os.environ.get(args.judge_key_env, "") if getattr(args, "judge_key_env", "") else ""
    return LLMJudge(args.judge_url, args.judge_model or "", api_key=key)


def run_cli(args: argparse.Namespace) -> int:
    """``assistant eval``: run, write the report, print the summary; 1 if the gate fails."""
    judge = _judge(args)
    datasets = tuple(getattr(args, "datasets", None) or DATASETS)
    result = run_suite(args.suite, args.backend, Path(args.report), datasets=datasets, limit=args.limit,
                       answer_limit=getattr(args, "answer_limit", None), judge=judge,
                       progress=not getattr(args, "no_progress", False),
                       feedback_file=Path(args.feedback_file) if getattr(args, "feedback_file", None) else None)
    thresholds = load_thresholds().get(args.suite, {})
    if getattr(args, "no_gate", False):
        thresholds = {}
    result.gate_failures = gate(result, thresholds)
    paths = write_report(result, Path(args.report), thresholds)
    print_summary(result, thresholds)
    print(f"report: {', '.join(str(p) for p in paths)}")
    if result.gate_failures:
        print(f"\nFAILED: {len(result.gate_failures)} metric(s) below threshold:", file=sys.stderr)
        for f in result.gate_failures:
            print(f"  {f}", file=sys.stderr)
        return 1
    return 0
