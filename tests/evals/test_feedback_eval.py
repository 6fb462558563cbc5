"""Feedback becomes evals: votes on real answers are exported as a JSONL eval dataset (the ``evals/data``
format) and replayed by ``assistant eval --dataset feedback`` on the same index, whose gate fails on the
one case that regresses (a passage the engine does not cite) and passes the others."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from assistant.feedback import PassageRef
from assistant.services import Services
from assistant.settings import Settings
from evals import metrics as m
from evals.feedback import feedback_dataset, feedback_items

MINISTER = "As Ukraine’s Defense Minister Rustem Umerov confirmed instances of North Korean troops being attacked"
ZELENSKY = "President Volodymyr Zelensky’s calls for collective action"


def _assistant(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "assistant", *args], env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow  # two child processes (~8 s each: interpreter, Chroma, the embedder)
def test_votes_export_as_a_dataset_and_replay_with_a_gate(cli_env: Any, sample_copy: Settings, embedder: Any,
                                                          tmp_path: Path) -> None:
    settings = sample_copy  # the sample indexed (a copy of the session's index), in cli_env's data dir
    env = cli_env()

    # answers and votes, as the UI or POST /v1/feedback make them (this process only reads the index)
    services = Services(settings, embedder=embedder)
    engine, feedback = services.engine, services.feedback
    good = engine.ask("What did South Korea do in response?")
    feedback.submit(good.id, "up")
    minister = engine.ask("Who is Ukraine's Defense Minister?")
    feedback.submit(minister.id, "down", note="the right passage", passage=PassageRef(quote=MINISTER))
    off = engine.ask("What is the capital of Australia?")
    assert off.abstained
    feedback.submit(off.id, "up")
    wrong = engine.ask("What did South Korea do in response?")
    doc_text = services.store.doc_text
    assert not m.cites_span(wrong, ZELENSKY, doc_text)  # so naming it makes a case the engine fails
    feedback.submit(wrong.id, "down", note=f'should cite "{ZELENSKY}"', passage=None)  # no passage: no case
    feedback.submit(wrong.id, "down", passage=PassageRef(quote=ZELENSKY))  # the same answer, now with a passage

    out = tmp_path / "feedback-cases.jsonl"
    exported = _assistant(["feedback", "export", "--out", str(out)], env)
    assert exported.returncode == 0, exported.stderr
    assert "4 eval case(s) from 4 vote(s)" in exported.stderr
    cases = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    for case in cases:  # the keys of evals/data/sample_questions.jsonl (answerable: with its passage)
        assert {"id", "question", "answerable", "facts", "kind"} <= set(case)
        assert bool(case.get("passage")) == case["answerable"]
    by_answer = {c["answer_id"]: c for c in cases}
    assert by_answer[minister.id]["passage"] == MINISTER and by_answer[minister.id]["answerable"] is True
    assert by_answer[off.id]["answerable"] is False
    assert by_answer[good.id]["passage"] in {c.quote for c in good.citations}
    assert by_answer[wrong.id]["passage"] == ZELENSKY

    # the export loads as an eval dataset, over the same index
    ds = feedback_dataset(settings, out, store=services.store)
    assert [i.id for i in ds.items] == [c["id"] for c in cases] and ds.gold_kind == "span"
    assert feedback_items(out.read_text(encoding="utf-8"))[1].gold == MINISTER

    report = tmp_path / "report"
    run = _assistant(["eval", "--dataset", "feedback", "--report", str(report), "--no-progress"], env)
    assert run.returncode == 1, run.stdout + run.stderr  # the gate fails on the one regression
    assert "feedback.regressions = 1.000 > maximum 0" in run.stderr
    result = json.loads((report / "report.json").read_text(encoding="utf-8"))
    [dataset] = result["datasets"]
    assert dataset["name"] == "feedback" and dataset["metrics"]["questions"] == 4
    outcome = {q["id"]: q for q in dataset["questions"]}
    assert outcome[by_answer[wrong.id]["id"]]["scores"]["citation_hit"] is False
    assert outcome[by_answer[minister.id]["id"]]["scores"]["citation_hit"] is True
    assert outcome[by_answer[good.id]["id"]]["scores"]["citation_hit"] is True
    assert outcome[by_answer[off.id]["id"]]["abstained"] is True
    assert not (settings.data_dir / "eval").exists()  # the user's index was replayed, not copied
