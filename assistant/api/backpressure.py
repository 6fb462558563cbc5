"""``GenerationGate``: back-pressure in front of the LLM for the answering routes.

The local LLM generates one answer at a time; without a bound, requests would pile up and wait for
minutes. The gate lets ``parallel`` answers run and ``max_queue`` wait in arrival order; one more is
refused at once with 429 ``llm_busy`` and a ``Retry-After`` estimated from recent answer times.
A waiting client that disconnects leaves the queue (its place goes to the next one), and a finished,
failed or abandoned answer frees its slot (``release`` is idempotent and thread-safe).

The state sits under a lock (a condition variable), so a slot can be released from anywhere: the end
of a stream, a background task, a worker thread. API requests wait on the event loop, polling every
0.1 s, so a long queue holds no worker threads.

Example::

    gate = GenerationGate(parallel=1, max_queue=4)
    release = await gate.enter(request)      # LLMBusy (429) when the queue is full
    try:
        answer = await engine.aask(question)
    finally:
        release()
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

import anyio
from starlette.requests import Request

from assistant.errors import AssistantError

POLL_S = 0.1


class LLMBusy(AssistantError):
    """Too many answers are already waiting for the LLM."""

    code = "llm_busy"
    status = 429

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after_s)}


class ClientGone(AssistantError):
    """The client disconnected while waiting for its turn (nobody reads this response)."""

    code = "client_closed_request"
    status = 499


class GenerationGate:
    def __init__(self, parallel: int = 1, max_queue: int = 4, estimate_s: float = 10.0) -> None:
        if parallel < 1 or max_queue < 0:
            raise ValueError(f"parallel ({parallel}) must be >= 1 and max_queue ({max_queue}) >= 0")
        self.parallel = parallel
        self.max_queue = max_queue
        self.estimate_s = estimate_s  # moving average of how long an answer holds a slot
        self._cond = threading.Condition()
        self._running = 0
        self._queue: deque[object] = deque()

    @property
    def load(self) -> tuple[int, int]:
        """(answers running, answers waiting)."""
        with self._cond:
            return self._running, len(self._queue)

    def try_enter(self) -> object:
        """A ticket in the queue, or ``LLMBusy`` when the queue is full."""
        with self._cond:
            # tickets count from arrival (not from admission), so a burst cannot overshoot the bound
            if self._running + len(self._queue) >= self.parallel + self.max_queue:
                ahead = self._running + len(self._queue)
                retry = max(1, math.ceil(self.estimate_s * ahead / self.parallel))
                raise LLMBusy(f"the language model is busy ({self._running} answering, {len(self._queue)} "
                              f"waiting); retry in about {retry} s", retry)
            ticket = object()
            self._queue.append(ticket)
            return ticket

    def _admit(self, ticket: object) -> bool:
        """Take a slot if it is ``ticket``'s turn (caller holds the lock)."""
        if self._queue[0] is ticket and self._running < self.parallel:
            self._queue.popleft()
            self._running += 1
            self._cond.notify_all()
            return True
        return False

    def _leave(self, ticket: object) -> None:
        with self._cond:
            if ticket in self._queue:
                self._queue.remove(ticket)
                self._cond.notify_all()

    def wait(self, ticket: object, cancelled: threading.Event) -> bool:
        """Block until ``ticket``'s turn (True) or until ``cancelled`` is set (False, place given up)."""
        with self._cond:
            while not self._admit(ticket):
                if cancelled.is_set():
                    self._queue.remove(ticket)
                    self._cond.notify_all()
                    return False
                self._cond.wait(POLL_S)
            return True

    def _releaser(self) -> Callable[[], None]:
        started = time.monotonic()
        done = threading.Event()

        def release() -> None:
            with self._cond:
                if done.is_set():
                    return
                done.set()
                self._running -= 1
                self.estimate_s = 0.7 * self.estimate_s + 0.3 * (time.monotonic() - started)
                self._cond.notify_all()

        return release

    async def enter(self, request: Request) -> Callable[[], None]:
        """Wait for a slot on the event loop (no thread per waiter), leaving the queue if the client goes."""
        ticket = self.try_enter()
        try:
            while True:
                with self._cond:
                    if self._admit(ticket):
                        break
                if await request.is_disconnected():
                    raise ClientGone("the client disconnected while waiting for the language model")
                await anyio.sleep(POLL_S)
        except BaseException:
            self._leave(ticket)
            raise
        return self._releaser()

def _nothing() -> None:
    return None


async def take_slot(request: Request) -> Callable[[], None]:
    """The app's gate slot for this request (``app.state.generation_gate``; none for the extractive backend)."""
    gate: GenerationGate | None = getattr(request.app.state, "generation_gate", None)
    return _nothing if gate is None else await gate.enter(request)
