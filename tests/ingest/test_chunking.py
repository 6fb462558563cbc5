"""ingest/chunking.py: sentence-aware chunks of at most 256 word pieces whose spans are exact."""

from __future__ import annotations

import re

import pytest

from ingest.chunking import MODEL_LIMIT, Chunker
from ingest.embedder import MAX_TOKENS


@pytest.fixture(scope="module")
def chunker(embedder) -> Chunker:  # noqa: ANN001
    return Chunker(embedder.count_tokens, size=200, overlap=30)


def _model_tokens(embedder, text: str) -> int:  # noqa: ANN001
    """Word pieces the model sees, with [CLS] and [SEP]."""
    return embedder.count_tokens(text) + 2


def _check_chunks(text: str, chunks: list[tuple[str, int, int]], embedder) -> None:  # noqa: ANN001
    assert chunks
    previous_start = -1
    for chunk, start, end in chunks:
        assert text[start:end] == chunk
        assert chunk == chunk.strip() and chunk
        assert start > previous_start, "chunks come in document order"
        assert _model_tokens(embedder, chunk) <= MAX_TOKENS
        previous_start = start


def test_clapnq_passages_spans_exact_and_within_model_limit(chunker, embedder, clapnq_passages) -> None:  # noqa: ANN001
    text = "\n\n".join(f"{title}\n\n{body}" for title, body in clapnq_passages[:60])
    chunks = chunker.split(text)
    _check_chunks(text, chunks, embedder)
    assert len(chunks) > 20
    assert max(_model_tokens(embedder, c) for c, _, _ in chunks) > 150, "chunks are filled, not tiny"
    # every non-space character of the document is in some chunk
    covered = bytearray(len(text))
    for _, start, end in chunks:
        covered[start:end] = b"\x01" * (end - start)
    assert all(covered[i] or ch.isspace() for i, ch in enumerate(text))


def test_chunks_end_at_sentence_boundaries(chunker, embedder) -> None:  # noqa: ANN001
    sentences = [f"Sentence number {i} talks about the harbour, the tides and the ships of port {i}."
                 for i in range(120)]
    text = " ".join(sentences)
    chunks = chunker.split(text)
    _check_chunks(text, chunks, embedder)
    assert len(chunks) >= 4
    for chunk, _, _ in chunks:
        assert chunk.startswith("Sentence number"), chunk[:40]
        assert chunk.endswith("."), chunk[-40:]


def test_consecutive_chunks_overlap(chunker, embedder) -> None:  # noqa: ANN001
    text = " ".join(f"Fact {i}: the river delta {i} floods every spring." for i in range(200))
    chunks = chunker.split(text)
    assert len(chunks) >= 3
    for (_, _, prev_end), (_, start, _) in zip(chunks, chunks[1:], strict=False):
        assert start < prev_end, "a chunk repeats the end of the previous one"


def test_one_giant_sentence_is_split_within_limit(chunker, embedder) -> None:  # noqa: ANN001
    text = ", ".join(f"item{i} alpha beta gamma" for i in range(800))  # no sentence boundary at all
    chunks = chunker.split(text)
    _check_chunks(text, chunks, embedder)
    assert len(chunks) > 5


def test_unicode_and_whitespace_spans(chunker, embedder) -> None:  # noqa: ANN001
    text = "\n\n".join(
        f"Paragraph {i}:  Ünïcödé café — “quotes”\tand tabs; 日本語のテキスト {i}.\nA second line {i}."
        for i in range(80)
    )
    _check_chunks(text, chunker.split(text), embedder)


def test_short_text_is_one_chunk(chunker) -> None:  # noqa: ANN001
    assert chunker.split("  Just one line.  ") == [("Just one line.", 2, 16)]


def test_size_is_capped_at_the_model_limit(embedder) -> None:  # noqa: ANN001
    assert Chunker(embedder.count_tokens, size=1000, overlap=10).size == MODEL_LIMIT


def test_overlap_must_be_smaller_than_size() -> None:
    with pytest.raises(ValueError, match=re.escape("chunk overlap (64) must be smaller than chunk size (64)")):
        Chunker(lambda t: len(t.split()), size=64, overlap=64)


TRICKY = [
    "Same sentence here. " * 120,
    "Café naïve résumé, déjà vu; façade. " * 60,
    "日本語のテキストです。文が続きます。" * 80,
    "x" * 3000 + " and then words. " * 40,
    "a.b,c;d e-f/g " * 300,
    "emoji 😀 in a sentence. Another one 🎉 here. " * 60,
    "Tabs\tand  double  spaces.\n\n\nNew paragraph here. " * 80,
    "unbelievably antidisestablishmentarianism internationalization " * 90,
]


@pytest.mark.parametrize("size", [64, 200])
def test_counting_from_the_texts_own_word_pieces_gives_the_same_chunks(embedder, clapnq_passages, size: int) -> None:  # noqa: ANN001
    """The chunker tokenizes a text once and counts each piece the splitter measures from that (see
    ``_PieceCounter``): the very chunks of counting every piece alone, also where pieces cut words."""
    alone = Chunker(embedder.count_tokens, size=size, overlap=size // 6)
    once = Chunker(embedder.count_tokens, size=size, overlap=size // 6, token_spans=embedder.token_spans)
    texts = TRICKY + ["\n\n".join(f"{t}\n\n{b}" for t, b in clapnq_passages[i : i + 5]) for i in range(0, 60, 5)]
    for text in texts:
        assert once.split(text) == alone.split(text)


def test_word_pieces_of_a_long_text_are_found_in_parts_cut_between_words(embedder) -> None:  # noqa: ANN001
    """``token_spans`` tokenizes a long text in parts cut at whitespace: the spans of the whole text. A word longer
    than a part is not cut, so chunks stay the same."""
    from ingest import embedder as module

    text = "Words with spaces between them. " * 200
    long_word = text + "y" * 300 + " end. " + "More words after it. " * 20
    whole = embedder._raw_tokenizer.encode(text, add_special_tokens=False)
    original = module._parts
    try:
        module._parts = lambda t: original(t, most=100)  # type: ignore[assignment]
        starts, ends, word = embedder.token_spans(text)
        assert [tuple(o) for o in whole.offsets] == list(zip(starts.tolist(), ends.tolist(), strict=True))
        assert word.tolist() == [not t.startswith("##") for t in whole.tokens]
        once = Chunker(embedder.count_tokens, size=32, overlap=4, token_spans=embedder.token_spans)
        assert once.split(long_word) == Chunker(embedder.count_tokens, size=32, overlap=4).split(long_word)
    finally:
        module._parts = original
    parts = original(long_word, most=100)
    assert len(parts) > 60 and all(long_word[a].isspace() for a, _ in parts[1:])
    assert parts[0][0] == 0 and parts[-1][1] == len(long_word) and all(p[1] == q[0] for p, q in zip(parts, parts[1:], strict=False))
    assert max(b - a for a, b in parts) > 300  # the long word's part
