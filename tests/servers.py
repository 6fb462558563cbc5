"""Test helpers: a real uvicorn server for an ASGI app in a daemon thread (``serve_in_thread``),
API workers as separate ``assistant serve --no-ui`` processes (``api_workers``), all on 127.0.0.1, and
the child-process basics the tests and benchmarks share (``free_port``, ``wait_for_http``, ``stop_process``)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def serve_in_thread(app: Any, *, lifespan: str = "off", timeout: float = 30) -> Iterator[str]:
    """``with serve_in_thread(app) as base_url:`` uvicorn on a free loopback port, stopped on exit."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan=lifespan))
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start within {timeout:g} s")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def free_port() -> int:
    """A loopback port with nothing listening (at the time of asking)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_process(proc: subprocess.Popen[Any] | None, *, timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL if ``proc`` has not exited within ``timeout`` seconds; reaps it either way."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_for_http(url: str, proc: Any | None, *, timeout: float = 60, what: str = "server") -> None:
    """Poll ``url`` until it answers 200; fail early if ``proc`` (a ``Popen``, or None for a server
    someone else started) exits."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} before answering at {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer at {url} within {timeout:g} s: {last}")


@contextlib.contextmanager
def api_workers(env: list[dict[str, str]], *, logs: Any, timeout: float = 90) -> Iterator[list[str]]:
    """``with api_workers([env1, env2], logs=dir) as urls:`` one ``assistant serve --no-ui`` process per
    environment, each on its own free loopback port, all started at once and stopped on exit."""
    import sys
    from pathlib import Path

    procs, urls = [], []
    try:
        for i, e in enumerate(env):
            port = free_port()
            log = (Path(logs) / f"worker-{i}-{port}.log").open("wb")
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "assistant", "serve", "--no-ui", "--host", "127.0.0.1", "--port", str(port)],
                env=e, stdout=log, stderr=subprocess.STDOUT))
            urls.append(f"http://127.0.0.1:{port}")
        for i, (url, proc) in enumerate(zip(urls, procs, strict=True)):
            wait_for_http(f"{url}/healthz", proc, timeout=timeout, what=f"API worker {i}")
        yield urls
    finally:
        for proc in procs:
            proc.terminate()  # all at once; stop_process then waits for each
        for proc in procs:
            stop_process(proc)
