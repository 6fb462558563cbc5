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

from assistant.schema import Answer, Citation, DocumentInfo, IngestReport

_MARKER = re.compile(r"\[(\d+)\]")
DOCUMENT_HEADERS = ["Document", "Chunks", "Ingested", "ID"]


_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")  # overrides/isolates: a quote must not display reversed


def _text(value: str) -> str:
    """Escaped text with whitespace (including newlines) collapsed to single spaces, bidi controls dropped."""
    return html.escape(" ".join(_BIDI.sub("", value or "").split()))


def source_name(source: str) -> str:
    """The file name of a document source (a path), or the source itself when it has none."""
    return Path(source).name or source


def _markers(escaped: str) -> str:
    """``[n]`` citation markers as superscripts (presentation only: citations stay data)."""
    return _MARKER.sub(r'<sup class="ga-cite">[\1]</sup>', escaped)


def render_sources(citations: list[Citation]) -> str:
    """One expandable ``<details>`` per citation: ``[n] file name`` and the quoted evidence."""
    if not citations:
        return ""
    items = "".join(
        f'<details class="ga-source"><summary><span class="ga-num">[{c.id}]</span> '
        f"{_text(source_name(c.source))}</summary>"
        f"<blockquote>{_text(c.quote)}</blockquote></details>"
        for c in citations
    )
    return f'<div class="ga-sources"><div class="ga-label">Sources</div>{items}</div>'


def render_answer(answer: Answer, question: str = "") -> str:
    """The final, verified answer as one assistant message.

    An abstention gets its own class and heading ("Not in your documents"); a rewritten follow-up
    query is shown when it differs from ``question``; a notice (degraded answer) precedes the text.
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
        parts.append(f'<div class="ga-text">{_markers(_text(answer.answer))}</div>')
        parts.append(render_sources(answer.citations))
        dropped = len(answer.grounding.unsupported)
        if dropped:
            parts.append(
                f'<div class="ga-dropped">{dropped} sentence{"s" if dropped != 1 else ""} dropped '
                "as unsupported by the sources.</div>"
            )
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
