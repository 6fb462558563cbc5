"""Ingestion benchmark: our pipeline against the raw embedder and a naive llama-index build.

Builds a corpus of about ``--chunks`` chunks from the 600 CLAP NQ dev passages (the original
passages, then copies with their sentences shuffled and a numbered sentence appended), writes it
as .txt files into a temporary folder, and measures:

* end-to-end ingest (``IngestService`` into a fresh embedded Chroma), in chunks/s;
* an unchanged re-ingest of the same folder, in seconds;
* the raw embedder on the same chunk texts (``MiniLMEmbedding.embed``: length-sorted batches);
* a naive llama-index ``VectorStoreIndex`` over the same chunk texts (``TextNode``s, the same
  embedder passed as ``embed_model``, an in-memory ``SimpleVectorStore``; nothing global);
* peak RSS (``ru_maxrss``) after the ingest phases and at the end.

Targets (issue "Foundation and ingestion"): end-to-end >= 1.4x the naive build and >= 85% of the raw
rate; unchanged re-ingest of 5,000 chunks under 5 s; peak RSS under 1.5 GB.

Usage::

    .venv/bin/python benchmarks/ingest.py                 # ~5,000 chunks (several minutes on 2 cores)
    .venv/bin/python benchmarks/ingest.py --chunks 500    # a quick run
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
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# This file is named ingest.py: drop its own folder from the path so that `import ingest` finds the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "clapnq_dev"
FILES = ("clapnq_dev_answerable.jsonl", "clapnq_dev_unanswerable.jsonl")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Targets: e2e >= 1.4x naive, >= 85%% of raw; unchanged re-ingest < 5 s; RSS < 1.5 GB.")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help="folder with the CLAP NQ dev jsonl files (default: ../shared/data/clapnq_dev from the repo root)")
    p.add_argument("--chunks", type=int, default=5000, help="approximate corpus size in chunks (default 5000)")
    p.add_argument("--batch-size", type=int, default=32, help="embedder batch size (default 32)")
    p.add_argument("--threads", type=int, default=0, help="ONNX threads (default 0 = all cores)")
    p.add_argument("--skip-naive", action="store_true", help="skip the naive llama-index build")
    p.add_argument("--workdir", type=Path, default=None, help="keep the corpus and index here (default: a temp dir, removed)")
    p.add_argument("--seed", type=int, default=13)
    return p.parse_args(argv)


def load_passages(data: Path) -> list[tuple[str, str]]:
    missing = [f for f in FILES if not (data / f).is_file()]
    if missing:
        sys.exit(f"error: CLAP NQ data not found: {', '.join(str(data / f) for f in missing)} "
                 f"(pass --data FOLDER with {' and '.join(FILES)})")
    out = []
    for name in FILES:
        with (data / name).open(encoding="utf-8") as f:
            for line in f:
                passage = json.loads(line)["passages"][0]
                out.append((passage["title"].strip(), passage["text"].strip()))
    return out


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text) if s]


def build_corpus(passages: list[tuple[str, str]], target: int, count_chunks, folder: Path, seed: int) -> tuple[int, int]:  # noqa: ANN001
    """Write variants of the passages until about ``target`` chunks; returns (files, chunks)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    files = chunks = 0
    copy = 0
    while chunks < target:
        for i, (title, text) in enumerate(passages):
            if chunks >= target:
                break
            if copy:
                sentences = _sentences(text)
                rng.shuffle(sentences)
                text = " ".join(sentences) + f" This is copy number {copy} of the passage about {title}."
            body = f"{title}\n\n{text}"
            (folder / f"c{copy:02d}-p{i:03d}.txt").write_text(body, encoding="utf-8")
            files += 1
            chunks += count_chunks(body)
        copy += 1
    return files, chunks


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    passages = load_passages(args.data)

    from assistant.settings import Settings
    from ingest.embedder import MiniLMEmbedding
    from ingest.pipeline import IngestService
    from ingest.store import ChromaStore

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
    service = IngestService(ChromaStore.from_settings(settings), embedder, settings)
    files, est_chunks = build_corpus(passages, args.chunks, lambda t: len(service.chunker.split(t)), corpus, args.seed)
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
        texts = [text for _, _, text in service.store.all_chunks()]
        assert len(texts) == n
        t0 = time.perf_counter()
        embedder.embed(texts)
        raw_s = time.perf_counter() - t0
        # 4. a naive llama-index build over the same chunk texts, with the same embedder
        naive_s = None
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
    result = {
        "files": files, "chunks": n,
        "e2e_s": round(e2e_s, 2), "e2e_chunks_per_s": round(e2e_rate, 2),
        "raw_s": round(raw_s, 2), "raw_chunks_per_s": round(raw_rate, 2),
        "e2e_vs_raw": round(e2e_rate / raw_rate, 3),
        "naive_s": round(naive_s, 2) if naive_s else None,
        "naive_chunks_per_s": round(naive_rate, 2) if naive_rate else None,
        "e2e_vs_naive": round(e2e_rate / naive_rate, 3) if naive_rate else None,
        "reingest_unchanged_s": round(reingest_s, 2),
        "peak_rss_mb_ingest": round(rss_ingest, 1), "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    targets = {
        "e2e_vs_naive >= 1.4": None if naive_rate is None else result["e2e_vs_naive"] >= 1.4,
        "e2e_vs_raw >= 0.85": result["e2e_vs_raw"] >= 0.85,
        "reingest < 5 s (scaled to 5,000 chunks)": reingest_s * 5000 / max(n, 1) < 5,
        "peak RSS < 1.5 GB": result["peak_rss_mb"] < 1536,
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
    print(f"  e2e / raw = {result['e2e_vs_raw']:.2f}   e2e / naive = "
          f"{result['e2e_vs_naive'] if result['e2e_vs_naive'] is not None else 'n/a'}")
    for name, ok in targets.items():
        print(f"  target {name:<42} {'n/a' if ok is None else ('PASS' if ok else 'MISS')}")
    print(json.dumps({**result, "targets": targets}))
    return 0 if all(ok is not False for ok in targets.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
