"""Query-side latency for NEW questions: retrieval + evidence selection and the extractive answer at
1k/10k/100k chunks, and the local LLM's time to first token and total time on the sample questions.

Large indexes are built from the CLAP NQ passages: their chunks are embedded once for real (with their
sentences' late-chunking vectors, as ``assistant ingest`` stores them), then replicated (text tagged with
a copy number, embeddings jittered by small noise and re-normalised) and written straight into Chroma
through ``ChromaStore``, so 100k chunks take minutes, not hours. Every timed question is asked once only
(no cache can help): ``prepare`` is timed on one set of distinct CLAP NQ questions and ``ask`` on another,
through ``AnswerEngine`` in a warm process; each figure is printed with the 1-minute load average.
The passages and questions are the shipped ``evals/data/clapnq_dev.jsonl`` (``evals.clapnq.load_clapnq``).
Targets (issue 10): retrieval + evidence p95 <= 80 ms at 10k chunks, <= 150 ms at 100k.

    .venv/bin/python benchmarks/bench_query.py                        # 1k, 10k, 100k + local LLM
    .venv/bin/python benchmarks/bench_query.py --sizes 1000 --no-llm  # quick
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

from assistant.services import Services
from assistant.settings import Settings
from assistant.text import sentence_spans
from evals.clapnq import load_clapnq
from ingest.embedder import Embedder
from ingest.sentences import SentenceRecord, owners
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
                embedder: Embedder, sentence_vectors: dict[str, np.ndarray]) -> Services:
    """An index of about ``size`` chunks: ``base`` and jittered copies of it, written straight to Chroma, with a
    vector for every sentence (the base sentence's, by text, else its chunk's)."""
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
    sentences: list[SentenceRecord] = []
    svecs: list[np.ndarray] = []

    def flush() -> None:
        if records:
            store.write_chunks(records, np.concatenate(vecs))
            store.write_sentences(sentences, np.stack(svecs))
            store.commit_documents(commits)
        for pending in (records, vecs, commits, sentences, svecs):
            pending.clear()

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
            vec = (vec / np.linalg.norm(vec, axis=1, keepdims=True)).astype(np.float32)
            vecs.append(vec)
            text = " ".join(text_parts)
            spans = sentence_spans(text)
            chunk_spans = [(r.start, r.end) for r in records[len(records) - len(rows):]]
            for (a, b), k in zip(spans, owners(spans, chunk_spans), strict=True):
                sentences.append(SentenceRecord(doc_id, "v1", a, b))
                svecs.append(sentence_vectors.get(text[a:b].removesuffix(f" (copy {copy})"), vec[max(k, 0)]))
            commits.append(DocumentCommit(doc_id=doc_id, version="v1", source=f"/bench/{doc_id}.txt",
                                          title=base[rows[0]][1], text=text, chunks=len(rows)))
            written += len(rows)
            if len(records) >= 2000:
                flush()
        copy += 1
    flush()
    return services


def base_chunks(embedder: Embedder, data_dir: Path, limit: int = 0
                ) -> tuple[list[BaseChunk], np.ndarray, dict[str, np.ndarray]]:
    """The CLAP NQ passages' chunks (the first ``limit`` passages; 0 = all), their vectors, and their
    sentences' late-chunking vectors (by sentence text)."""
    chunker = Services(Settings(data_dir=data_dir, llm={"backend": "extractive"}), embedder=embedder).ingestor.chunker
    base: list[BaseChunk] = []
    held: list[list[tuple[int, int]]] = []  # per base chunk: its sentences' spans inside it
    items = load_clapnq()
    for item in items[:limit] if limit else items:
        doc = item.document_text
        pieces = chunker.split(doc)
        spans = sentence_spans(doc)
        mine: list[list[tuple[int, int]]] = [[] for _ in pieces]
        for (a, b), k in zip(spans, owners(spans, [(s, e) for _, s, e in pieces]), strict=True):
            if k >= 0:
                mine[k].append((a, b))
        for (text, s, e), own in zip(pieces, mine, strict=True):
            base.append((item.filename, item.title, text, s, e))
            held.append([(max(a, s) - s, min(b, e) - s) for a, b in own])
    t = time.perf_counter()
    vectors, pooled = embedder.embed_spans([b[2] for b in base], held)  # type: ignore[attr-defined]
    sentence_vectors = {b[2][x:y]: v for b, spans_, mat in zip(base, held, pooled, strict=True)
                        for (x, y), v in zip(spans_, mat, strict=True)}
    print(f"embedded {len(base)} base chunks and {len(sentence_vectors)} sentences in {time.perf_counter() - t:.1f} s")
    return base, vectors, sentence_vectors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000,100000", help="index sizes in chunks")
    ap.add_argument("--queries", type=int, default=100, help="new questions timed per size and measure (at most 300)")
    ap.add_argument("--no-llm", action="store_true", help="skip the local LLM part")
    ap.add_argument("--work", type=Path, default=None, help="keep indexes here (default: a temp dir)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-query-"))
    rng = np.random.default_rng(0)
    items = load_clapnq()
    pool = list(dict.fromkeys(i.question for i in items))  # 600 distinct questions
    n_q = min(args.queries, (len(pool) - 1) // 2)

    embedder = Services(Settings(data_dir=work / "base", llm={"backend": "extractive"})).embedder  # shared below
    base, vectors, sentence_vectors = base_chunks(embedder, work / "base")

    results: list[dict[str, float]] = []
    for size in [int(s) for s in args.sizes.split(",")]:
        t = time.perf_counter()
        services = build_index(work / f"n{size}", size, base, vectors, rng, embedder, sentence_vectors)
        engine = services.engine
        engine.prepare(pool[-1])  # warm: BM25 snapshot (this question is never timed)
        build_s = time.perf_counter() - t
        prep: list[float] = []
        ext: list[float] = []
        for q in pool[:n_q]:  # every question new to the process
            t0 = time.perf_counter()
            engine.prepare(q)
            prep.append(time.perf_counter() - t0)
        prep_load = round(os.getloadavg()[0], 2)
        for q in pool[n_q : 2 * n_q]:  # and new again: not the ones prepared above
            t0 = time.perf_counter()
            engine.ask(q)
            ext.append(time.perf_counter() - t0)
        row: dict[str, float] = {"chunks": services.store.chunk_count(), "build_s": round(build_s, 1),
               "new_questions": n_q,
               "retrieve_select_p50_ms": pct(prep, 50), "retrieve_select_p95_ms": pct(prep, 95),
               "retrieve_select_load": prep_load,
               "extractive_p50_ms": pct(ext, 50), "extractive_p95_ms": pct(ext, 95),
               "extractive_load": round(os.getloadavg()[0], 2)}
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

    print("\nNew questions (each asked once), 1-minute load average in brackets:")
    print("| chunks | retrieve+select p50 / p95 (ms) | extractive answer p50 / p95 (ms) |")
    print("|---:|---:|---:|")
    for r in results:
        print(f"| {r['chunks']:,} | {r['retrieve_select_p50_ms']} / {r['retrieve_select_p95_ms']} "
              f"[{r['retrieve_select_load']}] | {r['extractive_p50_ms']} / {r['extractive_p95_ms']} "
              f"[{r['extractive_load']}] |")
    if llm_row:
        print(f"\nlocal LLM on the sample questions: first token p50 {llm_row['ttft_p50_s']} s "
              f"(max {llm_row['ttft_max_s']} s), total p50 {llm_row['total_p50_s']} s, RSS {llm_row['rss_gb']} GB")


if __name__ == "__main__":
    main()
