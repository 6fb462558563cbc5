"""ui.render: Answer / IngestReport / DocumentInfo -> HTML, without a browser."""

from __future__ import annotations

from assistant.schema import Answer, Citation, DocumentInfo, Grounding, IngestFailure, IngestReport, Passage
from ui.render import (
    answer_markdown,
    document_choices,
    document_rows,
    render_answer,
    render_error,
    render_ingest_report,
    render_partial,
    render_passage,
    render_question,
    render_scope,
)


def _citation(n: int = 1, quote: str = "The summoning of Russia's ambassador.", source: str = "/d/news.txt") -> Citation:
    return Citation(id=n, document_id="abc123", source=source, quote=quote, start=0, end=len(quote), score=0.7)


def _answer(**kw: object) -> Answer:
    base = dict(answer="Seoul summoned the ambassador. [1]", abstained=False, citations=[_citation()],
                grounding=Grounding(score=1.0), query="What did South Korea do?")
    return Answer(**{**base, **kw})


def test_citations_are_numbered_expandable_sources_with_file_name_and_quote() -> None:
    html = render_answer(_answer(), "What did South Korea do?")
    link = '<a class="ga-open" href="#cite:abc123:0:37" title="Open news.txt at this passage">'
    assert f'<details class="ga-source"><summary><span class="ga-num">{link}[1]</a></span> news.txt</summary>' in html
    assert "<blockquote>The summoning of Russia&#x27;s ambassador.</blockquote>" in html
    assert f'<sup class="ga-cite">{link}[1]</a></sup>' in html
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


# -- issue 12: viewer, footer, copy-as-Markdown, scope line --------------------------------------

def test_footer_shows_time_and_backend_and_carries_the_markdown() -> None:
    html = render_answer(_answer(backend="extractive"), "q", seconds=2.34)
    assert '<div class="ga-meta"><span>2.3 s · extractive, no LLM</span>' in html
    assert '<button class="ga-copy" type="button"' in html
    assert "\n" not in html and "**Sources**&#10;&#10;- [1] news.txt" in html
    assert answer_markdown(_answer()) == ("Seoul summoned the ambassador. [1]\n\n**Sources**\n\n"
                                          "- [1] news.txt: \u201cThe summoning of Russia's ambassador.\u201d\n")
    assert answer_markdown(_answer(citations=[])) == "Seoul summoned the ambassador. [1]"


def test_viewer_marks_the_quote_escapes_the_document_and_shows_the_page() -> None:
    text = "<b>Before</b> paragraph.\n\nThe <quote> here.\n\nAfter."
    start = text.index("The <quote>")
    p = Passage(document_id="d", source="/srv/report.pdf", title="Report", chars=len(text) + 10, start=start,
                end=start + 11, context_start=0, context_end=len(text), text=text, quote=text[start:start + 11],
                page=2, page_start=start, page_end=len(text), page_text=text[start:])
    html = render_passage(p)
    assert '<mark id="ga-quote">The &lt;quote&gt;</mark>' in html and "<b>" not in html
    assert "&lt;b&gt;Before&lt;/b&gt; paragraph.\n\n<mark" in html  # paragraphs keep their breaks
    assert "<h3>report.pdf</h3>" in html and "page 2 &middot;" in html and "Whole page 2" in html
    assert html.count("<mark") == 2
    assert "&hellip; " not in html and "After. &hellip;</div>" in html  # starts at 0, more text after


def test_scope_line() -> None:
    doc = DocumentInfo(id="a", source="/x/a.txt", title="", chunks=1, version="v", ingested_at="")
    assert "Asking: <strong>all documents</strong>" in render_scope(None)
    assert "Asking: <strong>2 documents</strong>: a.txt, b.pdf" in render_scope(
        [doc, doc.model_copy(update={"source": "/y/b.pdf"})])
    assert "no documents matching &ldquo;&lt;i&gt;&rdquo;" in render_scope([], "<i>")
