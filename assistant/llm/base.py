"""The one interface every LLM backend implements.

Example::

    llm = build_llm(settings)            # assistant.llm.build_llm
    for token in llm.stream(messages, max_tokens=200):
        print(token, end="")
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal, Protocol, TypedDict, runtime_checkable


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
