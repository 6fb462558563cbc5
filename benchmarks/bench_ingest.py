"""Ingestion benchmark: our pipeline against the raw embedder and a naive llama-index build.

Builds a corpus of about ``--chunks`` chunks from the 600 CLAP NQ dev passages shipped in
``evals/data/clapnq_dev.jsonl`` (the original passages, written by ``evals.clapnq.write_corpus``,
then copies with their sentences shuffled and a numbered sentence appended), writes it as .txt
files into a temporary folder, and measures:

* end-to-end ingest (``Services(settings).ingestor`` into a fresh embedded Chroma), in chunks/s;
* an unchanged re-ingest of the same folder, in seconds;
* the raw embedder on the same chunk texts (``MiniLMEmbedding.embed``: length-sorted batches);
* a naive llama-index ``VectorStoreIndex`` over the same chunk texts (``TextNode``s, the same
  embedder passed as ``embed_model``, an in-memory ``SimpleVectorStore``; nothing global);
* peak RSS (``ru_maxrss``) after the ingest phases and at the end.

Targets (issue "Foundation and ingestion"): end-to-end >= 1.4x the naive build and >= 85% of the raw
rate; unchanged re-ingest of 5,000 chunks under 5 s; peak RSS under 1.5 GB.

Usage::

    .venv/bin/python benchmarks/bench_ingest.py                 # ~5,000 chunks (several minutes on 2 cores)
    .venv/bin/python benchmarks/bench_ingest.py --chunks 500    # a quick run
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from evals.clapnq import ClapItem, load_clapnq, write_corpus


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Targets: e2e >= 1.4x naive, >= 85%% of raw; unchanged re-ingest < 5 s; RSS < 1.5 GB.")
    p.add_argument("--chunks", type=int, default=5000, help="approximate corpus size in chunks (default 5000)")
    p.add_argument("--batch-size", type=int, default=32, help="embedder batch size (default 32)")
    p.add_argument("--threads", type=int, default=0, help="ONNX threads (default 0 = all cores)")
    p.add_argument("--skip-naive", action="store_true", help="skip the naive llama-index build")
    p.add_argument("--workdir", type=Path, default=None, help="keep the corpus and index here (default: a temp dir, removed)")
    p.add_argument("--seed", type=int, default=13)
    return p.parse_args(argv)


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text) if s]


def build_corpus(items: list[ClapItem], target: int, count_chunks: Callable[[str], int], folder: Path,
                 seed: int) -> tuple[int, int]:
    """The original passages (as many as fit, via ``write_corpus``), then shuffled copies of them, until
    about ``target`` chunks; returns (files, chunks)."""
    rng = random.Random(seed)
    originals: list[ClapItem] = []
    chunks = 0
    for item in items:
        if chunks >= target:
            break
        originals.append(item)
        chunks += count_chunks(item.document_text)
    write_corpus(originals, folder)
    files = len(originals)
    copy = 1
    while chunks < target:
        for item in items:
            if chunks >= target:
                break
            sentences = _sentences(item.passage.strip())
            rng.shuffle(sentences)
            text = " ".join(sentences) + f" This is copy number {copy} of the passage about {item.title}."
            body = f"{item.title}\n\n{text}"
            (folder / f"copy{copy:02d}-{item.filename}").write_text(body, encoding="utf-8")
            files += 1
            chunks += count_chunks(body)
        copy += 1
    return files, chunks


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    items = load_clapnq()

    from assistant.services import Services
    from assistant.settings import Settings
    from ingest.embedder import MiniLMEmbedding

    work = args.workdir or Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    corpus, data_dir = work / "corpus", work / "data"
    for d in (corpus, data_dir):
        if d.exists():
            shutil.rmtree(d)
    settings = Settings(data_dir=data_dir, llm={"backend": "extractive"},
                        embedder={"batch_size": args.batch_size, "threads": args.threads})
    t0 = time.perf_counter()
    embedder = MiniLMEmbedding(batch_size=args.batch_size, threads=args.threads or settings.cpu_threads)
    load_s = time.perf_counter() - t0
    services = Services(settings, embedder=embedder)
    service = services.ingestor
    files, est_chunks = build_corpus(items, args.chunks, lambda t: len(service.chunker.split(t)), corpus, args.seed)
    print(f"corpus: {files} files, ~{est_chunks} chunks in {corpus} (embedder loaded in {load_s:.2f} s)", file=sys.stderr)

    try:
        # 1. end to end
        t0 = time.perf_counter()
        report = service.ingest([corpus])
        e2e_s = time.perf_counter() - t0
        n = report.chunks["added"]
        assert not report.failures, report.failures
        # 2. unchanged re-ingest
        t0 = time.perf_counter()
        again = service.ingest([corpus])
        reingest_s = time.perf_counter() - t0
        assert again.chunks["added"] == 0 and again.documents["unchanged"] == files, again
        rss_ingest = peak_rss_mb()
        # 3. the raw embedder on the same chunk texts
        texts = [text for _, _, text in services.store.all_chunks()]
        assert len(texts) == n
        t0 = time.perf_counter()
        embedder.embed(texts)
        raw_s = time.perf_counter() - t0
        # 4. a naive llama-index build over the same chunk texts, with the same embedder
        naive_s: float | None = None
        if not args.skip_naive:
            from llama_index.core import StorageContext, VectorStoreIndex
            from llama_index.core.schema import TextNode
            from llama_index.core.vector_stores import SimpleVectorStore

            nodes = [TextNode(text=t) for t in texts]
            storage = StorageContext.from_defaults(vector_store=SimpleVectorStore())
            t0 = time.perf_counter()
            VectorStoreIndex(nodes, embed_model=embedder, storage_context=storage, show_progress=False)
            naive_s = time.perf_counter() - t0
            from llama_index.core.settings import Settings as LlamaSettings

            assert LlamaSettings._embed_model is None and LlamaSettings._llm is None, "global Settings touched"
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)

    e2e_rate, raw_rate = n / e2e_s, n / raw_s
    naive_rate = n / naive_s if naive_s else None
    e2e_vs_raw = round(e2e_rate / raw_rate, 3)
    e2e_vs_naive = round(e2e_rate / naive_rate, 3) if naive_rate else None
    peak_mb = round(peak_rss_mb(), 1)
    result: dict[str, float | None] = {
        "files": files, "chunks": n,
        "e2e_s": round(e2e_s, 2), "e2e_chunks_per_s": round(e2e_rate, 2),
        "raw_s": round(raw_s, 2), "raw_chunks_per_s": round(raw_rate, 2),
        "e2e_vs_raw": e2e_vs_raw,
        "naive_s": round(naive_s, 2) if naive_s else None,
        "naive_chunks_per_s": round(naive_rate, 2) if naive_rate else None,
        "e2e_vs_naive": e2e_vs_naive,
        "reingest_unchanged_s": round(reingest_s, 2),
        "peak_rss_mb_ingest": round(rss_ingest, 1), "peak_rss_mb": peak_mb,
    }
    targets: dict[str, bool | None] = {
        "e2e_vs_naive >= 1.4": None if e2e_vs_naive is None else e2e_vs_naive >= 1.4,
        "e2e_vs_raw >= 0.85": e2e_vs_raw >= 0.85,
        "reingest < 5 s (scaled to 5,000 chunks)": reingest_s * 5000 / max(n, 1) < 5,
        "peak RSS < 1.5 GB": peak_mb < 1536,
    }
    rows = [
        ("end-to-end ingest", f"{e2e_s:8.1f} s", f"{e2e_rate:7.1f} chunks/s"),
        ("raw embedder (length-sorted)", f"{raw_s:8.1f} s", f"{raw_rate:7.1f} chunks/s"),
        ("naive llama-index build", f"{naive_s:8.1f} s" if naive_s else "skipped", f"{naive_rate:7.1f} chunks/s" if naive_rate else ""),
        ("unchanged re-ingest", f"{reingest_s:8.2f} s", ""),
        ("peak RSS (ingest / overall)", f"{rss_ingest:.0f} / {peak_rss_mb():.0f} MB", ""),
    ]
    print(f"\n{files} files, {n} chunks")
    for row in rows:
        print(f"  {row[0]:<30} {row[1]:>16}  {row[2]}")
    print(f"  e2e / raw = {e2e_vs_raw:.2f}   e2e / naive = {e2e_vs_naive if e2e_vs_naive is not None else 'n/a'}")
    for name, ok in targets.items():
        print(f"  target {name:<42} {'n/a' if ok is None else ('PASS' if ok else 'MISS')}")
    print(json.dumps({**result, "targets": targets}))
    return 0 if all(ok is not False for ok in targets.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
