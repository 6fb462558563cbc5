"""Hostile documents at ingestion: the attacks are indexed as plain text with exact spans, and the
resource bombs (a 5 MB single line, 3,000 empty PDF pages, a DOCX zip bomb) are refused within
memory and time bounds, each named with the setting that refused it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hostile import QUESTIONS, REFUSED, write_hostile_corpus

from assistant.settings import Settings
from ingest.store import ChromaStore

MAX_RSS_MB = 1200  # the CLI with the embedder loaded is ~400-500 MB; unpacking the bomb alone would be 150 MB+
MAX_SECONDS = 150


def _peak_rss_mb_until_exit(proc: subprocess.Popen[Any]) -> float:
    """The child's own peak RSS (``VmHWM`` of its program, polled until it exits).

    Not ``wait4``'s ``ru_maxrss``: Linux carries the pre-exec high-water mark over exec, so a child
    forked from a big pytest process (a loaded LLM) would report the parent's size.
    """
    peak = 0.0
    while proc.poll() is None:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]) / 1024)
        time.sleep(0.05)
    return peak


@pytest.mark.slow
def test_hostile_corpus_is_indexed_or_refused_within_bounds(tmp_path: Path, cli_env: Any, settings: Settings,
                                                             index_invariants: Any) -> None:
    folder = write_hostile_corpus(tmp_path / "hostile", refused=True)
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    t0 = time.monotonic()
    with out.open("w") as o, err.open("w") as e:
        proc = subprocess.Popen([sys.executable, "-m", "assistant", "ingest", str(folder), "--json"],
                                env=cli_env(), stdout=o, stderr=e)
        peak_mb = _peak_rss_mb_until_exit(proc)
    elapsed = time.monotonic() - t0
    stdout, stderr = out.read_text(), err.read_text()
    assert proc.returncode == 1, stderr
    report = json.loads(stdout)
    assert report["documents"]["added"] == len(QUESTIONS)
    reasons = {Path(f["path"]).name: f["reason"] for f in report["failures"]}
    assert set(reasons) == set(REFUSED)
    for name, setting in REFUSED.items():
        assert setting in reasons[name], reasons[name]
        assert f"failed: {folder / name}: {reasons[name]}" not in stdout  # --json: one object only
    assert elapsed < MAX_SECONDS and peak_mb < MAX_RSS_MB, (elapsed, peak_mb)

    store = ChromaStore.connect(settings.chroma, settings.chroma_path)
    ledger = index_invariants(store)  # every chunk is doc_text[start:end], even with zero-width/RTL characters
    texts = store.doc_texts(ledger)
    by_name = {Path(d.source).name: texts[i] for i, d in ledger.items()}
    assert "\u200b" in by_name["varn-tunnel.txt"] and "\u202e" in by_name["varn-tunnel.txt"]  # kept, not mangled
    assert "<script>" in by_name["karsk-lighthouse.md"]  # markdown is text: the UI must render it inert
    assert "window.__pwned" not in by_name["orbel-bridge.html"] and "1932" in by_name["orbel-bridge.html"]

