"""Soak: minutes of mixed traffic against a real server, then memory growth and index invariants.

Builds a throw-away index (the sample article plus CLAP NQ passages), starts ``assistant serve`` on a free
loopback port, and runs ``--clients`` clients for ``--minutes``: each loops over a weighted mix of
ask (``POST /v1/ask``), stream (``POST /v1/ask/stream``, read to its final event), list (``GET /v1/documents``),
upload (a small generated document) and delete (one the soak uploaded). It samples the server's RSS at the
start, after ``--warmup`` seconds and at the end, prints requests, errors, 5xx, 429s, p50/p95 per kind and
one JSON line, then stops the server and checks the index invariants (no orphan or duplicate chunks,
every chunk ``doc_text[start:end]``, chunk counts as the ledger says).

    .venv/bin/python benchmarks/soak.py                                   # extractive, 8 clients, 10 min
    .venv/bin/python benchmarks/soak.py --backend local --clients 3       # the local LLM, 3 clients
    .venv/bin/python benchmarks/soak.py --minutes 0.5 --warmup 10         # a 30 s smoke run

Exit code 0 when there was no 5xx, no transport error, RSS grew less than 10 % after warm-up and the
invariants hold; 1 otherwise. Loopback only; not a test (the lead runs it on a quiet machine).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
from bench_load import (
    SAMPLE_QUESTIONS,
    build_corpus,
    drop_scratch,
    ingest,
    percentile,
    server_env,
    start_server,
    wait_ready,
)
from servers import free_port, stop_process

from evals.clapnq import load_clapnq

MIX = {"ask": 50, "stream": 20, "list": 10, "upload": 10, "delete": 10}
RSS_GROWTH_LIMIT = 0.10


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", choices=["extractive", "local"], default="extractive")
    p.add_argument("--clients", type=int, default=0, help="concurrent clients (default: 8 extractive, 3 local)")
    p.add_argument("--minutes", type=float, default=10.0, help="minutes of load, warm-up included (default: 10)")
    p.add_argument("--warmup", type=float, default=60.0, help="seconds before the 'after warm-up' RSS sample")
    p.add_argument("--max-passages", type=int, default=300, help="CLAP NQ passages to index (default: 300)")
    p.add_argument("--timeout", type=float, default=300.0, help="per-request timeout in seconds")
    p.add_argument("--keep", action="store_true", help="keep the temp data dir and the server log")
    args = p.parse_args(argv)
    args.clients = args.clients or (8 if args.backend == "extractive" else 3)
    if not 0 < args.minutes <= 24 * 60 or not 1 <= args.clients <= 64:
        p.error("--minutes must be within (0, 1440] and --clients within 1..64")
    return args


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` (Linux ``/proc``), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Soak:
    def __init__(self, url: str, questions: list[str], timeout: float) -> None:
        self.url = url
        self.questions = questions
        self.timeout = timeout
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.status: Counter[str] = Counter()  # "kind status" -> count
        self.failures: Counter[str] = Counter()  # transport errors, torn streams
        self.uploaded: list[str] = []
        self.counter = 0

    async def one(self, http: httpx.AsyncClient, kind: str, rng: random.Random) -> None:
        question = self.questions[self.counter % len(self.questions)]
        self.counter += 1
        started = time.perf_counter()
        try:
            if kind == "ask":
                resp = await http.post("/v1/ask", json={"question": question})
            elif kind == "stream":
                async with http.stream("POST", "/v1/ask/stream", json={"question": question}) as resp:
                    body = "".join([chunk async for chunk in resp.aiter_text()])
                if resp.status_code == 200 and not ("event: answer" in body or "event: error" in body):
                    self.failures["torn_stream"] += 1
            elif kind == "list":
                resp = await http.get("/v1/documents")
            elif kind == "upload":
                n = rng.randrange(10**9)
                text = (f"Soak note {n}. The depot at Lindmark{n} stored {n % 97} crates of apples. "
                        f"The crates were counted by inspector Halvard{n} on a Tuesday.")
                resp = await http.post("/v1/documents", files={"files": (f"soak-{n}.txt", text.encode(), "text/plain")})
                if resp.status_code == 200:
                    self.uploaded.extend(resp.json().get("document_ids", []))
            else:
                if not self.uploaded:
                    return
                doc_id = self.uploaded.pop(rng.randrange(len(self.uploaded)))
                resp = await http.delete(f"/v1/documents/{doc_id}")
        except httpx.HTTPError as exc:
            self.failures[f"{kind} {type(exc).__name__}"] += 1
            return
        self.status[f"{kind} {resp.status_code}"] += 1
        if resp.status_code < 400:
            self.latency[kind].append(time.perf_counter() - started)

    async def run(self, clients: int, seconds: float, seed: int = 0) -> None:
        end = time.monotonic() + seconds
        kinds, weights = list(MIX), list(MIX.values())

        async def client(i: int, http: httpx.AsyncClient) -> None:
            rng = random.Random(seed * 1000 + i)
            while time.monotonic() < end:
                await self.one(http, rng.choices(kinds, weights)[0], rng)

        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(base_url=self.url, timeout=self.timeout, limits=limits) as http:
            await asyncio.gather(*(client(i, http) for i in range(clients)))


def check_invariants(data_dir: Path) -> dict[str, Any]:
    """The index invariants of ``tests/conftest.py::check_index``, on the embedded index (server stopped)."""
    from assistant.settings import Settings
    from ingest.store import ChromaStore

    settings = Settings(data_dir=data_dir)
    store = ChromaStore.connect(settings.chroma, settings.chroma_path)
    ledger = store.docs()
    texts = store.doc_texts(ledger)
    problems: list[str] = []
    seen: set[str] = set()
    spans: set[tuple[str, int, int]] = set()
    per_doc: Counter[str] = Counter()
    for cid, meta, text in store.all_chunks():
        doc = ledger.get(meta["doc_id"])
        span = (meta["doc_id"], meta["start"], meta["end"])
        if cid in seen or span in spans:
            problems.append(f"duplicate chunk {cid}")
        seen.add(cid)
        spans.add(span)
        if doc is None or meta["version"] != doc.version:
            problems.append(f"orphan chunk {cid}")
        elif texts[meta["doc_id"]][meta["start"]:meta["end"]] != text:
            problems.append(f"chunk {cid} is not doc_text[start:end]")
        per_doc[meta["doc_id"]] += 1
    problems += [f"{d.source}: {per_doc[i]} chunks, ledger says {d.chunks}" for i, d in ledger.items()
                 if per_doc[i] != d.chunks]
    return {"documents": len(ledger), "chunks": len(seen), "problems": problems[:20], "ok": not problems}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    items = load_clapnq()
    questions = [i.question for i in items] + SAMPLE_QUESTIONS
    random.Random(0).shuffle(questions)
    tmp = Path(tempfile.mkdtemp(prefix="assistant-soak-"))
    data_dir = tmp / "data"
    env = server_env(data_dir, args.backend)
    proc = None
    try:
        build_corpus(items[: args.max_passages], tmp / "corpus")
        print(f"indexing {args.max_passages + 1} documents ...", flush=True)
        report = ingest(tmp / "corpus", env)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = start_server(env, port, tmp / "server.log")
        wait_ready(url, proc)
        soak = Soak(url, questions, args.timeout)
        total = args.minutes * 60
        warmup = min(args.warmup, total / 2)
        rss = {"start": rss_mb(proc.pid)}
        print(f"soak: {args.clients} clients x {total:.0f} s, backend {args.backend}, mix {MIX}", flush=True)
        asyncio.run(soak.run(args.clients, warmup, seed=1))
        rss["after_warmup"] = rss_mb(proc.pid)
        asyncio.run(soak.run(args.clients, total - warmup, seed=2))
        rss["end"] = rss_mb(proc.pid)
        stop_process(proc, timeout=30)
        invariants = check_invariants(data_dir)

        requests = sum(soak.status.values()) + sum(soak.failures.values())
        server_errors = sum(n for k, n in soak.status.items() if k.split()[1].startswith("5"))
        busy = sum(n for k, n in soak.status.items() if k.endswith(" 429"))
        client_errors = sum(n for k, n in soak.status.items() if k.split()[1].startswith("4")) - busy
        growth = (rss["end"] - rss["after_warmup"]) / rss["after_warmup"]
        summary = {
            "backend": args.backend, "clients": args.clients, "seconds": round(total),
            "documents_indexed": report["documents"]["added"], "requests": requests,
            "errors": server_errors + client_errors + sum(soak.failures.values()), "5xx": server_errors,
            "429": busy, "4xx_other": client_errors, "transport_or_torn": dict(soak.failures),
            "status": dict(sorted(soak.status.items())),
            "latency_ms": {k: {"n": len(v), "p50": round(percentile(v, 50) * 1000, 1),
                               "p95": round(percentile(v, 95) * 1000, 1)} for k, v in sorted(soak.latency.items())},
            "rss_mb": {k: round(v, 1) for k, v in rss.items()}, "rss_growth_after_warmup": round(growth, 4),
            "invariants": invariants,
        }
        print(f"requests {requests}, errors {summary['errors']} (5xx {server_errors}, 429 {busy}, "
              f"other 4xx {client_errors}, transport/torn {sum(soak.failures.values())})")
        for kind, lat in summary["latency_ms"].items():
            print(f"  {kind:7s} n {lat['n']:6d}  p50 {lat['p50']:8.1f} ms  p95 {lat['p95']:8.1f} ms")
        print(f"RSS MB start {rss['start']:.0f}, after warm-up {rss['after_warmup']:.0f}, end {rss['end']:.0f} "
              f"(growth after warm-up {growth:+.1%}, limit {RSS_GROWTH_LIMIT:.0%})")
        print(f"index: {invariants['documents']} documents, {invariants['chunks']} chunks, invariants "
              f"{'hold' if invariants['ok'] else 'BROKEN: ' + '; '.join(invariants['problems'])}")
        print(json.dumps(summary))
        ok = server_errors == 0 and not soak.failures and growth < RSS_GROWTH_LIMIT and invariants["ok"]
        return 0 if ok else 1
    finally:
        stop_process(proc)  # never leave the server behind
        drop_scratch(tmp, args.keep)


if __name__ == "__main__":
    raise SystemExit(main())
