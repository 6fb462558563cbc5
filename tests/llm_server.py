"""Test helper: llama.cpp's OpenAI-compatible HTTP server (from ``xllamacpp``) as a separate process on
loopback, serving a GGUF file: the stand-in for vLLM behind ``llm.backend=openai``.

    python tests/llm_server.py MODEL.gguf --ctx 2048 --threads 2     # prints "listening http://127.0.0.1:PORT"
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model", type=Path)
    ap.add_argument("--ctx", type=int, default=2048)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import xllamacpp

    p = xllamacpp.CommonParams()
    p.model.path = str(args.model)
    p.n_ctx = args.ctx
    p.n_parallel = 1
    p.cpuparams.n_threads = args.threads
    p.cpuparams_batch.n_threads = args.threads
    p.hostnames = ["127.0.0.1"]  # loopback only
    p.port = 0
    p.ui = False
    p.cache_ram_mib = 0
    p.verbosity = 1
    server = xllamacpp.Server(p)
    address = server.listening_address
    print(f"listening {address if address.startswith('http') else 'http://' + address}", flush=True)
    while True:  # the HTTP server runs in llama.cpp's threads; stop with SIGTERM
        time.sleep(3600)


@contextlib.contextmanager
def llama_server(model: Path, *, ctx: int = 2048, threads: int = 2, timeout: float = 120) -> Iterator[str]:
    """``with llama_server(gguf) as base_url:`` (``http://127.0.0.1:PORT``, OpenAI API under ``/v1``)."""
    from servers import stop_process, wait_for_http

    proc = subprocess.Popen([sys.executable, __file__, str(model), "--ctx", str(ctx), "--threads", str(threads)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()  # the model is loaded when the address is printed
        if not line.startswith("listening "):
            raise RuntimeError(f"llama.cpp server did not start (exit code {proc.poll()}): {line!r}")
        url = line.removeprefix("listening ").rstrip("/")
        wait_for_http(f"{url}/health", proc, timeout=timeout, what="llama.cpp server")
        yield url
    finally:
        stop_process(proc)


if __name__ == "__main__":
    main()
