"""Plain-text rendering of an Answer for the terminal (the API returns JSON, the UI renders its own)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from assistant.schema import Answer


def render_answer_text(answer: Answer, width: int = 100) -> str:
    lines = []
    if answer.notice:
        lines.append(f"note: {answer.notice}")
    lines.append(textwrap.fill(answer.answer, width))
    if answer.citations:
        lines.append("")
        lines.append("Sources:")
        for c in answer.citations:
            quote = " ".join(c.quote.split())
            lines.append(f"  [{c.id}] {Path(c.source).name} (chars {c.start}-{c.end})")
            lines.append(textwrap.fill(f"“{quote}”", width, initial_indent="      ", subsequent_indent="      "))
    if answer.grounding.unsupported:
        lines.append("")
        lines.append(f"Dropped as unsupported by the sources: {len(answer.grounding.unsupported)} sentence(s)")
    return "\n".join(lines)
