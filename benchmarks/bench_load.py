"""Load benchmark for ``POST /v1/ask``: concurrent clients for a fixed time, then throughput and latency.

For each of ``--chunks`` (default 10,000 and 100,000) it builds a throw-away index of that size in a temp
dir (``bench_query.build_index``: the CLAP NQ dev passages' real chunks and sentence vectors, replicated;
with ``--chunks 0``, the sample article plus the passages through ``assistant ingest``, ~800 chunks),
starts ``assistant serve`` on a free loopback port in a subprocess, warms it up, runs
``--concurrency`` clients for ``--duration`` seconds, and prints requests/s, p50/p95/p99 latency, errors,
the 1-minute load average, and one JSON line per index.

Every request asks a NEW question (never asked before in the run, warm-up included): the CLAP NQ questions
and questions about the sample, then the same ones behind neutral lead-ins made of stop words ("Tell me:",
"Can you explain:" ...), so nothing a cache keeps from an earlier question can serve a later one.

    .venv/bin/python benchmarks/bench_load.py                              # 10k and 100k chunks, 8 clients, 20 s
    .venv/bin/python benchmarks/bench_load.py --chunks 0 --duration 10     # a quick run on ~800 chunks
    .venv/bin/python benchmarks/bench_load.py --backend local --duration 60 --concurrency 3
    .venv/bin/python benchmarks/bench_load.py --url http://127.0.0.1:8000  # an already running, indexed server
    .venv/bin/python benchmarks/bench_load.py --index DIR --chunks 10000 --runs 5   # median of 5 fresh runs

Loopback only; every loop is bounded by the duration (and each request by --timeout).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

from evals.clapnq import ClapItem, load_clapnq, write_corpus

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))  # the regular packages (ingest, evals) win over tests/ingest, tests/evals
sys.path.append(str(REPO_ROOT / "tests"))  # after evals is imported: tests/evals would shadow it
from servers import free_port, stop_process, wait_for_http  # noqa: E402  (the tests' helpers)

SAMPLE = REPO_ROOT / "data" / "sample" / "north-korean-troops-in-ukraine.txt"
SAMPLE_QUESTIONS = [
    "What did South Korea do in response?",
    "Why did North Korea send troops to Russia?",
    "How many North Korean soldiers are in Ukraine?",
    "What weapons might South Korea supply to Ukraine?",
    "How did Russia react to the reports?",
    "What are the global consequences of North Korean involvement?",
]
TARGET = {"rps": 50.0, "p95_ms": 250.0, "errors": 0}
# Lead-ins made only of stop words and question words (assistant.text): they change the question's text
# and its embedding, not its content terms.
LEAD_INS = ["", "Tell me: ", "Explain: ", "Describe: ", "Tell us: ", "Can you tell me: ", "Could you explain: ",
            "Describe this: ", "Tell me about this: ", "Explain this to me: ", "Describe for us: "]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", help="benchmark this running server (loopback) instead of starting one; "
                                 "it must already have documents indexed")
    p.add_argument("--backend", choices=["extractive", "local"], default="extractive",
                   help="LLM backend of the started server (default: extractive)")
    p.add_argument("--concurrency", type=int, default=8, help="concurrent clients (default: 8)")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of measured load (default: 20)")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds of unmeasured load first (default: 5)")
    p.add_argument("--timeout", type=float, default=180.0, help="per-request timeout in seconds (default: 180)")
    p.add_argument("--max-passages", type=int, default=600, help="CLAP NQ passages to index (default: 600)")
    p.add_argument("--chunks", default="10000,100000",
                   help="comma-separated index sizes built with bench_query.build_index (default 10000,100000); "
                        "0 = ingest the corpus with `assistant ingest` (~800 chunks)")
    p.add_argument("--index", type=Path, help="reuse this data dir (already indexed, e.g. from --keep) "
                                              "instead of building one")
    p.add_argument("--questions", type=int, default=0,
                   help="use only the first N questions of the pool, repeated (0 = every request a new "
                        "question; a small pool measures the engine with warm caches)")
    p.add_argument("--api-key", default="", help="bearer key for --url servers that require one")
    p.add_argument("--keep", action="store_true", help="keep the temp data dir and server log")
    p.add_argument("--runs", type=int, default=1,
                   help="runs per index size, each on a fresh copy of the index with a new server (nothing a "
                        "cache or a file warmed carries over); prints every run and the medians (default 1)")
    args = p.parse_args(argv)
    if not 1 <= args.concurrency <= 256:
        p.error(f"--concurrency must be within 1..256, got {args.concurrency}")
    if not 0 < args.duration <= 3600:
        p.error(f"--duration must be within (0, 3600] seconds, got {args.duration}")
    if args.url and not _is_loopback(args.url):
        p.error(f"--url must be a loopback address (127.0.0.1, ::1, localhost), got {args.url}")
    return args


def _is_loopback(url: str) -> bool:
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- corpus and questions ----------------------------------------------------------------------------

def build_corpus(passages: list[ClapItem], folder: Path) -> None:
    """The sample article plus one .txt per CLAP NQ passage (``evals.clapnq.write_corpus``)."""
    write_corpus(passages, folder)
    (folder / SAMPLE.name).write_bytes(SAMPLE.read_bytes())


# -- the server ----------------------------------------------------------------------------------

def server_env(data_dir: Path, backend: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update({"ASSISTANT_DATA_DIR": str(data_dir), "ASSISTANT_LLM__BACKEND": backend,
                "ANONYMIZED_TELEMETRY": "False", "PYTHONUNBUFFERED": "1"})
    return env


def base_questions(items: list[ClapItem]) -> list[str]:
    """The CLAP NQ questions and the sample's, in a fixed, varied order (every client walks the same pool)."""
    base = [i.question for i in items] + SAMPLE_QUESTIONS
    random.Random(0).shuffle(base)
    return base


def distinct_questions(base: list[str]) -> list[str]:
    """``base`` questions, then each behind every lead-in: all distinct, about 6,000 for the default pool."""
    out = [lead + (q[0].lower() + q[1:] if lead else q) for lead in LEAD_INS for q in base]
    return list(dict.fromkeys(out))


def build_scaled_index(size: int, data_dir: Path, passages: int) -> dict[str, Any]:
    """An index of ``size`` chunks under ``data_dir`` (``bench_query.build_index``); its size and build time."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import numpy as np
    from bench_query import base_chunks, build_index

    from assistant.services import Services
    from assistant.settings import Settings

    started = time.perf_counter()
    embedder = Services(Settings(data_dir=data_dir / "probe", llm={"backend": "extractive"})).embedder
    base, vectors, sentence_vectors = base_chunks(embedder, data_dir / "probe", passages)
    services = build_index(data_dir, size, base, vectors, np.random.default_rng(0), embedder, sentence_vectors)
    chunks = services.store.chunk_count()
    shutil.rmtree(data_dir / "probe", ignore_errors=True)
    return {"chunks": chunks, "build_s": round(time.perf_counter() - started, 1)}


def ingest(corpus: Path, env: dict[str, str]) -> dict[str, Any]:
    """``assistant ingest --json`` in a subprocess: its JSON report plus ``wall_s``."""
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "assistant", "ingest", str(corpus), "--json"], env=env,
                         capture_output=True, text=True, timeout=1800, check=False)
    if out.returncode not in (0, 1):
        raise SystemExit(f"ingest failed ({out.returncode}): {out.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    report["wall_s"] = round(time.perf_counter() - started, 1)
    return report


def start_server(env: dict[str, str], port: int, log_path: Path) -> subprocess.Popen[bytes]:
    log = log_path.open("wb")
    return subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_ready(url: str, proc: subprocess.Popen[bytes] | None, timeout: float = 180) -> None:
    """Wait for ``url``'s ``/healthz``; exit with the reason if the server dies or never answers."""
    try:
        wait_for_http(f"{url}/healthz", proc, timeout=timeout, what="the server")
    except RuntimeError as exc:
        raise SystemExit(f"{exc}; see its log") from None


# -- the load --------------------------------------------------------------------------------------

@dataclass
class LoadRun:
    latencies: list[float]  # seconds, successful requests only
    errors: Counter[str]  # error kind -> count
    abstained: int
    wall: float  # seconds
    next: int  # index into the question pool where the next run continues


async def run_load(url: str, questions: list[str], concurrency: int, duration: float, timeout: float,
                   headers: dict[str, str], offset: int = 0, stop_after: int | None = None) -> LoadRun:
    """``concurrency`` clients asking ``questions`` in turn (from ``offset``) until ``duration`` seconds have
    passed or, when given, ``stop_after`` requests were sent."""
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    abstained = 0
    counter = offset
    end = time.monotonic() + duration

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal counter, abstained
        while time.monotonic() < end and (stop_after is None or counter - offset < stop_after):
            question = questions[counter % len(questions)]
            counter += 1
            started = time.perf_counter()
            try:
                resp = await http.post("/v1/ask", json={"question": question})
                elapsed = time.perf_counter() - started
                if resp.status_code == 200:
                    latencies.append(elapsed)
                    abstained += bool(resp.json().get("abstained"))
                else:
                    errors[f"http_{resp.status_code}"] += 1
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] += 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits, headers=headers) as http:
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
    wall = time.perf_counter() - started
    return LoadRun(latencies, errors, abstained, wall, counter)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def summarize(result: LoadRun, args: argparse.Namespace, extra: dict[str, int | float]) -> dict[str, Any]:
    lat = result.latencies
    n_err = sum(result.errors.values())
    summary: dict[str, Any] = {
        "backend": args.backend if not args.url else "remote",
        "concurrency": args.concurrency,
        "duration_s": round(result.wall, 2),
        "requests": len(lat) + n_err,
        "ok": len(lat),
        "rps": round(len(lat) / result.wall, 2) if result.wall else 0.0,
        "p50_ms": round(percentile(lat, 50) * 1000, 1),
        "p95_ms": round(percentile(lat, 95) * 1000, 1),
        "p99_ms": round(percentile(lat, 99) * 1000, 1),
        "max_ms": round(max(lat) * 1000, 1) if lat else None,
        "mean_ms": round(statistics.fmean(lat) * 1000, 1) if lat else None,
        "errors": n_err,
        "error_kinds": dict(result.errors),
        "abstained": result.abstained,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        **extra,
    }
    return with_target(summary)


def with_target(summary: dict[str, Any]) -> dict[str, Any]:
    """``summary`` with ``target_met`` (issue 10's target holds for the extractive backend only)."""
    if summary.get("backend") == "extractive":
        summary["target_met"] = (summary["rps"] >= TARGET["rps"] and summary["p95_ms"] <= TARGET["p95_ms"]
                                 and summary["errors"] == TARGET["errors"])
    return summary


def target_text(summary: dict[str, Any]) -> str:
    return (f"; target (>= {TARGET['rps']:.0f} rps, p95 <= {TARGET['p95_ms']:.0f} ms, 0 errors) "
            f"{'met' if summary['target_met'] else 'MISSED'}" if "target_met" in summary else "")


def measure(url: str, questions: list[str], args: argparse.Namespace, headers: dict[str, str],
            extra: dict[str, Any]) -> dict[str, Any]:
    wait_ready(url, None)
    print(f"warming up {url} for {args.warmup:.0f} s ...", flush=True)
    warm = asyncio.run(run_load(url, questions, args.concurrency, args.warmup, args.timeout, headers))
    if warm.errors:
        print(f"  warm-up errors: {dict(warm.errors)}", flush=True)
    print(f"measuring: {args.concurrency} clients x {args.duration:.0f} s against POST /v1/ask ...", flush=True)
    result = asyncio.run(run_load(url, questions, args.concurrency, args.duration, args.timeout, headers,
                                  offset=warm.next))
    s = summarize(result, args, {**extra, "new_questions": not args.questions and result.next <= len(questions)})
    print(f"requests/s {s['rps']}  (ok {s['ok']}, errors {s['errors']} {s['error_kinds'] or ''}) "
          f"[load average {s['load_avg_1m']}]")
    print(f"latency ms p50 {s['p50_ms']}  p95 {s['p95_ms']}  p99 {s['p99_ms']}  max {s['max_ms']}")
    print(f"abstained {s['abstained']}; every question new: {s['new_questions']}{target_text(s)}")
    print(json.dumps(s), flush=True)
    return s


def drop_scratch(tmp: Path, keep: bool) -> None:
    """Remove the run's temp dir, or say where it was kept (``--keep``)."""
    if keep:
        print(f"data dir and server log kept in {tmp}", file=sys.stderr)
    else:
        shutil.rmtree(tmp, ignore_errors=True)


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median run's figures (requests/s and p95 separately), every run's, and the total errors; printed."""
    shared = ("backend", "concurrency", "chunks", "new_questions")
    out = {**{k: runs[0][k] for k in shared if k in runs[0]}, "rps": round(statistics.median(r["rps"] for r in runs), 2),
           "p95_ms": round(statistics.median(r["p95_ms"] for r in runs), 1),
           "p50_ms": round(statistics.median(r["p50_ms"] for r in runs), 1),
           "errors": sum(r["errors"] for r in runs), "load_avg_1m": [r["load_avg_1m"] for r in runs],
           "runs": [{k: r[k] for k in ("rps", "p95_ms", "errors", "load_avg_1m")} for r in runs]}
    with_target(out)
    each = ", ".join(f"{r['rps']} [{r['load_avg_1m']}]" for r in runs)
    print(f"\nmedian of {len(runs)} runs: {out['rps']} requests/s, p95 {out['p95_ms']} ms "
          f"(runs, requests/s [load]: {each}; p95 {min(r['p95_ms'] for r in runs)}-{max(r['p95_ms'] for r in runs)} "
          f"ms; errors {out['errors']}){target_text(out)}")
    print(json.dumps(out), flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    items = load_clapnq()
    passages = items[: args.max_passages]
    base = base_questions(items)
    questions = base[: args.questions] if args.questions else distinct_questions(base)
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    tmp = Path(tempfile.mkdtemp(prefix="assistant-load-"))
    summaries: list[dict[str, Any]] = []
    try:
        if args.url:
            summaries.append(measure(args.url.rstrip("/"), questions, args, headers, {}))
            return 0 if summaries[-1]["errors"] == 0 else 1
        sizes = [int(x) for x in args.chunks.split(",") if x.strip()] or [0]
        for size in sizes:
            data_dir = args.index or tmp / f"data-{size}"
            env = server_env(data_dir, args.backend)
            extra: dict[str, Any] = {}
            if size and args.index and args.index.is_dir() and any(args.index.iterdir()):
                extra.update(chunks=size)  # reuse an index built before (e.g. bench_query.py --work)
                print(f"reusing the index in {data_dir} ({size} chunks)", flush=True)
            elif size:
                print(f"building an index of {size} chunks in {data_dir} ...", flush=True)
                extra.update(build_scaled_index(size, data_dir, args.max_passages))
            elif not args.index:
                build_corpus(passages, tmp / "corpus")
                print(f"indexing {len(passages) + 1} documents into {data_dir} ...", flush=True)
                report = ingest(tmp / "corpus", env)
                extra.update(documents=report["documents"]["added"], chunks=report["chunks"]["added"],
                             ingest_s=report["wall_s"])
                print(f"  {extra['documents']} documents, {extra['chunks']} chunks in {report['wall_s']} s",
                      flush=True)
            runs = []
            for k in range(max(1, args.runs)):
                run_dir = data_dir
                if args.runs > 1:  # a fresh copy per run: the server writes to its data dir and warms caches
                    run_dir = tmp / f"run-{size}-{k}"
                    shutil.copytree(data_dir, run_dir)
                port = free_port()
                proc = start_server(server_env(run_dir, args.backend), port, tmp / f"server-{size}-{k}.log")
                try:
                    wait_ready(f"http://127.0.0.1:{port}", proc)
                    runs.append(measure(f"http://127.0.0.1:{port}", questions, args, headers, extra))
                finally:
                    stop_process(proc)
                    if run_dir != data_dir:
                        shutil.rmtree(run_dir, ignore_errors=True)
            summaries.append(runs[0] if len(runs) == 1 else median_of(runs))
            if not args.keep and not args.index:
                shutil.rmtree(data_dir, ignore_errors=True)
        if len(summaries) > 1:
            print("\n| chunks | requests/s | p50 / p95 (ms) | errors | load average |")
            print("|---:|---:|---:|---:|---:|")
            for s in summaries:
                print(f"| {s.get('chunks', '?'):,} | {s['rps']} | {s['p50_ms']} / {s['p95_ms']} | {s['errors']} | "
                      f"{s['load_avg_1m']} |")
        return 0 if all(s["errors"] == 0 for s in summaries) else 1
    finally:
        drop_scratch(tmp, args.keep)


if __name__ == "__main__":
    raise SystemExit(main())
