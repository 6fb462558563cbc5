"""ui.render: Answer / IngestReport / DocumentInfo -> HTML, without a browser."""

from __future__ import annotations

from assistant.schema import Answer, Citation, DocumentInfo, Grounding, IngestFailure, IngestReport
from ui.render import (
    document_choices,
    document_rows,
    render_answer,
    render_error,
    render_ingest_report,
    render_partial,
    render_question,
)


def _citation(n: int = 1, quote: str = "The summoning of Russia's ambassador.", source: str = "/d/news.txt") -> Citation:
    return Citation(id=n, document_id="abc123", source=source, quote=quote, start=0, end=len(quote), score=0.7)


def _answer(**kw: object) -> Answer:
    base = dict(answer="Seoul summoned the ambassador. [1]", abstained=False, citations=[_citation()],
                grounding=Grounding(score=1.0), query="What did South Korea do?")
    return Answer(**{**base, **kw})


def test_citations_are_numbered_expandable_sources_with_file_name_and_quote() -> None:
    html = render_answer(_answer(), "What did South Korea do?")
    assert '<details class="ga-source"><summary><span class="ga-num">[1]</span> news.txt</summary>' in html
    assert "<blockquote>The summoning of Russia&#x27;s ambassador.</blockquote>" in html
    assert '<sup class="ga-cite">[1]</sup>' in html
    assert "/d/" not in html  # the file name, not the server path
    assert "ga-abstain" not in html and "Searched for" not in html


def test_document_and_user_text_is_escaped_and_kept_on_one_block() -> None:
    evil = "<script>alert(1)</script>\n\n# not a heading *nor emphasis*"
    answer = _answer(answer=f"{evil} [1]", citations=[_citation(quote=evil, source="/d/<b>x</b>.txt")],
                     query=evil, notice=evil)
    html = render_answer(answer, "q")
    assert "<script>" not in html and "<b>x</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "\n" not in html  # one HTML block: Markdown cannot reinterpret document text inside it
    assert "<script>" not in render_question(evil) and "<script>" not in render_partial(evil)
    assert "<script>" not in render_error(evil)


def test_abstention_is_distinct_from_an_answer() -> None:
    abstained = _answer(answer="The documents do not cover this question.", abstained=True, citations=[],
                        grounding=Grounding(score=0.0))
    html = render_answer(abstained, "What did South Korea do?")
    assert 'class="ga-abstain"' in html and "Not in your documents" in html
    assert "ga-sources" not in html
    assert "Not in your documents" not in render_answer(_answer(), "What did South Korea do?")


def test_rewritten_question_is_shown_only_when_it_differs() -> None:
    follow = _answer(query="And Russia? (follow-up to: What did South Korea do?)")
    assert "Searched for: <em>And Russia? (follow-up to: What did South Korea do?)</em>" in render_answer(
        follow, "And Russia?")
    assert "Searched for" not in render_answer(_answer(query="  What did   South Korea do? "),
                                               "What did South Korea do?")


def test_notice_and_dropped_sentences_are_shown() -> None:
    html = render_answer(_answer(notice="The language model failed; showing the best passages instead.",
                                 grounding=Grounding(score=0.5, unsupported=["Made up."])), "q")
    assert 'class="ga-notice"' in html and "showing the best passages" in html
    assert "1 sentence dropped as unsupported" in html


def test_ingest_report_shows_counts_and_each_failure() -> None:
    report = IngestReport(failures=[IngestFailure(path="/up/image.bin", reason="unsupported file type '.bin'")])
    report.documents.update(added=2, failed=1)
    report.chunks["added"] = 7
    html = render_ingest_report(report)
    assert "2 added, 1 failed" in html and "7 chunks" in html
    assert "<code>image.bin</code>: unsupported file type &#x27;.bin&#x27;" in html
    assert "ga-report-failed" in html
    assert "nothing to do" in render_ingest_report(IngestReport())


def test_documents_table_rows_and_delete_choices() -> None:
    doc = DocumentInfo(id="7c13dbb0ce6aad77", source="/srv/up/notes.txt", title="Notes", chunks=5, version="h",
                       ingested_at="2025-11-25T17:18:09+00:00")
    assert document_rows([doc]) == [["notes.txt", 5, "2025-11-25 17:18", "7c13dbb0ce6aad77"]]
    assert document_choices([doc]) == [("notes.txt (7c13dbb0)", "7c13dbb0ce6aad77")]
    assert document_rows([doc.model_copy(update={"ingested_at": "unknown"})])[0][2] == "unknown"
