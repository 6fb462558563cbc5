"""Hypothesis on the loaders and the chunker: any bytes or markup either load or fail with
``BadDocument`` (never another exception), and every chunk is exactly ``text[start:end]``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.errors import BadDocument
from ingest.chunking import MODEL_LIMIT, Chunker
from ingest.loaders import Bounds, load_file

FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
# text that looks like documents: words, sentence ends, markers, whitespace and the odd control character
TEXTY = st.text(alphabet=st.sampled_from(list("abc XYZ019.,!?;:'\"()[]-\n\n\t#*_<>/&=é–’\u200b\u202e\u00a0\r")) | st.characters(exclude_categories=("Cs",)),  # loaders never produce lone surrogates
                max_size=600)
TAGS = st.sampled_from(["p", "div", "script", "style", "title", "br", "li", "b", "svg", "template", "td"])
MARKUP = st.recursive(
    TEXTY.map(lambda t: t.replace("<", " ")),
    lambda inner: st.tuples(TAGS, st.lists(inner, max_size=4), st.booleans()).map(
        lambda x: f"<{x[0]}>{''.join(x[1])}" + (f"</{x[0]}>" if x[2] else "")),
    max_leaves=20,
)


def _loads_or_refuses(name: str, data: bytes) -> None:
    try:
        doc = load_file(Path(name), max_bytes=2**20, data=data, bounds=Bounds(max_chars=10_000))
    except BadDocument as exc:
        assert exc.message and "\n" not in exc.message
        return
    assert doc.text.strip() and doc.title
    for start, end, page in doc.pages:
        assert 0 <= start < end <= len(doc.text) and page >= 1


@FUZZ
@given(data=st.binary(max_size=2000), suffix=st.sampled_from([".txt", ".md", ".html", ".pdf", ".docx"]))
def test_any_bytes_load_or_are_refused_cleanly(data: bytes, suffix: str) -> None:
    _loads_or_refuses(f"fuzz{suffix}", data)


@FUZZ
@given(text=TEXTY, encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]))
def test_any_text_loads_or_is_refused_cleanly(text: str, encoding: str) -> None:
    _loads_or_refuses("fuzz.txt", text.encode(encoding, errors="ignore"))


@FUZZ
@given(markup=MARKUP)
def test_any_markup_loads_or_is_refused_cleanly(markup: str) -> None:
    _loads_or_refuses("fuzz.html", markup.encode("utf-8", "replace"))


@pytest.fixture(scope="module")
def chunker(embedder: Any) -> Chunker:
    return Chunker(embedder.count_tokens, size=64, overlap=8)


@FUZZ
@given(text=TEXTY)
def test_every_chunk_is_an_exact_span_within_the_model_limit(text: str, chunker: Chunker, embedder: Any) -> None:
    chunks = chunker.split(text)
    for chunk, start, end in chunks:
        assert text[start:end] == chunk
        assert embedder.count_tokens(chunk) <= MODEL_LIMIT
    starts = [s for _, s, _ in chunks]
    assert starts == sorted(starts)
    if text.strip():
        assert chunks, "text with content produced no chunk"
