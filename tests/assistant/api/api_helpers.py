"""Helpers and hand-written LLM fakes for the REST API tests (the fakes implement the real ``LLM`` interface)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from assistant.llm.base import Message
from assistant.llm.fake import ScriptedLLM
from assistant.services import Services
from assistant.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[3]
SAMPLE = REPO_ROOT / "data" / "sample" / "north-korean-troops-in-ukraine.txt"
QUESTION = "What did South Korea do in response?"


def build_services(embedder: Any, data_dir: Path, llm: Any = None, **overrides: Any) -> Services:
    backend = overrides.pop("llm", None) or {"backend": "fake" if llm is not None else "extractive"}
    # the session's loaded embedder is shared
    return Services(Settings(data_dir=data_dir, llm=backend, **overrides), embedder=embedder, llm=llm)


def assert_error(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is the JSON error shape with ``status`` and ``code``, and leaks no traceback."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert "Traceback" not in resp.text and 'File "' not in resp.text
    return body["error"]




def quote_first_evidence(messages: list[Message]) -> str:
    """A reply that restates the first sentence of evidence [1] and cites it (passes verification)."""
    prompt = messages[-1]["content"]
    match = re.search(r"^\[1\] (.+)$", prompt, re.M)
    assert match, prompt
    sentence = re.split(r"(?<=[.!?])\s", match.group(1).strip())[0].rstrip(".")
    return f"{sentence} [1]."


def quoting_llm(delay_s: float = 0.0) -> ScriptedLLM:
    return ScriptedLLM(responder=quote_first_evidence, delay_s=delay_s)


class BreaksMidway:
    """Streams a few tokens, then raises ``error`` (something the engine does not expect)."""

    name = "breaks-midway"
    context_window = 4096

    def __init__(self, error: Exception, tokens: int = 3) -> None:
        self.error = error
        self.tokens = tokens

    def stream(self, messages: list[Message], *, max_tokens: int, stop: list[str] | None = None) -> Iterator[str]:
        for i in range(self.tokens):
            yield f"word{i} "
        raise self.error

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def ready(self) -> tuple[bool, str]:
        return True, "breaks midway"
