"""``assistant ingest`` / ``assistant documents`` / ``python -m ingest`` as real child processes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from passages import write_passages

from assistant.settings import Settings
from ingest.store import ChromaStore

PY = sys.executable
COUNTS = {"documents": {"added", "updated", "unchanged", "removed", "failed"}, "chunks": {"added", "removed"}}


def _run(args: list[str], env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, *args], env=env, capture_output=True, text=True, timeout=timeout)


def _one_json_object(stdout: str) -> dict[str, Any]:
    """stdout is exactly one JSON object (nothing before or after it)."""
    decoded, end = json.JSONDecoder().raw_decode(stdout.strip())
    assert end == len(stdout.strip()), f"more than one JSON value on stdout: {stdout!r}"
    assert isinstance(decoded, dict)
    return decoded


def _check_report_shape(report: dict[str, Any]) -> None:
    assert set(report) == {"documents", "chunks", "failures", "seconds"}
    for key, names in COUNTS.items():
        assert set(report[key]) == names
        assert all(type(v) is int and v >= 0 for v in report[key].values()), report[key]
    assert isinstance(report["seconds"], float | int) and report["seconds"] >= 0
    for failure in report["failures"]:
        assert set(failure) == {"path", "reason", "code"}


def _committed_documents(data_dir: Path) -> int:
    """Documents committed so far by a running child, read from Chroma's SQLite file read-only
    (opening a second Chroma client on a live directory is not supported)."""
    db = data_dir / "chroma" / "chroma.sqlite3"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.5) as con:
            row = con.execute(
                "SELECT count(*) FROM embeddings e JOIN segments s ON e.segment_id = s.id "
                "JOIN collections c ON s.collection = c.id "
                "WHERE c.name = 'documents-docs' AND e.embedding_id != '__generation__'"
            ).fetchone()
        return int(row[0])
    except sqlite3.Error:
        return 0  # the schema is still being created, or the file is locked for a moment


def _start_and_stop_midway(args: list[str], env: dict[str, str], data_dir: Path, at: int, total: int,
                           sig: int) -> tuple[subprocess.Popen[str], int]:
    # A shell's background job inherits SIGINT ignored (then Python never raises KeyboardInterrupt):
    # give the child the default disposition, as a terminal would.
    proc = subprocess.Popen([PY, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    committed = 0
    while time.monotonic() < deadline and proc.poll() is None:
        committed = _committed_documents(data_dir)
        if committed >= at:
            break
        time.sleep(0.02)
    assert proc.poll() is None, f"the run ended before it could be interrupted: {proc.communicate()}"
    assert at <= committed < total
    proc.send_signal(sig)
    proc.wait(timeout=60)
    return proc, committed


# -- the happy path ------------------------------------------------------------------------------

def test_ingest_json_then_documents_json_then_python_m_ingest(tmp_path: Path, cli_env: Any,
                                                              clapnq_passages: Any) -> None:
    folder = tmp_path / "docs"
    paths = write_passages(folder, clapnq_passages[:5])
    env = cli_env()
    result = _run(["-m", "assistant", "ingest", str(folder), "--json"], env)
    assert result.returncode == 0, result.stderr
    report = _one_json_object(result.stdout)
    _check_report_shape(report)
    assert report["documents"] == {"added": 5, "updated": 0, "unchanged": 0, "removed": 0, "failed": 0}
    assert report["chunks"]["added"] >= 5 and report["failures"] == []
    assert "Traceback" not in result.stderr

    listing = _run(["-m", "assistant", "documents", "--json"], env)
    assert listing.returncode == 0, listing.stderr
    docs = json.loads(listing.stdout)
    assert sorted(d["source"] for d in docs) == sorted(str(p.resolve()) for p in paths)
    assert sum(d["chunks"] for d in docs) == report["chunks"]["added"]
    assert {d["title"] for d in docs} == {title for title, _ in clapnq_passages[:5]}
    assert all(set(d) >= {"id", "source", "title", "chunks", "version", "ingested_at"} for d in docs)

    # ``python -m ingest`` is ``assistant ingest``: the same index, nothing to redo
    again = _run(["-m", "ingest", str(folder), "--json", "--prune"], env)
    assert again.returncode == 0, again.stderr
    report = _one_json_object(again.stdout)
    assert report["documents"] == {"added": 0, "updated": 0, "unchanged": 5, "removed": 0, "failed": 0}
    assert report["chunks"] == {"added": 0, "removed": 0}


def test_documents_on_an_empty_index(cli_env: Any) -> None:
    result = _run(["-m", "assistant", "documents", "--json"], cli_env())
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


# -- bad input -----------------------------------------------------------------------------------

def test_bad_files_exit_1_and_good_files_are_indexed(tmp_path: Path, cli_env: Any, settings: Settings,
                                                     make_pdf: Any, make_docx: Any, index_invariants: Any) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good.txt").write_text("Otters hold hands while they sleep.")
    make_pdf(folder / "good.pdf", ["Auroras follow geomagnetic storms."])
    make_docx(folder / "good.docx", ["Atolls ring lagoons."])
    (folder / "latin1.txt").write_bytes("Caf\xe9 cr\xe8me, na\xefve fa\xe7ade.".encode("latin-1"))
    (folder / "corrupt.pdf").write_bytes(b"%PDF-1.7\n%garbage, not a PDF\n" * 4)
    (folder / "binary.txt").write_bytes(bytes(range(256)) * 8)
    (folder / "empty.txt").write_bytes(b"")
    (folder / "huge.md").write_text("lorem " * 400_000)  # 2.4 MB, over the limit set below
    (folder / "vanished.txt").symlink_to(folder / "deleted-target.txt")
    (folder / "sheet.xlsx").write_bytes(b"PK\x03\x04")
    bad = {"corrupt.pdf", "binary.txt", "empty.txt", "huge.md", "vanished.txt", "sheet.xlsx"}
    if os.geteuid() != 0:
        (folder / "locked.txt").write_text("secret")
        (folder / "locked.txt").chmod(0)
        bad.add("locked.txt")

    result = _run(["-m", "assistant", "ingest", str(folder), "--json"], cli_env(ASSISTANT_INGEST__MAX_FILE_MB="1"))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    report = _one_json_object(result.stdout)
    _check_report_shape(report)
    reasons = {Path(f["path"]).name: f["reason"] for f in report["failures"]}
    assert set(reasons) == bad
    assert all(reason and "\n" not in reason for reason in reasons.values())
    assert report["documents"]["added"] == 4 and report["documents"]["failed"] == len(bad)

    store = ChromaStore.connect(settings.chroma, settings.chroma_path)
    names = {Path(d.source).name for d in index_invariants(store).values()}
    assert names == {"good.txt", "good.pdf", "good.docx", "latin1.txt"}
    latin = next(d for d in store.docs().values() if d.source.endswith("latin1.txt"))
    assert store.doc_text(latin.id) == "Café crème, naïve façade."

    human = _run(["-m", "assistant", "ingest", str(folder)], cli_env(ASSISTANT_INGEST__MAX_FILE_MB="1"))
    assert human.returncode == 1
    assert "4 unchanged" in human.stdout and f"{len(bad)} failed" in human.stdout
    for name in bad:
        assert f"failed: {folder / name}: {reasons[name]}" in human.stderr


def test_chroma_server_down_is_one_line_error(tmp_path: Path, cli_env: Any, unused_port: int) -> None:
    url = f"http://127.0.0.1:{unused_port}"
    (tmp_path / "a.txt").write_text("Some text.")
    for args in (["-m", "assistant", "ingest", str(tmp_path / "a.txt"), "--json"],
                 ["-m", "assistant", "documents"]):
        result = _run(args, cli_env(ASSISTANT_CHROMA__URL=url), timeout=60)
        assert result.returncode == 2
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and url in lines[0], result.stderr
        assert "Traceback" not in result.stderr


def test_bad_configuration_is_one_line_error(tmp_path: Path, cli_env: Any) -> None:
    result = _run(["-m", "assistant", "ingest", str(tmp_path), "--json"],
                  cli_env(ASSISTANT_CHROMA__URL="ftp://example.invalid"))
    assert result.returncode == 2
    assert result.stderr.startswith("error:") and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


# -- the Chroma server mode, for real --------------------------------------------------------------

@pytest.mark.slow
def test_chroma_server_mode(tmp_path: Path, cli_env: Any, chroma_server: str, embedder: Any,
                            clapnq_passages: Any, index_invariants: Any) -> None:
    folder = tmp_path / "docs"
    paths = write_passages(folder, clapnq_passages[:4])
    env = cli_env(ASSISTANT_CHROMA__URL=chroma_server, ASSISTANT_CHROMA__COLLECTION="cli-server-mode")
    result = _run(["-m", "assistant", "ingest", str(folder), "--json"], env)
    assert result.returncode == 0, result.stderr
    assert _one_json_object(result.stdout)["documents"]["added"] == 4

    listing = _run(["-m", "assistant", "documents", "--json"], env)
    assert listing.returncode == 0, listing.stderr
    assert sorted(d["source"] for d in json.loads(listing.stdout)) == sorted(str(p.resolve()) for p in paths)
    assert not (tmp_path / "data" / "chroma").exists(), "nothing was written to an embedded Chroma"

    settings = Settings(data_dir=tmp_path / "data", chroma={"url": chroma_server, "collection": "cli-server-mode"})
    store = ChromaStore.connect(settings.chroma, settings.chroma_path)
    index_invariants(store)
    title, text = clapnq_passages[2]
    question = " ".join(text.split()[:25])
    hits = store.query(embedder.embed([question])[0], n=3)
    assert hits[0][1]["title"] == title and hits[0][3] > 0.5


# -- interruption ------------------------------------------------------------------------------

@pytest.mark.slow
def test_sigint_then_sigkill_mid_run_then_rerun_completes_without_duplicates(
        tmp_path: Path, cli_env: Any, settings: Settings, clapnq_passages: Any, index_invariants: Any) -> None:
    """One corpus, three runs: Ctrl-C (exit 130, one line, commits kept), SIGKILL (a crash), then a rerun
    that completes with every file indexed exactly once. (Was two tests with a corpus each.)"""
    folder = tmp_path / "docs"
    data_dir = tmp_path / "data"
    # 120 files, interrupted after 8: on a quiet machine 40 files finished between the probe and the signal
    paths = write_passages(folder, clapnq_passages[100:220])
    env = cli_env(ASSISTANT_INGEST__BATCH_CHUNKS="3")
    ingest_args = ["-m", "assistant", "ingest", str(folder), "--json"]
    proc, interrupted = _start_and_stop_midway(ingest_args, env, data_dir, at=8, total=120, sig=signal.SIGINT)
    stdout, stderr = proc.communicate()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted:"), stderr
    assert stdout == ""
    kept = _committed_documents(data_dir)
    assert kept >= interrupted, "the commits before Ctrl-C are kept"

    args = ["-m", "ingest", str(folder), "--json"]  # the same command under its other name
    proc, committed = _start_and_stop_midway(args, env, data_dir, at=kept + 12, total=120, sig=signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL

    result = _run(args, env)
    assert result.returncode == 0, result.stderr
    report = _one_json_object(result.stdout)
    assert report["documents"]["unchanged"] >= committed > kept
    assert report["documents"]["added"] + report["documents"]["unchanged"] == 120
    assert report["documents"]["failed"] == 0

    ledger = index_invariants(ChromaStore.connect(settings.chroma, settings.chroma_path))
    sources = sorted(d.source for d in ledger.values())
    assert sources == sorted(str(p.resolve()) for p in paths), "every file indexed exactly once"
