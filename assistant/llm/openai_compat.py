"""Any OpenAI-compatible chat-completions server (``llm.backend=openai``): vLLM, llama.cpp, Ollama, OpenAI.

Contracts: ``stream`` yields content deltas as they arrive; the whole generation is bounded by
``llm.timeout_s``; every client/server error is ``LLMUnavailable``. ``count_tokens`` is an
estimate (cl100k via tiktoken's cache bundled with llama-index, else ~4 characters a token),
since the remote model's tokenizer is unknown.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, cast

from assistant.errors import LLMUnavailable
from assistant.llm.base import Message
from assistant.settings import Settings

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam

log = logging.getLogger(__name__)


@functools.cache
def _tokenizer() -> Callable[[str], list] | None:
    try:
        from llama_index.core.utils import get_tokenizer  # sets TIKTOKEN_CACHE_DIR to its bundled copy

        return get_tokenizer()
    except Exception as e:  # noqa: BLE001 - offline or not installed: estimate instead
        log.info("no tiktoken tokenizer available (%s); estimating 4 characters per token", e)
        return None


class OpenAICompatLLM:
    """Streams chat completions from ``llm.base_url`` with ``llm.model``."""

    name = "openai"

    def __init__(self, settings: Settings) -> None:
        import openai

        self._llm = settings.llm
        if not self._llm.base_url:
            raise LLMUnavailable("llm.backend=openai needs llm.base_url (ASSISTANT_LLM__BASE_URL)")
        self._openai = openai
        self._client = openai.OpenAI(
            base_url=self._llm.base_url,
            # Local servers usually need no key, but the client refuses an empty one.
            api_key=self._llm.api_key.get_secret_value() or "not-needed",
            timeout=self._llm.timeout_s,
            max_retries=1,
        )

    @property
    def context_window(self) -> int:
        return self._llm.context_window

    def count_tokens(self, text: str) -> int:
        tok = _tokenizer()
        if tok is not None:
            return len(tok(text))
        return len(text) // 4 + 1

    def ready(self) -> tuple[bool, str]:
        """Reachability check: ``GET /models`` with a 2 s timeout (a 4xx still means reachable)."""
        try:
            self._client.with_options(timeout=2.0, max_retries=0).models.list()
        except self._openai.APIStatusError as e:
            return True, f"{self._llm.base_url} reachable (GET /models: HTTP {e.status_code})"
        except Exception as e:  # noqa: BLE001
            return False, f"{self._llm.base_url} unreachable: {type(e).__name__}: {e}"
        return True, f"{self._llm.base_url} model {self._llm.model or '(server default)'}"

    def stream(self, messages: list[Message], *, max_tokens: int, stop: list[str] | None = None) -> Iterator[str]:
        budget = self._llm.timeout_s
        deadline = time.monotonic() + budget
        try:
            response = self._client.chat.completions.create(
                model=self._llm.model,
                # a Message is a valid system/user/assistant param, but none of those takes a role union
                messages=cast("list[ChatCompletionMessageParam]", messages),
                max_tokens=max_tokens,
                temperature=self._llm.temperature,
                stream=True,
                stop=stop if stop else self._openai.omit,
            )
            with response:
                for chunk in response:
                    for choice in chunk.choices or ():
                        piece = choice.delta.content if choice.delta else None
                        if piece:
                            yield piece
                    if time.monotonic() > deadline:
                        raise LLMUnavailable(f"{self._llm.base_url} exceeded llm.timeout_s={budget:g} s")
        except LLMUnavailable:
            raise
        except self._openai.APITimeoutError as e:
            raise LLMUnavailable(f"{self._llm.base_url} timed out after {budget:g} s") from e
        except self._openai.APIStatusError as e:
            raise LLMUnavailable(f"{self._llm.base_url} answered HTTP {e.status_code}: {e.message}") from e
        except self._openai.OpenAIError as e:
            raise LLMUnavailable(f"{self._llm.base_url} failed: {type(e).__name__}: {e}") from e
