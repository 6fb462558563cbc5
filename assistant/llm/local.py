"""The embedded local LLM: llama.cpp's server, in process, through ``xllamacpp``.

Contracts:

* The model is loaded lazily on first use (``stream``/``count_tokens``), once per process per
  (model file, context window, threads); ``ready()`` never loads it.
* One generation at a time per loaded model; concurrent callers wait in a FIFO queue
  (``FairLock``) and none is refused. The ``timeout_s`` budget starts when a caller's turn starts.
* ``stream`` yields text pieces as llama.cpp produces them (chat-completions with ``stream=True``,
  the model's own chat template). A prompt that does not fit ``context_window`` together with
  ``max_tokens`` is refused with ``LLMUnavailable``, never truncated.
* Every failure (missing/corrupt model, load error, timeout, server error) is ``LLMUnavailable``.

Network exposure: ``xllamacpp.Server`` always starts llama.cpp's HTTP server next to the
in-process API. We bind it to ``127.0.0.1`` on an ephemeral port, disable the web UI and protect
it with a random per-process API key; it is used only for exact token counting
(``/tokenize``, ``/v1/chat/completions/input_tokens``). Generation goes through the in-process
``Server.handle_chat_completions`` call, which bypasses HTTP and the key check.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import LLMUnavailable
from assistant.llm.base import Message
from assistant.llm.model_file import model_status, resolve_model_path
from assistant.settings import Settings

log = logging.getLogger(__name__)

_DONE = object()
_CANCEL_GRACE_S = 30.0  # how long a cancelled generation may take to notice it was cancelled
# Direct opener: loopback requests must never go through an HTTP(S)_PROXY from the environment.
_LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class FairLock:
    """A mutex granted strictly in arrival order (FIFO). Use ``with lock:``.

    Not re-entrant. A waiter interrupted by an exception gives up its place without blocking
    the ones behind it.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._next = 0  # next ticket to hand out
        self._serving = 0  # ticket that may hold the lock now
        self._abandoned: set[int] = set()

    def acquire(self) -> None:
        with self._cond:
            ticket = self._next
            self._next += 1
            try:
                self._cond.wait_for(lambda: self._serving == ticket)
            except BaseException:
                if self._serving == ticket:
                    self._advance()
                else:
                    self._abandoned.add(ticket)
                raise

    def release(self) -> None:
        with self._cond:
            self._advance()

    def _advance(self) -> None:
        self._serving += 1
        while self._serving in self._abandoned:
            self._abandoned.discard(self._serving)
            self._serving += 1
        self._cond.notify_all()

    @property
    def queued(self) -> int:
        """Holder plus waiters."""
        with self._cond:
            return self._next - self._serving - len(self._abandoned)

    def __enter__(self) -> FairLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass
class _Engine:
    """One loaded model: the xllamacpp server, its loopback address and its generation queue."""

    server: Any
    path: Path
    base_url: str
    api_key: str
    turn: FairLock = field(default_factory=FairLock)

    def post(self, route: str, body: dict) -> dict:
        req = urllib.request.Request(
            self.base_url + route,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.api_key}"},
        )
        with _LOOPBACK.open(req, timeout=30) as resp:
            return json.loads(resp.read())


_ENGINES: dict[tuple[str, int, int], _Engine] = {}
_ENGINES_LOCK = threading.Lock()


def unload_all() -> None:
    """Drop every loaded model (tests, shutdown). Generations in flight must be finished."""
    with _ENGINES_LOCK:
        _ENGINES.clear()


def _load(path: Path, n_ctx: int, threads: int, temperature: float) -> _Engine:
    import xllamacpp  # heavy native module: import only when a model is actually loaded

    p = xllamacpp.CommonParams()
    p.model.path = str(path)
    p.n_ctx = n_ctx
    p.n_parallel = 1  # one slot = the whole context window; we serialize requests ourselves
    p.cpuparams.n_threads = threads
    p.cpuparams_batch.n_threads = threads
    p.sampling.temp = temperature
    p.hostnames = ["127.0.0.1"]  # the embedded HTTP server listens on loopback only ...
    p.port = 0  # ... on an ephemeral port
    p.ui = False
    api_key = secrets.token_urlsafe(32)
    p.api_keys = [api_key]
    p.cache_ram_mib = 0  # default keeps up to 8 GiB of old prompt states in RAM
    p.ctx_shift = False  # never drop context silently
    p.verbosity = 1  # errors only (llama.cpp logs to stderr)
    try:
        server = xllamacpp.Server(p)
    except Exception as e:
        raise LLMUnavailable(f"llama.cpp could not load {path}: {e}") from e
    address = server.listening_address
    base_url = address if address.startswith("http") else f"http://{address}"
    return _Engine(server=server, path=path, base_url=base_url.rstrip("/"), api_key=api_key)


class LocalLLM:
    """The in-process llama.cpp backend (``llm.backend=local``)."""

    name = "local"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._llm = settings.llm
        self._threads = self._llm.threads or os.cpu_count() or 2

    @property
    def context_window(self) -> int:
        return self._llm.context_window

    def _key(self) -> tuple[str, int, int]:
        return (self._llm.model_path or "<bundled>", self._llm.context_window, self._threads)

    def _engine(self) -> _Engine:
        """The loaded model, loading it (once, under a lock) on first use."""
        key = self._key()
        engine = _ENGINES.get(key)
        if engine is not None:
            return engine
        with _ENGINES_LOCK:
            engine = _ENGINES.get(key)
            if engine is None:
                path = resolve_model_path(self._settings)
                t0 = time.perf_counter()
                engine = _load(path, self._llm.context_window, self._threads, self._llm.temperature)
                log.info("loaded %s in %.1f s (%d threads, n_ctx %d)", path, time.perf_counter() - t0,
                         self._threads, self._llm.context_window)
                _ENGINES[key] = engine
            return engine

    def ready(self) -> tuple[bool, str]:
        engine = _ENGINES.get(self._key())
        if engine is not None:
            return True, f"loaded {engine.path.name} ({engine.turn.queued} in queue)"
        return model_status(self._settings)

    def count_tokens(self, text: str) -> int:
        """Exact count with the model's tokenizer (loads the model on first use)."""
        engine = self._engine()
        try:
            return len(engine.post("/tokenize", {"content": text, "add_special": False})["tokens"])
        except (OSError, ValueError, KeyError) as e:
            raise LLMUnavailable(f"local LLM tokenizer failed: {e}") from e

    def count_prompt_tokens(self, messages: list[Message]) -> int:
        """Tokens of ``messages`` once rendered with the model's chat template."""
        engine = self._engine()
        try:
            return int(engine.post("/v1/chat/completions/input_tokens", {"messages": messages})["input_tokens"])
        except urllib.error.HTTPError as e:
            raise LLMUnavailable(f"local LLM could not count the prompt: {e.read()[:300]!r}") from e
        except (OSError, ValueError, KeyError) as e:
            raise LLMUnavailable(f"local LLM could not count the prompt: {e}") from e

    def stream(self, messages: list[Message], *, max_tokens: int, stop: list[str] | None = None) -> Iterator[str]:
        """Yield reply pieces as generated. Consume it fully or ``close()`` it to free the turn."""
        engine = self._engine()
        n = self.count_prompt_tokens(messages)
        window = self.context_window
        if n + max_tokens > window:
            raise LLMUnavailable(
                f"prompt of {n} tokens + max_tokens {max_tokens} exceeds the context window {window}"
            )
        request: dict[str, Any] = {
            "messages": messages,
            "stream": True,
            "max_tokens": max_tokens,
            "temperature": self._llm.temperature,
        }
        if stop:
            request["stop"] = stop
        with engine.turn:
            yield from self._generate(engine, request)

    def _generate(self, engine: _Engine, request: dict) -> Iterator[str]:
        # handle_chat_completions blocks (without the GIL) and calls on_chunk per SSE chunk from
        # its own thread; returning True from the callback makes llama.cpp stop and cancel.
        chunks: queue.SimpleQueue = queue.SimpleQueue()
        cancel = threading.Event()

        def on_chunk(chunk: dict) -> bool:
            chunks.put(chunk)
            return cancel.is_set()

        def run() -> None:
            try:
                engine.server.handle_chat_completions(request, on_chunk)
            except BaseException as e:  # noqa: BLE001 - handed to the consumer
                chunks.put(e)
            finally:
                chunks.put(_DONE)

        budget = self._llm.timeout_s
        deadline = time.monotonic() + budget
        worker = threading.Thread(target=run, name="local-llm-generate", daemon=True)
        worker.start()
        try:
            while True:
                try:
                    item = chunks.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    raise LLMUnavailable(f"local LLM generation exceeded llm.timeout_s={budget:g} s") from None
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise LLMUnavailable(f"local LLM failed: {item}") from item
                if "error" in item or ("choices" not in item and "message" in item):
                    err = item.get("error", item)
                    msg = err.get("message", err) if isinstance(err, dict) else err
                    raise LLMUnavailable(f"local LLM error: {msg}")
                for choice in item.get("choices") or ():
                    piece = (choice.get("delta") or {}).get("content")
                    if piece:
                        yield piece
                if time.monotonic() > deadline:
                    raise LLMUnavailable(f"local LLM generation exceeded llm.timeout_s={budget:g} s")
        finally:
            cancel.set()
            worker.join(_CANCEL_GRACE_S)
            if worker.is_alive():
                log.warning("cancelled generation still running after %.0f s", _CANCEL_GRACE_S)
