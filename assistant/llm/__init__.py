"""LLM backends behind one interface (``assistant.llm.base.LLM``), chosen by ``settings.llm.backend``."""

from __future__ import annotations

from typing import Any

from assistant.llm.base import LLM, Message, complete

__all__ = ["LLM", "Message", "build_llm", "complete"]


def build_llm(settings: Any) -> LLM | None:
    """The generator for the configured backend; ``None`` for the extractive backend."""
    backend = settings.llm.backend
    if backend == "extractive":
        return None
    if backend == "openai":
        from assistant.llm.openai_compat import OpenAICompatLLM

        return OpenAICompatLLM(settings)
    if backend == "fake":
        from assistant.llm.fake import ScriptedLLM

        return ScriptedLLM()
    from assistant.llm.local import LocalLLM

    return LocalLLM(settings)
