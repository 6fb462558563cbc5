"""ingest/excerpts.py: the passage widened to whole neighbouring paragraphs, bounded by ``context``."""

from __future__ import annotations

import pytest

from assistant.errors import InvalidRange, RangeOutOfBounds
from assistant.schema import DocumentInfo
from ingest.excerpts import excerpt, widen
from ingest.store import StoredDocument

PARAS = ["First paragraph about tides.", "Second paragraph: the quote lives here, in the middle.",
         "Third paragraph closes.", "Fourth paragraph is far away and long " + "word " * 40]
TEXT = "\n\n".join(PARAS)


def _doc(text: str = TEXT, pages: list[tuple[int, int, int]] | None = None) -> StoredDocument:
    info = DocumentInfo(id="d1", source="/x/a.txt", title="A", chunks=1, version="v", ingested_at="")
    return StoredDocument(info, text, pages or [])


def test_widens_to_whole_neighbouring_paragraphs_within_context() -> None:
    start = TEXT.index("the quote")
    end = start + len("the quote")
    p = excerpt(_doc(), start, end, context=60)
    assert p.quote == TEXT[start:end] == "the quote"
    assert p.text == TEXT[p.context_start:p.context_end]
    assert p.text.startswith("First paragraph") and p.text.endswith("Third paragraph closes.")


def test_without_a_paragraph_break_in_reach_it_cuts_at_words() -> None:
    start = TEXT.index("the quote")
    lo, hi = widen(TEXT, start, start + 9, context=12)
    assert 0 < lo <= start and TEXT[lo - 1].isspace()
    assert hi >= start + 9 and (hi == len(TEXT) or TEXT[hi].isspace())
    assert widen(TEXT, start, start + 9, context=0) == (start, start + 9)


def test_page_of_the_quote_and_its_text() -> None:
    text = "Page one text.\n\nPage two text here."
    pages = [(0, 14, 1), (16, len(text), 2)]
    p = excerpt(_doc(text, pages), text.index("two"), text.index("two") + 3)
    assert (p.page, p.page_text) == (2, "Page two text here.")
    assert excerpt(_doc(text, pages), 0, 4).page == 1


@pytest.mark.parametrize(("start", "end", "context", "error"), [
    (-1, 3, 10, InvalidRange), (5, 2, 10, InvalidRange), (0, 3, -5, InvalidRange),
    (0, len(TEXT) + 1, 10, RangeOutOfBounds),
])
def test_bad_ranges_are_refused(start: int, end: int, context: int, error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        excerpt(_doc(), start, end, context)
    assert info.value.status == 422  # type: ignore[attr-defined]
