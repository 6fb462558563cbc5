"""Query-side latency: retrieval + evidence selection and the extractive answer at 1k/10k/100k
chunks, and the local LLM's time to first token and total time on the sample questions.

Large indexes are built from the CLAP NQ passages: their chunks are embedded once for real, then
replicated (text tagged with a copy number, embedding jittered by small noise and re-normalised) and
written straight into Chroma through ``ChromaStore``, so 100k chunks take minutes, not hours.
Queries are the CLAP NQ questions, timed end to end through ``AnswerEngine`` (warm process).

    python benchmarks/query.py                       # 1k, 10k, 100k + local LLM
    python benchmarks/query.py --sizes 1000 --no-llm # quick
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

# this folder holds benchmarks/ingest.py, which would shadow the ``ingest`` package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402
import psutil  # noqa: E402

from assistant.services import build_services  # noqa: E402
from assistant.settings import Settings  # noqa: E402
from evals.clapnq import load_clapnq  # noqa: E402
from ingest.store import ChunkRecord  # noqa: E402

SAMPLE_QUESTIONS = [
    "What did South Korea do in response?",
    "How many North Korean soldiers might be stationed near Kursk?",
    "Who is Ukraine's defense minister?",
    "What treaty are Russian lawmakers expected to vote on?",
    "What might sanctions extend to?",
]


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)) * 1000, 1)


def build_index(data_dir: Path, size: int, base: list[tuple[str, str, str, int, int]], vectors: np.ndarray,
                rng: np.random.Generator):  # noqa: ANN201
    services = build_services(Settings(data_dir=data_dir, llm={"backend": "extractive"}))
    store = services.store
    per_doc: dict[str, list[int]] = {}
    for i, (doc, *_rest) in enumerate(base):
        per_doc.setdefault(doc, []).append(i)
    docs = list(per_doc.items())
    written, copy = 0, 0
    records: list[ChunkRecord] = []
    vecs: list[np.ndarray] = []
    commits: list[dict] = []

    def flush() -> None:
        if records:
            store.write_chunks(records, np.concatenate(vecs))
            store.commit_documents(commits)
        records.clear(), vecs.clear(), commits.clear()

    while written < size:
        for doc, rows in docs:
            if written >= size:
                break
            doc_id = f"{doc}-c{copy}"
            text_parts = []
            offset = 0
            for n, i in enumerate(rows):
                chunk = f"{base[i][2]} (copy {copy})" if copy else base[i][2]
                records.append(ChunkRecord(doc_id, "v1", n, chunk, offset, offset + len(chunk), f"/bench/{doc_id}.txt", base[i][1]))
                text_parts.append(chunk)
                offset += len(chunk) + 1
            vec = vectors[rows] + (rng.normal(0, 0.02, (len(rows), vectors.shape[1])) if copy else 0)
            vecs.append((vec / np.linalg.norm(vec, axis=1, keepdims=True)).astype(np.float32))
            commits.append({"doc_id": doc_id, "version": "v1", "source": f"/bench/{doc_id}.txt",
                            "title": base[rows[0]][1], "text": " ".join(text_parts), "chunks": len(rows)})
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

    base_services = build_services(Settings(data_dir=work / "base", llm={"backend": "extractive"}))
    chunker = base_services.ingestor.chunker
    base = []
    for item in items:
        for text, s, e in chunker.split(item.document_text):
            base.append((item.filename, item.title, text, s, e))
    t = time.perf_counter()
    vectors = base_services.embedder.embed([b[2] for b in base])
    print(f"embedded {len(base)} base chunks in {time.perf_counter() - t:.1f} s")

    results = []
    for size in [int(s) for s in args.sizes.split(",")]:
        t = time.perf_counter()
        services = build_index(work / f"n{size}", size, base, vectors, rng)
        engine = services.engine
        engine.prepare(questions[0])  # warm: BM25 snapshot, caches
        build_s = time.perf_counter() - t
        prep, ext = [], []
        for q in questions:
            t0 = time.perf_counter()
            engine.prepare(q)
            prep.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            engine.ask(q)
            ext.append(time.perf_counter() - t0)
        row = {"chunks": services.store.chunk_count(), "build_s": round(build_s, 1),
               "retrieve_select_p50_ms": pct(prep, 50), "retrieve_select_p95_ms": pct(prep, 95),
               "extractive_p50_ms": pct(ext, 50), "extractive_p95_ms": pct(ext, 95)}
        results.append(row)
        print(json.dumps(row), flush=True)

    llm_row = None
    if not args.no_llm:
        repo = Path(__file__).resolve().parent.parent
        settings = Settings(data_dir=work / "sample", llm={"backend": "local"})
        services = build_services(settings)
        services.ingestor.ingest([repo / "data" / "sample"])
        engine = services.engine
        t = time.perf_counter()
        engine.ask("warm-up: what is this document about?")  # loads the model
        load_s = time.perf_counter() - t
        ttft, total = [], []
        for q in SAMPLE_QUESTIONS:
            t0 = time.perf_counter()
            first = None
            for item in engine.stream(q):
                if first is None and isinstance(item, str):
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
