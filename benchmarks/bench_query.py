"""Query-side latency: retrieval + evidence selection and the extractive answer at 1k/10k/100k
chunks, and the local LLM's time to first token and total time on the sample questions.

Large indexes are built from the CLAP NQ passages: their chunks are embedded once for real, then
replicated (text tagged with a copy number, embedding jittered by small noise and re-normalised) and
written straight into Chroma through ``ChromaStore``, so 100k chunks take minutes, not hours.
Queries are the CLAP NQ questions, timed end to end through ``AnswerEngine`` (warm process).
The passages and questions are the shipped ``evals/data/clapnq_dev.jsonl`` (``evals.clapnq.load_clapnq``).

    .venv/bin/python benchmarks/bench_query.py                        # 1k, 10k, 100k + local LLM
    .venv/bin/python benchmarks/bench_query.py --sizes 1000 --no-llm  # quick
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

from assistant.services import Services
from assistant.settings import Settings
from evals.clapnq import load_clapnq
from ingest.embedder import Embedder
from ingest.store import ChunkRecord, DocumentCommit

REPO_ROOT = Path(__file__).resolve().parent.parent
BaseChunk = tuple[str, str, str, int, int]  # (file name, title, chunk text, start, end)

SAMPLE_QUESTIONS = [
    "What did South Korea do in response?",
    "How many North Korean soldiers might be stationed near Kursk?",
    "Who is Ukraine's defense minister?",
    "What treaty are Russian lawmakers expected to vote on?",
    "What might sanctions extend to?",
]


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)) * 1000, 1)


def build_index(data_dir: Path, size: int, base: list[BaseChunk], vectors: np.ndarray, rng: np.random.Generator,
                embedder: Embedder) -> Services:
    """An index of about ``size`` chunks: ``base`` and jittered copies of it, written straight to Chroma."""
    services = Services(Settings(data_dir=data_dir, llm={"backend": "extractive"}), embedder=embedder)
    store = services.store
    per_doc: dict[str, list[int]] = {}
    for i, (doc, *_rest) in enumerate(base):
        per_doc.setdefault(doc, []).append(i)
    docs = list(per_doc.items())
    written, copy = 0, 0
    records: list[ChunkRecord] = []
    vecs: list[np.ndarray] = []
    commits: list[DocumentCommit] = []

    def flush() -> None:
        if records:
            store.write_chunks(records, np.concatenate(vecs))
            store.commit_documents(commits)
        records.clear()
        vecs.clear()
        commits.clear()

    while written < size:
        for doc, rows in docs:
            if written >= size:
                break
            doc_id = f"{doc}-c{copy}"
            text_parts: list[str] = []
            offset = 0
            for n, i in enumerate(rows):
                chunk = f"{base[i][2]} (copy {copy})" if copy else base[i][2]
                records.append(ChunkRecord(doc_id, "v1", n, chunk, offset, offset + len(chunk), f"/bench/{doc_id}.txt", base[i][1]))
                text_parts.append(chunk)
                offset += len(chunk) + 1
            vec = vectors[rows] + (rng.normal(0, 0.02, (len(rows), vectors.shape[1])) if copy else 0)
            vecs.append((vec / np.linalg.norm(vec, axis=1, keepdims=True)).astype(np.float32))
            commits.append(DocumentCommit(doc_id=doc_id, version="v1", source=f"/bench/{doc_id}.txt",
                                          title=base[rows[0]][1], text=" ".join(text_parts), chunks=len(rows)))
            written += len(rows)
            if len(records) >= 2000:
                flush()
        copy += 1
    flush()
    return services


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000,100000", help="index sizes in chunks")
    ap.add_argument("--queries", type=int, default=100, help="questions timed per size")
    ap.add_argument("--no-llm", action="store_true", help="skip the local LLM part")
    ap.add_argument("--work", type=Path, default=None, help="keep indexes here (default: a temp dir)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-query-"))
    rng = np.random.default_rng(0)
    items = load_clapnq()
    questions = [i.question for i in items if i.answerable][: args.queries]

    base_services = Services(Settings(data_dir=work / "base", llm={"backend": "extractive"}))
    embedder = base_services.embedder  # loaded once, shared by every index below
    chunker = base_services.ingestor.chunker
    base: list[BaseChunk] = []
    for item in items:
        for text, s, e in chunker.split(item.document_text):
            base.append((item.filename, item.title, text, s, e))
    t = time.perf_counter()
    vectors = embedder.embed([b[2] for b in base])
    print(f"embedded {len(base)} base chunks in {time.perf_counter() - t:.1f} s")

    results: list[dict[str, float]] = []
    for size in [int(s) for s in args.sizes.split(",")]:
        t = time.perf_counter()
        services = build_index(work / f"n{size}", size, base, vectors, rng, embedder)
        engine = services.engine
        engine.prepare(questions[0])  # warm: BM25 snapshot, caches
        build_s = time.perf_counter() - t
        prep: list[float] = []
        ext: list[float] = []
        for q in questions:
            t0 = time.perf_counter()
            engine.prepare(q)
            prep.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            engine.ask(q)
            ext.append(time.perf_counter() - t0)
        row: dict[str, float] = {"chunks": services.store.chunk_count(), "build_s": round(build_s, 1),
               "retrieve_select_p50_ms": pct(prep, 50), "retrieve_select_p95_ms": pct(prep, 95),
               "extractive_p50_ms": pct(ext, 50), "extractive_p95_ms": pct(ext, 95)}
        results.append(row)
        print(json.dumps(row), flush=True)

    llm_row: dict[str, float] | None = None
    if not args.no_llm:
        settings = Settings(data_dir=work / "sample", llm={"backend": "local"})
        services = Services(settings, embedder=embedder)
        services.ingestor.ingest([REPO_ROOT / "data" / "sample"])
        engine = services.engine
        t = time.perf_counter()
        engine.ask("warm-up: what is this document about?")  # loads the model
        load_s = time.perf_counter() - t
        ttft: list[float] = []
        total: list[float] = []
        for q in SAMPLE_QUESTIONS:
            t0 = time.perf_counter()
            first: float | None = None
            for piece in engine.stream(q):
                if first is None and isinstance(piece, str):
                    first = time.perf_counter() - t0
            total.append(time.perf_counter() - t0)
            ttft.append(first if first is not None else total[-1])
        llm_row = {"load_and_first_answer_s": round(load_s, 1), "ttft_p50_s": round(float(np.median(ttft)), 2),
                   "ttft_max_s": round(max(ttft), 2), "total_p50_s": round(float(np.median(total)), 2),
                   "total_max_s": round(max(total), 2), "rss_gb": round(psutil.Process().memory_info().rss / 2**30, 2)}
        print(json.dumps({"local_llm": llm_row}), flush=True)

    print("\n| chunks | retrieve+select p50 / p95 (ms) | extractive answer p50 / p95 (ms) |")
    print("|---:|---:|---:|")
    for r in results:
        print(f"| {r['chunks']:,} | {r['retrieve_select_p50_ms']} / {r['retrieve_select_p95_ms']} | "
              f"{r['extractive_p50_ms']} / {r['extractive_p95_ms']} |")
    if llm_row:
        print(f"\nlocal LLM on the sample questions: first token p50 {llm_row['ttft_p50_s']} s "
              f"(max {llm_row['ttft_max_s']} s), total p50 {llm_row['total_p50_s']} s, RSS {llm_row['rss_gb']} GB")


if __name__ == "__main__":
    main()
