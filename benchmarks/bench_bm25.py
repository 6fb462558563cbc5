"""BM25 snapshot cost per API worker: the full build, and the update after one changed document.

A corpus of ``--chunks`` chunks (10 per document, ~120 words each, cut from the CLAP NQ passages,
each copy tagged so the vocabulary grows like a real corpus; vectors are random unit vectors, since
only BM25 is measured) is written once into a Chroma server (``chroma run``, started here) and kept
under ``--work`` for the next run. Then ``--workers`` API-worker processes run one after the other,
each a real ``Services`` (embedder loaded, extractive backend, connected to the server), and report:

* the full snapshot build (first query) and the RSS after it and after a warm ``ask``;
* the update after one document is replaced (written by that worker: 10 new chunks, one commit);
* the update after one document is deleted;
* a BM25-only query (``BM25Index.top``) and, for comparison, a full build at the new generation;
* ``--bm25s``: the old way's full build (``bm25s`` index of every live chunk's terms).

    .venv/bin/python benchmarks/bench_bm25.py                       # 100k chunks, 2 workers
    .venv/bin/python benchmarks/bench_bm25.py --chunks 2000 --workers 1 --bm25s   # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

import evals.clapnq  # noqa: F401  (imported before tests/ joins sys.path: tests/evals would shadow evals)

REPO_ROOT = Path(__file__).resolve().parent.parent
PER_DOC = 10
WORDS_PER_CHUNK = 120


def rss_mb() -> float:
    return round(psutil.Process().memory_info().rss / 2**20, 1)


def peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB


def chunk_texts(rng: np.random.Generator, words: list[list[str]], copy: int) -> list[str]:
    out = []
    for _ in range(PER_DOC):
        passage = words[int(rng.integers(len(words)))]
        start = int(rng.integers(max(1, len(passage) - WORDS_PER_CHUNK)))
        out.append(" ".join(passage[start : start + WORDS_PER_CHUNK]) + f" copy{copy} batch{copy % 97}")
    return out


def write_doc(store, doc_id: str, version: str, texts: list[str], rng: np.random.Generator) -> None:  # noqa: ANN001
    from ingest.store import ChunkRecord, DocumentCommit

    records, offset = [], 0
    for n, text in enumerate(texts):
        records.append(ChunkRecord(doc_id, version, n, text, offset, offset + len(text), f"/bench/{doc_id}.txt", doc_id))
        offset += len(text) + 1
    vecs = rng.normal(size=(len(texts), 384)).astype(np.float32)
    store.write_chunks(records, vecs / np.linalg.norm(vecs, axis=1, keepdims=True))
    store.commit_documents([DocumentCommit(doc_id, version, f"/bench/{doc_id}.txt", doc_id, " ".join(texts),
                                           len(texts))])


def build_corpus(url: str, chunks: int) -> None:
    """Write ``chunks`` chunks (``PER_DOC`` per document) straight into the server, in big batches."""
    from assistant.settings import Settings
    from evals.clapnq import load_clapnq
    from ingest.store import ChromaStore, ChunkRecord, DocumentCommit

    settings = Settings(chroma={"url": url})
    store = ChromaStore.connect(settings.chroma, settings.chroma_path)
    if store.chunk_count() >= chunks:
        print(f"corpus: {store.chunk_count()} chunks already on the server")
        return
    rng = np.random.default_rng(0)
    words = [item.passage.split() for item in load_clapnq() if len(item.passage.split()) > 40]
    t = time.perf_counter()
    records, commits, texts_all = [], [], []
    for d in range(chunks // PER_DOC):
        doc_id = f"doc{d:07d}"
        texts = chunk_texts(rng, words, d // 60)
        offset = 0
        for n, text in enumerate(texts):
            records.append(ChunkRecord(doc_id, "v1", n, text, offset, offset + len(text), f"/bench/{doc_id}.txt", doc_id))
            offset += len(text) + 1
        commits.append(DocumentCommit(doc_id, "v1", f"/bench/{doc_id}.txt", doc_id, " ".join(texts), PER_DOC))
        texts_all.extend(texts)
        if len(records) >= 5000:
            vecs = rng.normal(size=(len(records), 384)).astype(np.float32)
            store.write_chunks(records, vecs / np.linalg.norm(vecs, axis=1, keepdims=True))
            store.commit_documents(commits)
            records, commits = [], []
            print(f"  {store.chunk_count()} chunks written ({time.perf_counter() - t:.0f} s)", flush=True)
    if records:
        vecs = rng.normal(size=(len(records), 384)).astype(np.float32)
        store.write_chunks(records, vecs / np.linalg.norm(vecs, axis=1, keepdims=True))
        store.commit_documents(commits)
    print(f"corpus: {store.chunk_count()} chunks in {time.perf_counter() - t:.0f} s")


def worker(url: str, index: int, bm25s_too: bool) -> dict[str, float]:
    """One API worker's figures (runs in its own process)."""
    from assistant.services import Services
    from assistant.settings import Settings
    from assistant.text import content_terms
    from evals.clapnq import load_clapnq

    services = Services(Settings(chroma={"url": url}, llm={"backend": "extractive"}, data_dir=REPO_ROOT / "var" / "bench-bm25"))
    retriever = services.engine.retriever
    out: dict[str, float] = {"worker": index, "rss_start_mb": rss_mb()}
    t = time.perf_counter()
    snap = retriever.snapshot()
    out["full_build_s"] = round(time.perf_counter() - t, 3)
    out["chunks"] = snap.chunks
    out["rss_after_build_mb"] = rss_mb()
    questions = [i.question for i in load_clapnq() if i.answerable][:20]
    for q in questions:
        services.engine.ask(q)
    out["rss_after_asks_mb"] = rss_mb()

    rng = np.random.default_rng(100 + index)
    words = [item.passage.split() for item in load_clapnq()]
    store = services.store
    target = sorted(snap.live)[len(snap.live) // 2 + index]
    write_doc(store, target, f"w{index}-{time.time_ns()}", chunk_texts(rng, words, 10_000 + index), rng)
    t = time.perf_counter()
    snap = retriever.snapshot()
    out["update_replace_1_doc_s"] = round(time.perf_counter() - t, 3)

    victim = sorted(snap.live)[index]
    store.delete_document(victim)
    t = time.perf_counter()
    snap = retriever.snapshot()
    out["update_delete_1_doc_s"] = round(time.perf_counter() - t, 3)

    terms = [content_terms(q, drop_question_words=True) for q in questions]
    t = time.perf_counter()
    for q in terms:
        snap.bm25.top(q, 30)
    out["bm25_query_ms"] = round((time.perf_counter() - t) / len(terms) * 1000, 2)
    t = time.perf_counter()
    full = retriever.build(snap.generation)
    out["full_build_again_s"] = round(time.perf_counter() - t, 3)
    assert full.bm25.top(terms[0], 30) == snap.bm25.top(terms[0], 30), "update differs from a full build"
    del full
    out["rss_end_mb"] = rss_mb()
    out["peak_rss_mb"] = peak_mb()
    if bm25s_too:
        import bm25s

        live = snap.live
        t = time.perf_counter()
        tokens = [content_terms(text) or ["\u2205"] for _, meta, text in store.iter_chunks()
                  if live.get(str(meta.get("doc_id"))) == meta.get("version")]
        index_ = bm25s.BM25()
        index_.index(tokens, show_progress=False)
        out["bm25s_full_build_s"] = round(time.perf_counter() - t, 3)
    return out


def start_server(path: Path) -> Any:
    """A ``chroma run`` on ``path`` (``.url``, ``.proc``, ``.stop()``): the tests' one way to start it."""
    sys.path.insert(0, str(REPO_ROOT))  # the regular packages (ingest, evals) win over tests/ingest, tests/evals
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from chroma_proc import ChromaProcess

    chroma = ChromaProcess(path)
    chroma.start(timeout=60)
    return chroma


def server_rss_mb(proc: subprocess.Popen[bytes]) -> float:
    p = psutil.Process(proc.pid)
    return round(sum(c.memory_info().rss for c in [p, *p.children(recursive=True)]) / 2**20, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=2, help="API worker processes, run one after the other")
    ap.add_argument("--work", type=Path, default=None, help="server data (kept; default var/bench-bm25/<chunks>)")
    ap.add_argument("--bm25s", action="store_true", help="also time the old full bm25s build")
    ap.add_argument("--worker", type=str, default="", help=argparse.SUPPRESS)  # internal: URL,index,bm25s
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the Chroma server on SIGTERM too
    if args.worker:
        url, index, flag = args.worker.split(",")
        print(json.dumps(worker(url, int(index), flag == "1")))
        return
    work = args.work or REPO_ROOT / "var" / "bench-bm25" / str(args.chunks)
    chroma = start_server(work / "chroma")
    url, proc = chroma.url, chroma.proc
    try:
        build_corpus(url, args.chunks)
        print(f"chroma server RSS {server_rss_mb(proc)} MB, disk {du_mb(work / 'chroma')} MB")
        rows = []
        for i in range(args.workers):
            res = subprocess.run([sys.executable, __file__, "--worker", f"{url},{i},{int(args.bm25s)}"],
                                 capture_output=True, text=True, check=False,
                                 env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
            if res.returncode:
                sys.exit(f"worker {i} failed:\n{res.stderr[-3000:]}")
            rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
        print(f"chroma server RSS after the workers {server_rss_mb(proc)} MB")
    finally:
        chroma.stop(timeout=30)
    keys = list(rows[0])
    print("\n| figure | " + " | ".join(f"worker {r['worker']}" for r in rows) + " |")
    print("|---|" + "---|" * len(rows))
    for k in keys[1:]:
        print(f"| {k} | " + " | ".join(str(r[k]) for r in rows) + " |")


def du_mb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20, 1)


if __name__ == "__main__":
    main()
