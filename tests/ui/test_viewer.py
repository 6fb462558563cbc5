"""ui.viewer.open_source: a citation link target in, the viewer's HTML out (or a friendly error)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from assistant.errors import AssistantError, DocumentNotFound, RangeOutOfBounds
from assistant.schema import Passage
from ui.viewer import VIEWER_CONTEXT, open_source


class Documents:
    """Implements ``IngestService.passage`` over one text, or raises ``error``."""

    def __init__(self, text: str, error: AssistantError | None = None) -> None:
        self.text, self.error, self.calls = text, error, []  # type: ignore[var-annotated]

    def passage(self, doc_id: str, start: int, end: int, context: int) -> Passage:
        self.calls.append((doc_id, start, end, context))
        if self.error:
            raise self.error
        return Passage(document_id=doc_id, source="/d/a.txt", title="", chars=len(self.text), start=start, end=end,
                       context_start=0, context_end=len(self.text), text=self.text, quote=self.text[start:end])


def _services(docs: Any) -> Any:
    return SimpleNamespace(ingestor=docs)


def test_opens_the_cited_passage() -> None:
    docs = Documents("Intro.\n\nThe <cited> part.\n\nOutro.")
    html = open_source(_services(docs), "#cite:abc123:8:25")
    assert docs.calls == [("abc123", 8, 25, VIEWER_CONTEXT)]
    assert '<mark id="ga-quote">The &lt;cited&gt; part.</mark>' in html and "<h3>a.txt</h3>" in html


def test_bad_links_and_missing_documents_get_a_message() -> None:
    docs = Documents("text")
    assert "does not point at a passage" in open_source(_services(docs), "javascript:alert(1)") and not docs.calls
    gone = open_source(_services(Documents("", DocumentNotFound("no document"))), "#cite:abc:0:4")
    assert "no longer indexed" in gone and "ga-error" in gone
    changed = open_source(_services(Documents("", RangeOutOfBounds("end (9) is past the end"))), "#cite:abc:0:9")
    assert "past the end" in changed and "may have changed" in changed
