"""Run the engine's synchronous token generator off the event loop, one ``next()`` per worker-thread hop.

``first_item`` pulls the first item before any response is started, so failures while preparing an
answer (empty index, Chroma down, bad question) still become a proper HTTP status instead of an
error inside a 200 stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TypeVar

import anyio

T = TypeVar("T")
_DONE = object()


def _next(it: Iterator[T]) -> object:
    return next(it, _DONE)


async def first_item(it: Iterator[T]) -> T:
    item = await anyio.to_thread.run_sync(_next, it)
    if item is _DONE:
        raise RuntimeError("the answer stream ended without an item")
    return item  # type: ignore[return-value]


async def rest_in_thread(first: T, it: Iterator[T]) -> AsyncIterator[T]:
    """Yield ``first`` then the rest of ``it``; close ``it`` when the consumer stops (client gone).

    ``run_sync`` is not abandoned on cancellation, so ``close()`` never races a running ``next()``.
    """
    try:
        yield first
        while (item := await anyio.to_thread.run_sync(_next, it)) is not _DONE:
            yield item  # type: ignore[misc]
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()
