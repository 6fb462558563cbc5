"""CPU cost of one NEW question, and where it goes: ``AnswerEngine.ask`` alone, or ``POST /v1/ask`` through
the real FastAPI app in process (routing, validation, the thread hop, serialisation), on an existing index.

Every measured question is asked once (the ``bench_load`` pool: CLAP NQ questions, then behind neutral
lead-ins), after ``--warmup`` others. CPU time is ``time.process_time`` (all threads of the process), which
moves less with machine load than wall time; ``--profile`` adds cProfile (timed in CPU time too) and prints
the top functions.

    .venv/bin/python benchmarks/profile_ask.py --index /path/to/data_dir --questions 300
    .venv/bin/python benchmarks/profile_ask.py --index DIR --api --profile /tmp/api.prof
    .venv/bin/python benchmarks/profile_ask.py --index DIR --server            # `assistant serve`, its CPU per request
    .venv/bin/python benchmarks/profile_ask.py --index DIR --server --py-spy "$(command -v py-spy)" --spy-out /tmp/s.txt

``--server`` starts ``assistant serve`` (with the UI, as ``bench_load.py`` does) on a free loopback port and counts
the server process's own CPU (``psutil``), so the client's cost is left out; ``--py-spy`` samples it meanwhile
(py-spy is not a dependency: pass its path).

The index is opened read-write by Chroma: point ``--index`` at a copy (e.g. of a ``bench_query.py --work`` dir).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_load import (  # noqa: E402
    base_questions,
    distinct_questions,
    free_port,
    run_load,
    server_env,
    start_server,
    stop_process,
    wait_ready,
)

from assistant.services import Services  # noqa: E402
from assistant.settings import Settings  # noqa: E402
from evals.clapnq import load_clapnq  # noqa: E402


def question_pool() -> list[str]:
    return distinct_questions(base_questions(load_clapnq()))


def run_engine(services: Services, questions: list[str]) -> None:
    engine = services.engine
    for q in questions:
        engine.ask(q).to_json()


def run_api(services: Services, questions: list[str], concurrency: int) -> None:
    from assistant.api.app import create_app

    app = create_app(services, ui=False)

    async def go() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            todo = iter(questions)

            async def client() -> None:
                for q in todo:
                    resp = await http.post("/v1/ask", json={"question": q})
                    if resp.status_code != 200:
                        raise SystemExit(f"HTTP {resp.status_code}: {resp.text[:300]}")

            await asyncio.gather(*(client() for _ in range(concurrency)))

    asyncio.run(go())


def run_server(args: argparse.Namespace, warm: list[str], measured: list[str]) -> int:
    """CPU of the ``assistant serve`` process per request, the client running here (in another process)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = Path(tempfile.mkdtemp(prefix="profile-ask-")) / "server.log"
    proc = start_server(server_env(args.index, "extractive"), port, log)
    spy: subprocess.Popen[bytes] | None = None
    try:
        wait_ready(url, proc)
        big = 10_000.0  # the runs below end when their questions do (run_load walks the list once per request)
        first = asyncio.run(run_load(url, warm, args.concurrency, big, 180, {}, stop_after=len(warm)))
        if first.errors:
            raise SystemExit(f"warm-up errors: {dict(first.errors)}; see {log}")
        server = psutil.Process(proc.pid)
        if args.py_spy:
            spy = subprocess.Popen([args.py_spy, "record", "-r", "250", "-f", "raw", "-o", str(args.spy_out),
                                    "--pid", str(proc.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
        me = psutil.Process()
        before, mine, wall = server.cpu_times(), me.cpu_times(), time.perf_counter()
        result = asyncio.run(run_load(url, measured, args.concurrency, big, 180, {}, stop_after=len(measured)))
        after, mine_after, wall = server.cpu_times(), me.cpu_times(), time.perf_counter() - wall
        cpu = (after.user - before.user) + (after.system - before.system)
        client_cpu = (mine_after.user - mine.user) + (mine_after.system - mine.system)
        n = len(result.latencies)
        print(f"server: {n} new questions ({dict(result.errors) or 'no errors'}), {args.concurrency} clients, "
              f"server CPU {1000 * cpu / max(1, n):.1f} ms/request (user {1000 * (after.user - before.user) / max(1, n):.1f}), "
              f"client CPU {1000 * client_cpu / max(1, n):.1f} ms/request, {n / wall:.1f} requests/s")
        return 0 if not result.errors else 1
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        stop_process(proc)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--index", type=Path, required=True, help="data dir of an indexed copy")
    p.add_argument("--questions", type=int, default=300, help="measured new questions (default 300)")
    p.add_argument("--warmup", type=int, default=20, help="new questions asked first, unmeasured (default 20)")
    p.add_argument("--offset", type=int, default=0, help="start this far into the question pool")
    p.add_argument("--api", action="store_true", help="through POST /v1/ask (in-process ASGI client)")
    p.add_argument("--concurrency", type=int, default=8, help="--api, --server: concurrent clients")
    p.add_argument("--server", action="store_true", help="through a real `assistant serve` subprocess")
    p.add_argument("--py-spy", help="--server: path of a py-spy binary to sample the server with")
    p.add_argument("--spy-out", type=Path, default=Path("/tmp/profile-ask-spy.txt"), help="--py-spy output (raw)")
    p.add_argument("--profile", type=Path, help="write cProfile stats here and print the top functions")
    p.add_argument("--top", type=int, default=30)
    args = p.parse_args(argv)
    pool = question_pool()[args.offset :]
    warm, measured = pool[: args.warmup], pool[args.warmup : args.warmup + args.questions]
    if args.server:
        return run_server(args, warm, measured)
    services = Services(Settings(data_dir=args.index, llm={"backend": "extractive"}))

    def run(qs: list[str]) -> None:
        if args.api:
            run_api(services, qs, args.concurrency)
        else:
            run_engine(services, qs)

    run(warm)
    prof = cProfile.Profile(time.process_time) if args.profile else None  # CPU time, not wall
    cpu, wall = time.process_time(), time.perf_counter()
    if prof:
        prof.enable()
    run(measured)
    if prof:
        prof.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"{'api' if args.api else 'engine'}: {len(measured)} new questions, "
          f"CPU {1000 * cpu / len(measured):.1f} ms/question, wall {1000 * wall / len(measured):.1f} ms/question"
          + (" (under cProfile)" if prof else ""))
    print("store caches:", json.dumps(services.store.cache_stats()))
    if prof and args.profile:
        prof.dump_stats(str(args.profile))
        stats = pstats.Stats(str(args.profile))
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
