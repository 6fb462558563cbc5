"""ingest/embedder.py: the bundled MiniLM's ONNX sessions (the questions' one and the ingest's data-parallel workers),
and coalesced questions, give the same vectors."""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from assistant.errors import EmbedderUnavailable
from ingest.embedder import SMALL_RUN_TOKENS, MiniLMEmbedding, _Coalescer

QUESTIONS = ["What did South Korea do in response?", "who sang the song the way you make me feel",
             "How many North Korean soldiers are in Ukraine?", "when was the first world cup held"]


def test_questions_embed_bit_for_bit_as_in_the_ingest_sessions(embedder: MiniLMEmbedding) -> None:
    """A question runs on its own single-threaded session (no lock, one core); its vector is exactly the one the
    ingest's sessions compute, so answers do not depend on which session ran."""
    for question in QUESTIONS:
        ids = np.asarray([embedder._tokenizer.encode(question).ids], dtype=np.int64)
        assert ids.size <= SMALL_RUN_TOKENS
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        small = embedder._small.run(None, feed)[0]
        for session, _ in embedder._sessions:
            assert session is not embedder._small
            assert np.array_equal(small, session.run(None, feed)[0])
    one_by_one = np.stack([embedder.embed([q])[0] for q in QUESTIONS])  # the questions' session
    batch = embedder.embed(QUESTIONS * 3)[:4]  # over SMALL_RUN_TOKENS: the ingest's sessions
    assert np.allclose(one_by_one, batch, atol=1e-6)  # padding to the batch's width may move the last bits


class _Recorded:
    """An ONNX session that records which threads ran it, and can fail."""

    def __init__(self, session: Any, fail: bool = False) -> None:
        self.session, self.fail, self.threads = session, fail, set()

    def run(self, *args: Any) -> Any:
        self.threads.add(threading.current_thread().name)
        if self.fail:
            raise EmbedderUnavailable("worker failed")
        return self.session.run(*args)


def test_a_long_call_runs_its_batches_on_every_worker_session_with_each_texts_own_vector(
        embedder: MiniLMEmbedding) -> None:
    """Chunks at ingest are shared out to single-threaded sessions running side by side (data parallel); each
    text's vector is the one it gets alone, and a worker's failure is raised to the caller."""
    assert len(embedder._sessions) == 2
    texts = [f"{q} Sentence number {i} adds some length to text {i}." * (1 + i % 3) for i, q in enumerate(QUESTIONS * 20)]
    alone = np.stack([embedder.embed([t])[0] for t in texts])
    sessions = embedder._sessions
    recorded = [(_Recorded(s), lock) for s, lock in sessions]
    try:
        embedder._sessions = recorded
        together = embedder.embed(texts)
        assert np.allclose(alone, together, atol=1e-6)  # padding to a batch's width may move the last bits
        assert recorded[0][0].threads == {threading.current_thread().name}
        assert recorded[1][0].threads == {"embed-worker"}
        embedder._sessions = [recorded[0], (_Recorded(sessions[1][0], fail=True), sessions[1][1])]
        with pytest.raises(EmbedderUnavailable, match="worker failed"):
            embedder.embed(texts)
    finally:
        embedder._sessions = sessions
    assert not [t for t in threading.enumerate() if t.name == "embed-worker"]


class _Gated:
    """An ONNX session whose run waits at a gate (a long run on a helper thread), then records that it returned."""

    def __init__(self, session: Any) -> None:
        self.session, self.entered, self.gate, self.returned = session, threading.Event(), threading.Event(), False

    def run(self, *args: Any) -> Any:
        self.entered.set()
        self.gate.wait(10)
        out = self.session.run(*args)
        self.returned = True
        return out


def test_ctrl_c_while_a_helper_runs_is_raised_only_after_the_helper_left_onnxruntime(
        embedder: MiniLMEmbedding) -> None:
    """Regression: Ctrl-C while the caller waited for a helper raised at once, and the process exited with the
    helper still inside onnxruntime: C++ aborted it ("terminate called without an active exception", exit -6
    instead of 130; ~1 Ctrl-C in 8 of ``assistant ingest``). The Ctrl-C must wait for the helper's run."""
    texts = [f"{q} Sentence number {i} gives text {i} some length." for i, q in enumerate(QUESTIONS * 2)]
    sessions = embedder._sessions
    gated = _Gated(sessions[1][0])
    armed = threading.Event()

    def on_sigint(signum: int, frame: Any) -> None:
        if armed.is_set():
            raise KeyboardInterrupt

    def interrupt_then_open() -> None:
        assert gated.entered.wait(10)
        time.sleep(0.3)  # the caller has run its own share and waits for the helper
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
        time.sleep(0.3)
        gated.gate.set()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        embedder._sessions = [sessions[0], (gated, sessions[1][1])]
        armed.set()
        threading.Thread(target=interrupt_then_open).start()
        with pytest.raises(KeyboardInterrupt):
            embedder.embed(texts)
        armed.clear()
        assert gated.returned, "Ctrl-C was raised while the helper was still inside onnxruntime"
    finally:
        armed.clear()
        gated.gate.set()
        signal.signal(signal.SIGINT, previous)
        embedder._sessions = sessions
    deadline = time.monotonic() + 5
    while any(t.name == "embed-worker" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not [t for t in threading.enumerate() if t.name == "embed-worker"]


def test_concurrent_questions_are_coalesced_into_one_run_with_the_same_vectors(embedder: MiniLMEmbedding) -> None:
    """Questions asked at the same time share one padded run of the single-threaded session, and each gets
    exactly the vector it gets alone (padding is masked out)."""
    alone = [embedder.embed([q])[0] for q in QUESTIONS * 4]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda q: embedder.embed([q])[0], QUESTIONS * 4))
    assert all(np.array_equal(a, b) for a, b in zip(alone, together, strict=True))


def test_the_coalescer_runs_what_queued_meanwhile_together_and_shares_errors() -> None:
    """A caller that finds a run going queues; the next run takes every queued call; each caller gets its own
    rows back, and an error reaches every caller of the failed run without stopping later ones."""
    started, release = threading.Event(), threading.Event()
    runs: list[list[int]] = []

    def run(rows: list[int]) -> np.ndarray:
        runs.append(list(rows))
        if len(runs) == 1:
            started.set()
            release.wait(10)
        if -1 in rows:
            raise EmbedderUnavailable("model failed")
        return np.asarray(rows, dtype=np.float32)[:, None] * 10

    coalescer = _Coalescer(run)
    with ThreadPoolExecutor(5) as pool:
        first = pool.submit(coalescer.run, [1])
        assert started.wait(10)
        queued = [pool.submit(coalescer.run, rows) for rows in ([2], [3, 4], [5])]
        while len(coalescer._queue) < 3:
            time.sleep(0.01)
        release.set()
        assert first.result(10).tolist() == [[10.0]]
        assert [f.result(10).tolist() for f in queued] == [[[20.0]], [[30.0], [40.0]], [[50.0]]]
    assert runs[0] == [1] and sorted(runs[1]) == [2, 3, 4, 5] and len(runs) == 2
    with ThreadPoolExecutor(2) as pool:
        failing = pool.submit(coalescer.run, [-1])
        with pytest.raises(EmbedderUnavailable):
            failing.result(10)
    assert coalescer.run([6]).tolist() == [[60.0]]
