"""A scripted LLM for tests (``llm.backend=fake``).

Example::

    llm = ScriptedLLM(["The answer is 42 [1]."])
    assert complete(llm, messages, max_tokens=50) == "The answer is 42 [1]."
    assert llm.history[0] == messages

Reply for each call, first match wins: the next queued reply (``replies``/``enqueue``), else
``responder(messages)``, else ``default``; with none of them ``LLMUnavailable`` is raised.
The reply is streamed word by word with its whitespace kept, so ``"".join(pieces) == reply``
(cut at the first ``stop`` string, and after ``max_tokens`` pieces).
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

from assistant.errors import LLMUnavailable
from assistant.llm.base import Message

_PIECES = re.compile(r"\s*\S+|\s+")


class ScriptedLLM:
    name = "fake"

    def __init__(
        self,
        replies: list[str] | None = None,
        default: str | None = None,
        fail: bool = False,
        delay_s: float = 0,
        responder: Callable[[list[Message]], str] | None = None,
        context_window: int = 4096,
    ) -> None:
        self._replies: deque[str] = deque(replies or ())
        self.default = default
        self.fail = fail
        self.delay_s = delay_s
        self.responder = responder
        self._context_window = context_window
        self.history: list[list[Message]] = []
        self._lock = threading.Lock()

    def enqueue(self, text: str) -> None:
        with self._lock:
            self._replies.append(text)

    @property
    def context_window(self) -> int:
        return self._context_window

    def count_tokens(self, text: str) -> int:
        """One token per word (the fake's own 'tokenizer')."""
        return len(text.split())

    def ready(self) -> tuple[bool, str]:
        return (not self.fail), ("scripted (failing)" if self.fail else "scripted")

    def _next_reply(self, messages: list[Message]) -> str:
        with self._lock:
            self.history.append([m.copy() for m in messages])
            if self.fail:
                raise LLMUnavailable("ScriptedLLM configured to fail")
            if self._replies:
                return self._replies.popleft()
        if self.responder is not None:
            return self.responder(messages)
        if self.default is not None:
            return self.default
        raise LLMUnavailable("ScriptedLLM has no reply queued, no responder and no default")

    def stream(self, messages: list[Message], *, max_tokens: int, stop: list[str] | None = None) -> Iterator[str]:
        reply = self._next_reply(messages)
        for s in stop or ():
            if s and s in reply:
                reply = reply[: reply.index(s)]
        for i, piece in enumerate(_PIECES.findall(reply)):
            if i >= max_tokens:
                return
            if self.delay_s:
                time.sleep(self.delay_s)
            yield piece
