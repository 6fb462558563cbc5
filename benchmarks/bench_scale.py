"""Scale-out throughput on loopback: a ``chroma run`` server, two API workers (``assistant serve --no-ui``,
separate processes, extractive backend) and an ingest process writing while clients ask.

Clients (``--clients``, split over the two workers) post CLAP NQ questions to ``/v1/ask`` in a loop;
the figures are requests/s, p50/p95 latency and non-200 answers, while the ingest runs and for
``--after`` seconds after it (steady state), plus the ingest's own duration.

    .venv/bin/python benchmarks/bench_scale.py                                  # 300 passages, 8 clients
    .venv/bin/python benchmarks/bench_scale.py --passages 30 --clients 2 --after 3   # smoke run
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

import evals.clapnq  # noqa: F401  (imported before tests/ joins sys.path: tests/evals would shadow evals)

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))  # the regular packages (ingest, evals) win over tests/ingest, tests/evals
sys.path.insert(0, str(REPO_ROOT / "tests"))

from chroma_proc import ChromaProcess  # noqa: E402  (the tests' helpers)
from conftest import subprocess_env  # noqa: E402
from servers import api_workers  # noqa: E402

from evals.clapnq import load_clapnq  # noqa: E402


def summary(rows: list[tuple[float, float, int, int]], start: float, end: float) -> dict[str, float]:
    """Figures of the requests that finished in [start, end): (finished at, seconds, status, worker)."""
    mine = [r for r in rows if start <= r[0] < end]
    lat = [r[1] for r in mine if r[2] == 200]
    span = max(end - start, 1e-9)
    return {"requests": len(mine), "req_per_s": round(len(mine) / span, 1),
            "p50_ms": round(float(np.percentile(lat, 50)) * 1000, 1) if lat else 0.0,
            "p95_ms": round(float(np.percentile(lat, 95)) * 1000, 1) if lat else 0.0,
            "errors": sum(r[2] != 200 for r in mine),
            "per_worker": dict(Counter(r[3] for r in mine))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--passages", type=int, default=300, help="CLAP NQ passages ingested during the load")
    ap.add_argument("--seed", type=int, default=20, help="passages indexed before the load starts")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--after", type=float, default=15, help="seconds of load after the ingest ends")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up below on SIGTERM too

    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    items = load_clapnq()
    passages = list(dict.fromkeys((i.title, i.passage) for i in items))
    corpus = work / "corpus"
    corpus.mkdir()
    for n, (title, text) in enumerate(passages[args.seed : args.seed + args.passages]):
        (corpus / f"p{n:04d}.txt").write_text(f"{title}\n\n{text}")
    questions = [i.question for i in items]

    chroma = ChromaProcess(work / "chroma")
    extra = {"ASSISTANT_CHROMA__URL": chroma.url, "ASSISTANT_CHROMA__COLLECTION": f"bench-{uuid.uuid4().hex[:6]}",
             "PYTHONPATH": str(REPO_ROOT)}
    rows: list[tuple[float, float, int, int]] = []
    try:
        chroma.start(timeout=60)
        envs = [subprocess_env(work / f"worker{i}", **extra) for i in range(2)]
        with api_workers(envs, logs=work) as urls, httpx.Client(timeout=60) as client:
            seed = [("files", (f"seed{n}.txt", f"{t}\n\n{p}".encode(), "text/plain"))
                    for n, (t, p) in enumerate(passages[: args.seed])]
            client.post(f"{urls[0]}/v1/documents", files=seed).raise_for_status()
            stop = threading.Event()

            def load(c: int) -> None:
                worker, n = c % 2, c
                with httpx.Client(timeout=60) as mine:
                    while not stop.is_set():
                        t0 = time.perf_counter()
                        r = mine.post(f"{urls[worker]}/v1/ask", json={"question": questions[n % len(questions)]})
                        rows.append((time.perf_counter(), time.perf_counter() - t0, r.status_code, worker))
                        n += args.clients  # every request a question no client asked before
            threads = [threading.Thread(target=load, args=(c,), daemon=True) for c in range(args.clients)]
            t_start = time.perf_counter()
            ingest = subprocess.Popen([sys.executable, "-m", "ingest", str(corpus), "--json"],
                                      env=subprocess_env(work / "ingester", **extra),
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            for t in threads:
                t.start()
            out, _ = ingest.communicate()
            t_ingested = time.perf_counter()
            time.sleep(args.after)
            stop.set()
            for t in threads:
                t.join(timeout=60)
            t_end = time.perf_counter()
            docs = len(client.get(f"{urls[1]}/v1/documents").json())
    finally:
        chroma.stop(timeout=30)
    report = json.loads(out) if out.strip().startswith("{") else {}
    result = {
        "ingest_s": round(t_ingested - t_start, 1), "ingested_chunks": report.get("chunks", {}).get("added"),
        "documents_seen_by_worker_2": docs,
        "during_ingest": summary(rows, t_start, t_ingested), "after_ingest": summary(rows, t_ingested, t_end),
    }
    print(json.dumps(result, indent=2))
    print("\n| phase | req/s | p50 ms | p95 ms | errors |\n|---|---|---|---|---|")
    for phase in ("during_ingest", "after_ingest"):
        r = result[phase]
        print(f"| {phase} | {r['req_per_s']} | {r['p50_ms']} | {r['p95_ms']} | {r['errors']} |")


if __name__ == "__main__":
    main()
