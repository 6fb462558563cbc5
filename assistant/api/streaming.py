"""Streaming helpers shared by ``/v1/ask/stream`` and ``/v1/chat/completions``.

* ``first_item`` pulls the first item before any response is started, so failures while preparing an
  answer (empty index, Chroma down, bad question) still become a proper HTTP status instead of an
  error inside a 200 stream.
* ``rest_in_thread`` runs the engine's synchronous generator off the event loop, one ``next()`` per
  worker-thread hop, and closes it when the client goes away.
* ``releasing`` frees a back-pressure slot (``assistant.api.backpressure``) when a stream ends.
* ``guarded`` is the one place where an error in the middle of a stream becomes an error payload.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Literal, TypeVar

import anyio

from assistant.api.errors import error_payload
from assistant.errors import AssistantError

T = TypeVar("T")
log = logging.getLogger(__name__)


class _End(enum.Enum):
    """The sentinel ``_next`` returns once the iterator is exhausted."""

    DONE = enum.auto()


_DONE = _End.DONE


def _next(it: Iterator[T]) -> T | Literal[_End.DONE]:
    return next(it, _DONE)


async def first_item(it: Iterator[T], on_error: Callable[[], None] | None = None) -> T:
    """The first item of ``it`` (run in a worker thread); ``on_error()`` is called if that fails."""
    try:
        item = await anyio.to_thread.run_sync(_next, it)
        if item is _DONE:
            raise RuntimeError("the answer stream ended without an item")
    except BaseException:
        if on_error is not None:
            on_error()
        raise
    return item


async def releasing(events: AsyncIterator[T], release: Callable[[], None]) -> AsyncIterator[T]:
    """``events``, calling ``release()`` as soon as they end, fail or are abandoned."""
    try:
        async for event in events:
            yield event
    finally:
        release()


async def rest_in_thread(first: T, it: Iterator[T]) -> AsyncIterator[T]:
    """Yield ``first`` then the rest of ``it``; close ``it`` when the consumer stops (client gone).

    ``run_sync`` is not abandoned on cancellation, so ``close()`` never races a running ``next()``.
    """
    try:
        yield first
        while (item := await anyio.to_thread.run_sync(_next, it)) is not _DONE:
            yield item
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()


def stream_error(exc: BaseException) -> dict[str, Any]:
    """The ``{"error": {...}}`` payload for a failure after the response has started."""
    if isinstance(exc, AssistantError):
        return error_payload(exc.code, exc.message)
    log.error("answer stream failed", exc_info=exc)
    return error_payload("internal_error", "internal server error; the details are in the server log")


async def guarded(events: AsyncIterator[T], on_error: Any) -> AsyncIterator[T]:
    """``events``, then ``on_error(payload)`` once if they fail midway (the stream ends cleanly)."""
    try:
        async for event in events:
            yield event
    except Exception as exc:  # noqa: BLE001 - every failure becomes one error event, never a torn stream
        yield on_error(stream_error(exc))
