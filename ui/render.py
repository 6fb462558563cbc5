"""Pure rendering helpers of the chat page: typed data in, HTML out (no Gradio, no services).

Every piece of document or user text goes through ``html.escape``; whitespace is collapsed so each
rendered message is one HTML block without blank lines, which keeps the Chatbot's Markdown renderer
from re-interpreting document text (``*``, ``_``, ``#``...) inside it.

Example::

    html = render_answer(answer, question="And Russia?")
    rows = document_rows(services.ingestor.documents())
"""

from __future__ import annotations

import html
import re
from datetime import datetime
from pathlib import Path

from assistant.schema import Answer, Citation, DocumentInfo, IngestReport, Passage

_MARKER = re.compile(r"\[(\d+)\]")
DOCUMENT_HEADERS = ["Document", "Chunks", "Ingested", "ID"]


_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")  # overrides/isolates: a quote must not display reversed


def _text(value: str) -> str:
    """Escaped text with whitespace (including newlines) collapsed to single spaces, bidi controls dropped."""
    return html.escape(" ".join(_BIDI.sub("", value or "").split()))


def source_name(source: str) -> str:
    """The file name of a document source (a path), or the source itself when it has none."""
    return Path(source).name or source


def _markers(escaped: str, citations: list[Citation] | None = None) -> str:
    """``[n]`` citation markers as superscripts (presentation only: citations stay data); a marker
    with a citation links to it in the source viewer (``cite_link``)."""
    by_id = {c.id: c for c in citations or []}

    def marker(m: re.Match[str]) -> str:
        c = by_id.get(int(m.group(1)))
        return f'<sup class="ga-cite">{cite_link(c, f"[{c.id}]") if c else m.group(0)}</sup>'

    return _MARKER.sub(marker, escaped)


def render_sources(citations: list[Citation]) -> str:
    """One expandable ``<details>`` per citation: ``[n] file name`` and the quoted evidence."""
    if not citations:
        return ""
    items = "".join(
        f'<details class="ga-source"><summary><span class="ga-num">{cite_link(c, f"[{c.id}]")}</span> '
        f"{_text(source_name(c.source))}</summary>"
        f"<blockquote>{_text(c.quote)}</blockquote>"
        f'<div class="ga-open-line">{cite_link(c, "Show in the document &#8599;")}</div></details>'
        for c in citations
    )
    return f'<div class="ga-sources"><div class="ga-label">Sources</div>{items}</div>'


def render_answer(answer: Answer, question: str = "", seconds: float | None = None) -> str:
    """The final, verified answer as one assistant message.

    An abstention gets its own class and heading ("Not in your documents"); a rewritten follow-up
    query is shown when it differs from ``question``; a notice (degraded answer) precedes the text;
    a quiet footer says how long it took and what wrote it, with a "Copy" button (``render_footer``).
    """
    parts: list[str] = []
    if answer.query.strip() and " ".join(answer.query.split()) != " ".join(question.split()):
        parts.append(f'<div class="ga-query">Searched for: <em>{_text(answer.query)}</em></div>')
    if answer.notice:
        parts.append(f'<div class="ga-notice">&#9888; {_text(answer.notice)}</div>')
    if answer.abstained:
        parts.append(
            '<div class="ga-abstain"><strong>&#8856; Not in your documents</strong>'
            f"<p>{_text(answer.answer)}</p></div>"
        )
    else:
        parts.append(f'<div class="ga-text">{_markers(_text(answer.answer), answer.citations)}</div>')
        parts.append(render_sources(answer.citations))
        dropped = len(answer.grounding.unsupported)
        if dropped:
            parts.append(
                f'<div class="ga-dropped">{dropped} sentence{"s" if dropped != 1 else ""} dropped '
                "as unsupported by the sources.</div>"
            )
    parts.append(render_footer(answer, seconds))
    return f'<div class="ga-answer">{"".join(parts)}</div>'


def render_question(text: str) -> str:
    """The user's question, escaped (it is shown as typed, never interpreted as HTML)."""
    return f'<span class="ga-question">{_text(text)}</span>'


def render_partial(text: str) -> str:
    """Tokens streamed so far, with a typing cursor."""
    return f'<div class="ga-answer ga-streaming">{_markers(_text(text))}<span class="ga-cursor">&#9611;</span></div>'


def render_error(message: str) -> str:
    """A friendly error message in place of an answer (never a stack trace)."""
    return f'<div class="ga-error"><strong>Sorry, I couldn\'t answer that.</strong> {_text(message)}</div>'


def render_ingest_report(report: IngestReport) -> str:
    """Counts of what an upload added/updated/skipped, and each failure with its reason."""
    d = report.documents
    counts = [f"{d.get(k, 0)} {k}" for k in ("added", "updated", "unchanged", "failed") if d.get(k, 0)]
    summary = ", ".join(counts) or "nothing to do"
    lines = [
        f'<div class="ga-report {"ga-report-ok" if report.ok else "ga-report-failed"}">'
        f"<strong>Upload:</strong> {html.escape(summary)} &middot; {_count(report.chunks.get('added', 0), 'chunk')} "
        f"indexed in {report.seconds:.1f} s"
    ]
    if report.failures:
        items = "".join(
            f"<li><code>{_text(source_name(f.path))}</code>: {_text(f.reason)}</li>" for f in report.failures
        )
        lines.append(f"<ul>{items}</ul>")
    lines.append("</div>")
    return "".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def render_status(message: str, *, error: bool = False) -> str:
    return f'<div class="{"ga-error" if error else "ga-status"}">{_text(message)}</div>'


def _when(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


def document_rows(documents: list[DocumentInfo]) -> list[list[str | int]]:
    """Rows of the documents table, in ``DOCUMENT_HEADERS`` order."""
    return [[source_name(d.source), d.chunks, _when(d.ingested_at), d.id] for d in documents]


def document_choices(documents: list[DocumentInfo]) -> list[tuple[str, str]]:
    """``(label, id)`` pairs for the delete dropdown; the label disambiguates equal file names."""
    return [(f"{source_name(d.source)} ({d.id[:8]})", d.id) for d in documents]


# -- source viewer, answer footer and scope (issue 12) ------------------------------------------

CITE_PREFIX = "#cite:"
BACKENDS = {"local": "local model", "openai": "OpenAI-compatible server", "extractive": "extractive, no LLM",
            "abstain": "retrieval only", "fake": "test model"}


def cite_link(c: Citation, label: str) -> str:
    """A link that opens citation ``c`` in the source viewer. Its target travels in ``href`` (the
    Chatbot's sanitizer keeps ``href`` and ``title``, not ``data-*``): ``#cite:<doc_id>:<start>:<end>``.
    ``label`` is HTML (escape it first)."""
    title = html.escape(f"Open {source_name(c.source)} at this passage", quote=True)
    href = html.escape(f"{CITE_PREFIX}{c.document_id}:{c.start}:{c.end}", quote=True)
    return f'<a class="ga-open" href="{href}" title="{title}">{label}</a>'


def parse_cite(ref: str | None) -> tuple[str, int, int] | None:
    """``(doc_id, start, end)`` from a ``cite_link`` href (or ``None`` when it is not one)."""
    m = re.fullmatch(r"#cite:([\w-]{1,128}):(\d{1,9}):(\d{1,9})", (ref or "").strip())
    return (m.group(1), int(m.group(2)), int(m.group(3))) if m else None


def answer_markdown(answer: Answer) -> str:
    """The answer as Markdown with its numbered sources: what the "Copy" button copies."""
    text = " ".join(answer.answer.split())
    if not answer.citations:
        return text
    sources = "\n".join(f"- [{c.id}] {source_name(c.source)}: \u201c{' '.join(c.quote.split())}\u201d"
                        for c in answer.citations)
    return f"{text}\n\n**Sources**\n\n{sources}\n"


def render_footer(answer: Answer, seconds: float | None) -> str:
    """Quiet line under an answer: time taken, the backend that wrote it, a Copy (as Markdown) button.
    The Markdown rides along in a hidden ``<pre>`` (escaped) for the page's copy handler."""
    meta = [f"{seconds:.1f} s"] if seconds is not None else []
    if answer.backend:
        meta.append(BACKENDS.get(answer.backend, answer.backend))
    return (f'<div class="ga-meta"><span>{_text(" · ".join(meta))}</span>'
            '<button class="ga-copy" type="button" title="Copy the answer and its sources as Markdown">'
            "Copy</button></div>"
            # newlines as character references: a blank line would end the Chatbot's HTML block
            f'<pre class="ga-md" hidden>{html.escape(answer_markdown(answer)).replace(chr(10), "&#10;")}</pre>')


def render_passage(p: Passage) -> str:
    """The source viewer: document name (and page), the passage's context with the quote in ``<mark>``,
    and for a PDF the whole page. All document text is escaped; paragraphs keep their line breaks."""
    before = p.text[: p.start - p.context_start]
    after = p.text[p.end - p.context_start:]
    where = f"page {p.page} &middot; " if p.page else ""
    head = (f'<div class="ga-viewer-head"><div class="ga-label">Source</div>'
            f"<h3>{_text(source_name(p.source))}</h3>"
            f'<div class="ga-viewer-where">{where}characters {p.start:,}&ndash;{p.end:,} of {p.chars:,}'
            f"{' &middot; ' + _text(p.title) if p.title and p.title != source_name(p.source) else ''}</div></div>")
    body = (f'<div class="ga-doc">{"&hellip; " if p.context_start > 0 else ""}{html.escape(before)}'
            f'<mark id="ga-quote">{html.escape(p.quote)}</mark>{html.escape(after)}'
            f'{" &hellip;" if p.context_end < p.chars else ""}</div>')
    page = ""
    if p.page_text is not None and p.page_start is not None:
        page = (f'<details class="ga-page"><summary>Whole page {p.page}</summary>'
                f'<div class="ga-doc">{_marked(p.page_text, p.start - p.page_start, p.end - p.page_start)}</div>'
                "</details>")
    return f'<div class="ga-viewer">{head}{body}{page}</div>'


def _marked(text: str, start: int, end: int) -> str:
    """``text`` escaped, with ``[start:end]`` (clipped to it) in ``<mark>``."""
    start, end = max(0, min(start, len(text))), max(0, min(end, len(text)))
    return f"{html.escape(text[:start])}<mark>{html.escape(text[start:end])}</mark>{html.escape(text[end:])}"


def render_viewer_error(message: str) -> str:
    return f'<div class="ga-viewer">{render_status(message, error=True)}</div>'


def render_scope(documents: list[DocumentInfo] | None, prefix: str = "") -> str:
    """The line above the chat: what the next question is asked of (``None``: every document)."""
    if documents is None:
        return '<div class="ga-scope">Asking: <strong>all documents</strong></div>'
    if not documents:
        what = f" matching &ldquo;{_text(prefix)}&rdquo;" if prefix else ""
        return f'<div class="ga-scope ga-scope-empty">Asking: <strong>no documents{what}</strong> &middot; ' \
               "change or clear the choice below</div>"
    names = ", ".join(source_name(d.source) for d in documents[:5])
    more = f" and {len(documents) - 5} more" if len(documents) > 5 else ""
    return (f'<div class="ga-scope">Asking: <strong>{_count(len(documents), "document")}</strong>: '
            f"{_text(names)}{more}</div>")
