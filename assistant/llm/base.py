"""The one interface every LLM backend implements.

Example::

    llm = build_llm(settings)            # assistant.llm.build_llm
    for token in llm.stream(messages, max_tokens=200):
        print(token, end="")
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Literal, Protocol, TypedDict, runtime_checkable

from assistant.errors import LLMUnavailable


class Message(TypedDict):
    """One chat turn: ``{"role": "system"|"user"|"assistant", "content": "..."}``."""

    role: Literal["system", "user", "assistant"]
    content: str


@runtime_checkable
class LLM(Protocol):
    """A chat model. Implementations raise ``assistant.errors.LLMUnavailable`` on any failure."""

    name: str

    def stream(self, messages: list[Message], *, max_tokens: int, stop: list[str] | None = None) -> Iterator[str]:
        """Yield the reply token by token (text pieces)."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` in this model's own tokenizer (an estimate where none is available)."""
        ...

    @property
    def context_window(self) -> int: ...

    def ready(self) -> tuple[bool, str]:
        """(loaded or loadable, a human-readable detail) for ``/readyz``; must not load the model."""
        ...


def complete(llm: LLM, messages: list[Message], *, max_tokens: int, stop: list[str] | None = None) -> str:
    """The whole reply as one string."""
    return "".join(llm.stream(messages, max_tokens=max_tokens, stop=stop))


_END = object()


def stalling_guard(pieces: Iterator[str], timeout_s: float) -> Iterator[str]:
    """``pieces``, pulled in a worker thread; ``LLMUnavailable`` when none arrives for ``timeout_s``.

    A hung backend (a stuck server, a dead connection without a timeout) then fails like any other
    LLM failure instead of blocking the answer forever. The worker stops at the next piece once the
    consumer is gone, and closes ``pieces`` in its own thread.
    """
    out: queue.SimpleQueue[object] = queue.SimpleQueue()
    stop = threading.Event()

    def pump() -> None:
        try:
            for piece in pieces:
                out.put(piece)
                if stop.is_set():
                    break
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            out.put(exc)
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()
            out.put(_END)

    threading.Thread(target=pump, name="llm-stream", daemon=True).start()
    try:
        while True:
            try:
                item = out.get(timeout=timeout_s)
            except queue.Empty:
                raise LLMUnavailable(f"no reply from the model for llm.timeout_s={timeout_s:g} s") from None
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, str)
            yield item
    finally:
        stop.set()
