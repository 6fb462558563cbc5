"""The folder watcher (``ingest/watch.py``) on a real folder, with real watchfiles and real embedded Chroma:
create, modify, rename and delete files while watching; the index follows within seconds and every
index invariant holds. Also ``assistant ingest DIR --watch`` as a child process stopped by Ctrl-C, and
``serve --watch`` (the watcher in the app's lifespan, the engine answering from a file added meanwhile).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import serve_in_thread

from assistant.errors import BadRequest
from assistant.services import Services
from assistant.settings import Settings
from ingest.watch import FolderWatcher

FOLLOW_S = 20  # generous under load; on a quiet machine the index follows in well under a second

ALPHA = "The alpaca festival of Quillabamba is held every March. Farmers bring their best alpacas to town.\n"
BRAVO = "Brass bands from Oruro rehearse for months before the carnival parade. The parade lasts three days.\n"
CHARLIE = "The Chiloe ferries stop running when the wind exceeds forty knots. Islanders stock up on bread.\n"


def wait_for(check: Callable[[], bool], what: str, timeout: float = FOLLOW_S) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for: {what}")
        time.sleep(0.1)


def indexed(services: Services) -> dict[str, int]:
    """File name -> chunks, of every indexed document."""
    return {Path(d.source).name: d.chunks for d in services.store.docs().values()}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "alpha.txt").write_text(ALPHA, encoding="utf-8")
    return folder


@pytest.fixture
def watching(make_services: Callable[..., Services], settings: Settings, folder: Path
             ) -> Iterator[tuple[Services, FolderWatcher, list[str]]]:
    services = make_services(settings.model_copy(update={"watch": settings.watch.model_copy(update={"debounce_ms": 50})}))
    lines: list[str] = []
    watcher = services.folder_watcher([folder], emit=lines.append)
    watcher.start()
    try:
        assert watcher.ready.wait(FOLLOW_S), "the watcher's first pass did not finish"
        yield services, watcher, lines
    finally:
        watcher.stop()


@pytest.mark.slow
def test_the_index_follows_create_modify_rename_delete(watching: Any, folder: Path, index_invariants: Any) -> None:
    services, _watcher, lines = watching
    assert indexed(services) == {"alpha.txt": 1} and lines == ["added alpha.txt (1 chunk)"]

    (folder / "sub").mkdir()
    (folder / "sub" / "bravo.md").write_text(BRAVO, encoding="utf-8")
    wait_for(lambda: "added sub/bravo.md (1 chunk)" in lines, "a created file is indexed")
    assert indexed(services) == {"alpha.txt": 1, "bravo.md": 1}
    bravo = next(d for d in services.store.docs().values() if d.source.endswith("bravo.md"))
    assert bravo.id == services.ingestor.document_id(folder / "sub" / "bravo.md", folder), "the full pass's id"

    version = services.store.docs()
    (folder / "alpha.txt").write_text(ALPHA + "\n\n" + CHARLIE * 40, encoding="utf-8")
    wait_for(lambda: any(line.startswith("updated alpha.txt") for line in lines), "a modified file is re-indexed")
    alpha = next(d for d in services.store.docs().values() if d.source.endswith("alpha.txt"))
    assert alpha.version != version[alpha.id].version and alpha.chunks > 1
    assert f"updated alpha.txt ({alpha.chunks} chunks)" in lines

    (folder / "sub" / "bravo.md").rename(folder / "renamed.md")
    wait_for(lambda: {"removed sub/bravo.md", "added renamed.md (1 chunk)"} <= set(lines),
             "a rename is a delete plus an add")
    assert set(indexed(services)) == {"alpha.txt", "renamed.md"}

    (folder / "alpha.txt").unlink()
    wait_for(lambda: "removed alpha.txt" in lines, "a deleted file's document is removed")
    assert set(indexed(services)) == {"renamed.md"}

    # a bad file is reported and skipped; hidden and unsupported files are ignored; the watch goes on
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (folder / ".hidden.txt").write_text(ALPHA, encoding="utf-8")
    (folder / "image.png").write_bytes(b"\x89PNG\r\n")
    wait_for(lambda: any(line.startswith("failed broken.pdf: ") for line in lines), "a bad file is reported")
    (folder / "charlie.txt").write_text(CHARLIE, encoding="utf-8")
    wait_for(lambda: "added charlie.txt (1 chunk)" in lines, "the watch goes on after a bad file")

    ledger = index_invariants(services.store)  # no orphans, chunk counts match, spans exact
    present = {p.name for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")} - {"broken.pdf", "image.png"}
    assert {Path(d.source).name for d in ledger.values()} == present == {"renamed.md", "charlie.txt"}
    # the engine sees the change (its BM25 snapshot follows the commit generation)
    answer = services.engine.ask("When do the Chiloe ferries stop running?")
    assert not answer.abstained and Path(answer.citations[0].source).name == "charlie.txt"


def test_the_first_pass_prunes_what_went_away_while_nobody_watched(
        make_services: Callable[..., Services], settings: Settings, folder: Path) -> None:
    services = make_services(settings)
    (folder / "gone.txt").write_text(BRAVO, encoding="utf-8")
    assert services.ingestor.ingest([folder]).ok
    (folder / "gone.txt").unlink()
    lines: list[str] = []
    watcher = FolderWatcher(services.ingestor, [folder], debounce_ms=50, emit=lines.append)
    report = watcher.sync()
    assert report.documents["removed"] == 1 and indexed(services) == {"alpha.txt": 1}
    assert lines == ["removed gone.txt"]


def test_only_folders_can_be_watched(services: Services, folder: Path) -> None:
    with pytest.raises(BadRequest, match="not a folder"):
        services.folder_watcher([folder / "alpha.txt"])
    with pytest.raises(BadRequest, match="not a folder"):
        services.folder_watcher([folder / "missing"])


@pytest.mark.slow
def test_serve_watch_keeps_the_served_index_in_sync(make_services: Callable[..., Services], settings: Settings,
                                                   folder: Path) -> None:
    from assistant.api.app import create_app

    services = make_services(settings.model_copy(update={"watch": settings.watch.model_copy(update={"debounce_ms": 50})}))
    lines: list[str] = []
    app = create_app(services, ui=False, watch=[folder], on_watch_line=lines.append)
    with serve_in_thread(app, lifespan="on") as url:
        assert app.state.watcher.ready.wait(FOLLOW_S)
        (folder / "charlie.txt").write_text(CHARLIE, encoding="utf-8")

        def listed() -> set[str]:
            return {Path(d["source"]).name for d in httpx.get(f"{url}/v1/documents", timeout=10).json()}

        wait_for(lambda: "added charlie.txt (1 chunk)" in lines, "the watcher applied the new file")
        assert listed() == {"alpha.txt", "charlie.txt"}
        answer = httpx.post(f"{url}/v1/ask", json={"question": "When do the Chiloe ferries stop running?"},
                            timeout=60).json()
        assert Path(answer["citations"][0]["source"]).name == "charlie.txt"
    assert app.state.watcher._thread is None  # stopped with the app's lifespan
    assert "added charlie.txt (1 chunk)" in lines


@pytest.mark.slow  # a child process (~10 s: interpreter, Chroma, the embedder)
def test_ingest_watch_command_logs_each_change_and_stops_cleanly_on_ctrl_c(cli_env: Any, folder: Path) -> None:
    env = cli_env(ASSISTANT_WATCH__DEBOUNCE_MS="50")
    proc = subprocess.Popen([sys.executable, "-m", "assistant", "ingest", str(folder), "--watch"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)

        def saw(text: str) -> bool:
            lines.extend(line.rstrip("\n") for line in proc.stdout.readlines())  # type: ignore[union-attr]
            return any(text in line for line in lines)

        wait_for(lambda: saw("added alpha.txt (1 chunk)"), "the first pass", timeout=120)
        (folder / "bravo.md").write_text(BRAVO, encoding="utf-8")
        wait_for(lambda: saw("added bravo.md (1 chunk)"), "a line for the new file")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "stopped watching" in out and "Traceback" not in err
    assert lines[0].startswith("watching ")
