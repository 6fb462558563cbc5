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
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

import pytest


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
        self.port = _free_port()
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
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"`chroma run` exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise RuntimeError(f"`chroma run` did not answer at {self.url} within {timeout:g} s")

    def kill(self) -> None:
        """SIGKILL: no shutdown, like a crash or an OOM kill."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.proc = None

    def __enter__(self) -> ChromaProcess:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None
