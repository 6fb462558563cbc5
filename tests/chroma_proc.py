"""Test helper: a ``chroma run`` server the test owns, to kill and restart on the same port and path.

Example::

    with ChromaProcess(tmp_path / "chroma") as chroma:
        ...                      # chroma.url
        chroma.kill()            # SIGKILL, like a crashed server
        chroma.start()           # the same port and data
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType

import pytest
from servers import free_port, stop_process, wait_for_http


def chroma_executable() -> Path:
    exe = Path(sys.executable).parent / "chroma"
    if exe.exists():
        return exe
    found = shutil.which("chroma")
    if not found:
        pytest.skip("the `chroma` executable is not installed next to the interpreter")
    return Path(found)


class ChromaProcess:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        log = (self.path.parent / f"chroma-{self.port}.log").open("ab")
        self.proc = subprocess.Popen(
            [str(chroma_executable()), "run", "--host", "127.0.0.1", "--port", str(self.port), "--path", str(self.path)],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
        )
        log.close()
        wait_for_http(f"{self.url}/api/v2/heartbeat", self.proc, timeout=timeout, what="`chroma run`")

    def kill(self) -> None:
        """SIGKILL: no shutdown, like a crash or an OOM kill."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.proc = None

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        stop_process(self.proc, timeout=timeout)
        self.proc = None

    def __enter__(self) -> ChromaProcess:
        try:
            self.start()
        except BaseException:
            self.stop()  # a server that never answered is not left behind
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
