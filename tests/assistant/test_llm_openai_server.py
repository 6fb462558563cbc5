"""``llm.backend=openai`` against a real OpenAI-compatible server on loopback: llama.cpp's server (from
``xllamacpp``) in its own process, serving the bundled GGUF, the stand-in for vLLM in a scaled-out
deployment. One session-wide server; answers are capped at a few tokens (2 cores)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from llm_server import llama_server

from assistant.settings import Settings


@pytest.fixture(scope="session")
def openai_server(local_model_path: Path) -> Iterator[str]:
    """``http://127.0.0.1:PORT/v1`` of a llama.cpp server serving the bundled model."""
    with llama_server(local_model_path, ctx=2048, threads=2) as url:
        yield f"{url}/v1"


@pytest.mark.llm
@pytest.mark.slow
def test_a_sample_question_through_the_openai_backend(openai_server: str, sample_index: Path,
                                                      make_services: Any) -> None:
    settings = Settings(data_dir=sample_index, llm={"backend": "openai", "base_url": openai_server,
                                                    "model": "qwen2.5-coder-1.5b", "max_tokens": 96,
                                                    "timeout_s": 300})
    services = make_services(settings)
    assert services.llm is not None and services.llm.ready()[0]
    tokens, answer = [], None
    for item in services.engine.stream("What did South Korea do in response?"):
        if isinstance(item, str):
            tokens.append(item)
        else:
            answer = item
    assert answer is not None and len(tokens) > 1, "the server's tokens are streamed"
    assert answer.backend == "openai" and answer.notice is None, answer
    assert "South Korea" in answer.answer and answer.citations
    for c in answer.citations:
        assert services.store.doc_text(c.document_id)[c.start:c.end] == c.quote
