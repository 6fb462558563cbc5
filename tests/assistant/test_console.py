"""``assistant.console.render_answer_text``: the terminal rendering of ``assistant ask`` (without ``--json``)."""

from __future__ import annotations

from assistant.console import render_answer_text
from assistant.schema import Answer, Citation, Grounding

QUOTE = "South Korea has already raised alarms over this collaboration."


def citation(n: int, source: str, quote: str, start: int, end: int) -> Citation:
    return Citation(id=n, document_id=f"doc{n}", source=source, quote=quote, start=start, end=end, score=0.7)


def answer(text: str, citations: list[Citation], **kw: object) -> Answer:
    fields: dict[str, object] = {"grounding": Grounding(score=1.0), "query": "q", "abstained": False,
                                 "backend": "extractive"}
    fields.update(kw)
    return Answer(answer=text, citations=citations, **fields)  # type: ignore[arg-type]


def test_answer_then_sources_with_file_name_and_char_span() -> None:
    a = answer(f"{QUOTE} [1] They summoned the ambassador. [2]", [
        citation(1, "/home/me/notes/north-korean-troops-in-ukraine.txt", QUOTE, 1958, 2021),
        citation(2, "/srv/docs/q3 report.pdf", "The summoning of\n  Russia’s   ambassador.", 2022, 2063),
    ])
    assert render_answer_text(a) == "\n".join([
        f"{QUOTE} [1] They summoned the ambassador. [2]",
        "",
        "Sources:",
        "  [1] north-korean-troops-in-ukraine.txt (chars 1958-2021)",
        f"      “{QUOTE}”",
        "  [2] q3 report.pdf (chars 2022-2063)",
        "      “The summoning of Russia’s ambassador.”",  # the quote's whitespace is collapsed
    ])


def test_notice_comes_first() -> None:
    notice = "The language model failed (timeout); showing the best passages instead."
    lines = render_answer_text(answer(f"{QUOTE} [1]", [citation(1, "a.txt", QUOTE, 0, 62)], notice=notice)).split("\n")
    assert lines[0] == f"note: {notice}"
    assert lines[1] == f"{QUOTE} [1]"
    assert lines.count(f"note: {notice}") == 1


def test_no_notice_line_without_a_notice() -> None:
    text = render_answer_text(answer(f"{QUOTE} [1]", [citation(1, "a.txt", QUOTE, 0, 62)]))
    assert not text.startswith("note:") and "note:" not in text


def test_dropped_sentences_are_counted_on_the_last_line() -> None:
    grounding = Grounding(score=0.5, unsupported=["Seoul sent troops.", "The war ended in 2023."])
    text = render_answer_text(answer(f"{QUOTE} [1]", [citation(1, "a.txt", QUOTE, 0, 62)], grounding=grounding))
    lines = text.split("\n")
    assert lines[-2:] == ["", "Dropped as unsupported by the sources: 2 sentence(s)"]
    assert "Seoul sent troops" not in text  # counted, not repeated


def test_abstention_has_no_sources_section() -> None:
    text = "The documents do not cover this question, so I can't answer it from them."
    rendered = render_answer_text(answer(text, [], abstained=True, grounding=Grounding(score=0.0), backend="abstain"))
    assert rendered == text
    assert "Sources:" not in rendered and "Dropped" not in rendered


def test_long_answers_and_quotes_wrap_at_the_width() -> None:
    long_quote = " ".join(["the summoning of the ambassador was a measured response"] * 4)
    a = answer(" ".join(["South Korea summoned the ambassador."] * 6) + " [1]",
               [citation(1, "/x/article.txt", long_quote, 10, 10 + len(long_quote))])
    lines = render_answer_text(a, width=60).split("\n")
    assert all(len(line) <= 60 for line in lines), lines
    sources = lines.index("Sources:")
    assert sources > 2  # the answer took several lines, then a blank line
    assert lines[sources - 1] == ""
    assert lines[sources + 1] == f"  [1] article.txt (chars 10-{10 + len(long_quote)})"
    quote_lines = lines[sources + 2:]
    assert len(quote_lines) > 1 and all(line.startswith("      ") for line in quote_lines)
    assert " ".join(line.strip() for line in quote_lines) == f"“{long_quote}”"
