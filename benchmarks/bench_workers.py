"""New-question load on N API workers sharing one ``chroma run`` server, over an existing index.

Copies ``--index`` (a data dir built by ``bench_load.py --keep`` or ``bench_query.py --work``), serves its
Chroma directory with ``chroma run`` on a free loopback port, starts ``--workers`` processes of
``assistant serve --no-ui`` on it (extractive backend), splits ``bench_load``'s pool of distinct
questions and the ``--concurrency`` clients between them, warms up, measures, and prints requests/s,
p50/p95 latency, errors and the 1-minute load average. Compare with ``bench_load.py --index`` (one
worker on the embedded index) on the same machine.

    .venv/bin/python benchmarks/bench_workers.py --index /tmp/assistant-load-XXXX/data-10000 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from bench_load import base_questions, distinct_questions, percentile, run_load, server_env
from chroma_proc import ChromaProcess  # the tests' helpers (bench_load put tests/ on sys.path)
from servers import api_workers

from evals.clapnq import load_clapnq


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index", type=Path, required=True, help="an indexed data dir (copied, never changed)")
    p.add_argument("--workers", type=int, default=2, help="API worker processes (default 2)")
    p.add_argument("--concurrency", type=int, default=8, help="clients, split over the workers (default 8)")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of measured load (default 20)")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds of unmeasured load first (default 5)")
    args = p.parse_args(argv)
    if not (args.index / "chroma").is_dir():
        p.error(f"{args.index} has no chroma/ directory: pass an indexed data dir")
    if not 1 <= args.workers <= args.concurrency:
        p.error("--workers must be within 1..--concurrency")

    work = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    shutil.copytree(args.index, work / "data")
    chroma = ChromaProcess(work / "data" / "chroma")
    try:
        chroma.start(timeout=120)  # a large index takes a while to open
        env = {**server_env(work / "data", "extractive"), "ASSISTANT_CHROMA__URL": chroma.url}
        with api_workers([env] * args.workers, logs=work, timeout=180) as urls:
            return measure(urls, args)
    finally:
        chroma.stop(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def measure(urls: list[str], args: argparse.Namespace) -> int:
    """Split the question pool and the clients over ``urls``, warm up, measure, print."""
    pool = distinct_questions(base_questions(load_clapnq()))
    parts = [pool[i :: len(urls)] for i in range(len(urls))]  # no question asked twice
    shares = [args.concurrency // len(urls) + (i < args.concurrency % len(urls)) for i in range(len(urls))]

    async def load(duration: float, offset: int) -> list:  # type: ignore[type-arg]
        return await asyncio.gather(*(run_load(url, parts[i], shares[i], duration, 180, {}, offset=offset)
                                      for i, url in enumerate(urls)))

    warm = asyncio.run(load(args.warmup, 0))
    started = time.perf_counter()
    runs = asyncio.run(load(args.duration, max(r.next for r in warm)))
    wall = time.perf_counter() - started
    latencies = [x for r in runs for x in r.latencies]
    errors = sum(sum(r.errors.values()) for r in runs)
    result = {"workers": len(urls), "clients": args.concurrency, "rps": round(len(latencies) / wall, 2),
              "p50_ms": round(1000 * percentile(latencies, 50), 1), "p95_ms": round(1000 * percentile(latencies, 95), 1),
              "errors": errors, "new_questions": all(r.next <= len(parts[0]) for r in runs),
              "load_avg_1m": round(os.getloadavg()[0], 2)}
    print(f"{len(urls)} workers on a chroma server: {result['rps']} req/s, p50 {result['p50_ms']} ms, "
          f"p95 {result['p95_ms']} ms, errors {errors} [load average {result['load_avg_1m']}]")
    print(json.dumps(result))
    return 0 if errors == 0 else 1

if __name__ == "__main__":
    raise SystemExit(main())
