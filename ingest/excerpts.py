"""Slices of a stored document around a passage: what the source viewer (UI) and
``GET /v1/documents/{id}/text`` show.

The passage ``[start:end]`` is widened by at most ``context`` characters on each side, to paragraph
boundaries (blank lines) when one is in reach, so neighbouring paragraphs appear whole; otherwise to a
word boundary. For PDFs ingested with page spans, the page the passage starts on and that page's text.

Example::

    passage = excerpt(store.document(doc_id), start=1958, end=2287, context=600)
    passage.quote == passage.text[passage.start - passage.context_start:][: passage.end - passage.start]
"""

from __future__ import annotations

import re

from assistant.errors import InvalidRange, RangeOutOfBounds
from assistant.schema import Passage
from ingest.store import StoredDocument

DEFAULT_CONTEXT = 600
MAX_CONTEXT = 20_000
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
_SPACE = re.compile(r"\s+")


def check_range(start: int, end: int, context: int, chars: int) -> None:
    """Raise ``InvalidRange`` / ``RangeOutOfBounds`` (422) unless ``0 <= start <= end <= chars``."""
    if not 0 <= context <= MAX_CONTEXT:
        raise InvalidRange(f"context must be between 0 and {MAX_CONTEXT} characters, got {context}")
    if start < 0 or end < start:
        raise InvalidRange(f"start ({start}) and end ({end}) must satisfy 0 <= start <= end")
    if end > chars:
        raise RangeOutOfBounds(f"end ({end}) is past the end of the document ({chars} characters)")


def widen(text: str, start: int, end: int, context: int) -> tuple[int, int]:
    """``(context_start, context_end)`` around ``[start:end]``: at most ``context`` characters more on
    each side, cut at the farthest paragraph boundary in reach, else at a word boundary."""
    lo, hi = max(0, start - context), min(len(text), end + context)
    if lo > 0:
        brk = _PARAGRAPH_BREAK.search(text, lo, start) or _SPACE.search(text, lo, start)
        lo = brk.end() if brk else lo
    if hi < len(text):
        breaks = list(_PARAGRAPH_BREAK.finditer(text, end, hi)) or list(_SPACE.finditer(text, end, hi))
        hi = breaks[-1].start() if breaks else hi
    return lo, hi


def page_of(pages: list[tuple[int, int, int]], offset: int) -> tuple[int, int, int] | None:
    """The ``(start, end, page)`` span holding ``offset`` (the next page when it falls between two)."""
    return next((span for span in pages if offset < span[1]), pages[-1] if pages else None)


def excerpt(doc: StoredDocument, start: int, end: int | None = None, context: int = DEFAULT_CONTEXT) -> Passage:
    """The passage ``[start:end]`` of ``doc`` with its context (``end`` defaults to ``start``)."""
    end = start if end is None else end
    text = doc.text
    check_range(start, end, context, len(text))
    lo, hi = widen(text, start, end, context)
    span = page_of(doc.pages, start)
    return Passage(
        document_id=doc.info.id, source=doc.info.source, title=doc.info.title, chars=len(text),
        start=start, end=end, context_start=lo, context_end=hi, text=text[lo:hi], quote=text[start:end],
        page=span[2] if span else None,
        page_start=span[0] if span else None,
        page_end=span[1] if span else None,
        page_text=text[span[0]:span[1]] if span else None,
    )
