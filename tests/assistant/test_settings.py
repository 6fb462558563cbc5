"""The validators of ``assistant/settings.py`` and reading nested values from ``ASSISTANT_*`` variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from assistant.settings import ChromaSettings, ChunkSettings, EmbedderSettings, LLMSettings, Settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``ASSISTANT_*`` variable from the caller's shell leaks into these tests."""
    for name in list(os.environ):
        if name.startswith("ASSISTANT_"):
            monkeypatch.delenv(name)


def errors_of(exc: pytest.ExceptionInfo[ValidationError]) -> dict[tuple[Any, ...], str]:
    """``{loc: msg}`` of every error of a ValidationError."""
    return {tuple(e["loc"]): e["msg"] for e in exc.value.errors()}


# -- chroma.url --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("given", "kept"), [
    ("", ""),
    ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
    ("  https://chroma.internal:8443/  ", "https://chroma.internal:8443"),
])
def test_chroma_url_is_stripped_of_spaces_and_a_trailing_slash(given: str, kept: str) -> None:
    assert ChromaSettings(url=given).url == kept


@pytest.mark.parametrize("url", ["127.0.0.1:8000", "ftp://127.0.0.1:8000", "localhost"])
def test_chroma_url_needs_an_http_scheme(url: str) -> None:
    with pytest.raises(ValidationError) as exc:
        Settings(chroma={"url": url})
    assert errors_of(exc) == {
        ("chroma", "url"): f"Value error, chroma.url must start with http:// or https://, got {url!r}"
    }


# -- embedder / llm backends -------------------------------------------------------------------------

def test_openai_embedder_needs_a_base_url() -> None:
    with pytest.raises(ValidationError) as exc:
        Settings(embedder={"backend": "openai"})
    assert errors_of(exc) == {
        ("embedder",): "Value error, embedder.backend=openai needs embedder.base_url (ASSISTANT_EMBEDDER__BASE_URL)"
    }
    ok = EmbedderSettings(backend="openai", base_url="http://127.0.0.1:8002/v1")
    assert ok.base_url == "http://127.0.0.1:8002/v1" and ok.model == "text-embedding-3-small"


def test_openai_llm_needs_a_base_url() -> None:
    with pytest.raises(ValidationError) as exc:
        Settings(llm={"backend": "openai"})
    assert errors_of(exc) == {("llm",): "Value error, llm.backend=openai needs llm.base_url (ASSISTANT_LLM__BASE_URL)"}
    ok = LLMSettings(backend="openai", base_url="http://127.0.0.1:8001/v1", model="qwen")
    assert (ok.backend, ok.base_url, ok.model) == ("openai", "http://127.0.0.1:8001/v1", "qwen")


@pytest.mark.parametrize("backend", ["local", "extractive", "fake"])
def test_other_llm_backends_need_no_base_url(backend: str) -> None:
    assert LLMSettings(backend=backend).base_url == ""


def test_unknown_llm_backend_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        Settings(llm={"backend": "gpt"})
    (loc, msg), = errors_of(exc).items()
    assert loc == ("llm", "backend")
    assert "'local', 'openai', 'extractive' or 'fake'" in msg


# -- chunking ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("size", "overlap"), [(256, 300), (200, 200)])
def test_chunk_overlap_must_be_smaller_than_the_size(size: int, overlap: int) -> None:
    with pytest.raises(ValidationError) as exc:
        Settings(chunk={"size": size, "overlap": overlap})
    assert errors_of(exc) == {
        ("chunk",): f"Value error, chunk.overlap ({overlap}) must be smaller than chunk.size ({size})"
    }


def test_chunk_size_is_bounded_by_the_embedder() -> None:
    with pytest.raises(ValidationError) as exc:
        ChunkSettings(size=300, overlap=10)
    assert errors_of(exc) == {("size",): "Input should be less than or equal to 256"}
    assert ChunkSettings(size=256, overlap=255).overlap == 255


# -- api_key -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["short", "x" * 11])
def test_api_key_needs_twelve_characters(key: str) -> None:
    with pytest.raises(ValidationError) as exc:
        Settings(api_key=key)
    assert errors_of(exc) == {
        ("api_key",): "Value error, api_key must be at least 12 characters (or empty to turn auth off)"
    }


@pytest.mark.parametrize("key", ["", "x" * 12, "a-much-longer-secret-key-0123456789"])
def test_api_key_empty_or_long_enough(key: str) -> None:
    settings = Settings(api_key=key)
    assert settings.api_key.get_secret_value() == key
    assert key == "" or key not in repr(settings)  # a SecretStr: never printed


# -- the environment ---------------------------------------------------------------------------------

def test_defaults_without_environment() -> None:
    settings = Settings()
    assert settings.data_dir == Path.cwd() / "var"
    assert settings.llm.backend == "extractive" and settings.chroma.url == "" and settings.retrieval.top_k == 5
    assert settings.api_key.get_secret_value() == ""


def test_nested_values_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ASSISTANT_LLM__BACKEND", "local")
    monkeypatch.setenv("ASSISTANT_CHROMA__URL", "http://127.0.0.1:8000/")
    monkeypatch.setenv("ASSISTANT_RETRIEVAL__TOP_K", "7")
    monkeypatch.setenv("ASSISTANT_CHUNK__SIZE", "128")
    monkeypatch.setenv("ASSISTANT_CHUNK__OVERLAP", "16")
    monkeypatch.setenv("ASSISTANT_API_KEY", "twelve-chars")
    monkeypatch.setenv("ASSISTANT_CORS_ORIGINS", '["http://localhost:3000"]')
    settings = Settings()
    assert settings.data_dir == tmp_path / "data"
    assert settings.chroma_path == tmp_path / "data" / "chroma"
    assert settings.llm.backend == "local"
    assert settings.chroma.url == "http://127.0.0.1:8000"  # the validator ran on the env value too
    assert settings.retrieval.top_k == 7 and isinstance(settings.retrieval.top_k, int)
    assert (settings.chunk.size, settings.chunk.overlap) == (128, 16)
    assert settings.api_key.get_secret_value() == "twelve-chars"
    assert settings.cors_origins == ["http://localhost:3000"]
    # the untouched nested fields keep their defaults
    assert settings.chroma.collection == "documents" and settings.retrieval.candidates == 30


def test_explicit_values_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_MAX_QUESTION_CHARS", "500")
    assert Settings().max_question_chars == 500
    assert Settings(max_question_chars=100).max_question_chars == 100


def test_variables_without_the_prefix_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM__BACKEND", "local")
    monkeypatch.setenv("RETRIEVAL__TOP_K", "9")
    settings = Settings()
    assert settings.llm.backend == "extractive" and settings.retrieval.top_k == 5


@pytest.mark.parametrize(("name", "value", "loc", "message"), [
    ("ASSISTANT_RETRIEVAL__TOP_K", "seven", ("retrieval", "top_k"), "Input should be a valid integer"),
    ("ASSISTANT_RETRIEVAL__TOP_K", "0", ("retrieval", "top_k"), "Input should be greater than or equal to 1"),
    ("ASSISTANT_LLM__BACKEND", "gpt", ("llm", "backend"), "Input should be 'local', 'openai'"),
    ("ASSISTANT_CHROMA__URL", "127.0.0.1:8000", ("chroma", "url"), "chroma.url must start with http://"),
    ("ASSISTANT_API_KEY", "short", ("api_key",), "api_key must be at least 12 characters"),
    ("ASSISTANT_MAX_UPLOAD_MB", "-1", ("max_upload_mb",), "Input should be greater than 0"),
])
def test_a_bad_environment_value_names_the_field(monkeypatch: pytest.MonkeyPatch, name: str, value: str,
                                                 loc: tuple[str, ...], message: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as exc:
        Settings()
    errors = errors_of(exc)
    assert list(errors) == [loc]
    assert message in errors[loc]
    assert ".".join(loc) in str(exc.value)  # the printed message names the field as a dotted path


def test_env_validation_of_a_model_validator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_CHUNK__SIZE", "64")
    monkeypatch.setenv("ASSISTANT_CHUNK__OVERLAP", "64")
    with pytest.raises(ValidationError) as exc:
        Settings()
    assert errors_of(exc) == {("chunk",): "Value error, chunk.overlap (64) must be smaller than chunk.size (64)"}
    monkeypatch.setenv("ASSISTANT_LLM__BACKEND", "openai")
    monkeypatch.setenv("ASSISTANT_CHUNK__OVERLAP", "8")
    with pytest.raises(ValidationError) as exc:
        Settings()
    assert list(errors_of(exc)) == [("llm",)]
    monkeypatch.setenv("ASSISTANT_LLM__BASE_URL", "http://127.0.0.1:8001/v1")
    assert Settings().llm.base_url == "http://127.0.0.1:8001/v1"
