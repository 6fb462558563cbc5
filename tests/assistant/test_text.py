"""assistant/text.py sentence_spans: web-style text (snippet dates, bullets, abbreviations, ellipses,
"[1]" markers, wrapped lines) and its span contract on arbitrary text."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.text import sentence_spans

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "north-korean-troops-in-ukraine.txt"

# (text, its sentences): the split a reader expects
CASES = [
    ("Mar 11, 2023 ... The startup was bought by Acme in 2021. It now has 40 staff.",
     ["Mar 11, 2023 ... The startup was bought by Acme in 2021.", "It now has 40 staff."]),
    ("Mar 11, 2023 … The startup was bought by Acme in 2021.",
     ["Mar 11, 2023 … The startup was bought by Acme in 2021."]),
    ("Jan 5, 2024 ... Officials said the bridge will reopen in May.",
     ["Jan 5, 2024 ... Officials said the bridge will reopen in May."]),
    ("Mar 11, 2023. The startup was bought by Acme in 2021.",
     ["Mar 11, 2023. The startup was bought by Acme in 2021."]),
    ("3 days ago ... Shares of the company fell sharply on Monday.",
     ["3 days ago ... Shares of the company fell sharply on Monday."]),
    ("The committee debated the proposal for several hours ... Then it voted.",
     ["The committee debated the proposal for several hours ...", "Then it voted."]),
    ("They sold apples, pears and so on... which made them rich. Later they moved.",
     ["They sold apples, pears and so on... which made them rich.", "Later they moved."]),
    ("Wait... What happened next surprised everyone.",
     ["Wait... What happened next surprised everyone."]),
    ("Shopping list:\n• milk\n• eggs\n• bread",
     ["Shopping list:", "• milk", "• eggs", "• bread"]),
    ("Steps\n- Open the lid\n- Pour the water\n- Close the lid",
     ["Steps", "- Open the lid", "- Pour the water", "- Close the lid"]),
    ("Do this:\n1. Open the lid.\n2. Pour the water.\n3) Close it.",
     ["Do this:", "1. Open the lid.", "2. Pour the water.", "3) Close it."]),
    ("* First point here\n* Second point here",
     ["* First point here", "* Second point here"]),
    ("The U.S. Army arrived on Monday. It stayed.",
     ["The U.S. Army arrived on Monday.", "It stayed."]),
    ("Acme Inc. Announced a merger with Beta Ltd. On Friday the deal closed.",
     ["Acme Inc. Announced a merger with Beta Ltd.", "On Friday the deal closed."]),
    # a company suffix ends the sentence when a sentence-starting word follows
    ("The iPhone X is a smartphone designed by Apple Inc. It was announced in 2017.",
     ["The iPhone X is a smartphone designed by Apple Inc.", "It was announced in 2017."]),
    ("Dr. Smith met Mr. Jones and Mrs. Brown. They talked.",
     ["Dr. Smith met Mr. Jones and Mrs. Brown.", "They talked."]),
    ("Some fruits, e.g. Apples, are sweet. Others are not.",
     ["Some fruits, e.g. Apples, are sweet.", "Others are not."]),
    ("He lives at No. 5 Baker Street. It is small.",
     ["He lives at No. 5 Baker Street.", "It is small."]),
    ("The store opens at 9 a.m. Monday and closes at 5 p.m. Saturday. Staff arrive early.",
     ["The store opens at 9 a.m. Monday and closes at 5 p.m. Saturday.", "Staff arrive early."]),
    ("The books by J. K. Rowling sold well. Her first came out in 1997.",
     ["The books by J. K. Rowling sold well.", "Her first came out in 1997."]),
    ("J.R.R. Tolkien wrote it. It was long.", ["J.R.R. Tolkien wrote it.", "It was long."]),
    ("The city has 3.5 million people. It grew by 2.1 percent.",
     ["The city has 3.5 million people.", "It grew by 2.1 percent."]),
    ('He said "We won." Then he left.', ['He said "We won."', "Then he left."]),
    ("He said “We won.” Then he left.", ["He said “We won.”", "Then he left."]),
    ("It was over (at last.) Everyone cheered.", ["It was over (at last.)", "Everyone cheered."]),
    ("The war ended in 1945.[1] Peace followed.[2][3] Trade resumed.",
     ["The war ended in 1945.[1]", "Peace followed.[2][3]", "Trade resumed."]),
    ("The river is long.[citation needed] It floods.",
     ["The river is long.[citation needed]", "It floods."]),
    ("This line wraps\nin the middle of a sentence. Next sentence.",
     ["This line wraps\nin the middle of a sentence.", "Next sentence."]),
    ("First paragraph has no period\n\nSecond paragraph starts here.",
     ["First paragraph has no period", "Second paragraph starts here."]),
    ("Ends with Inc.\n\nnew paragraph in lower case.",
     ["Ends with Inc.", "new paragraph in lower case."]),
    ("One sentence ends here.\nAnother starts on the next line.",
     ["One sentence ends here.", "Another starts on the next line."]),
    ("Is it true? Yes! It is.", ["Is it true?", "Yes!", "It is."]),
    ("He was born in 1990. 2010 was his best year.", ["He was born in 1990.", "2010 was his best year."]),
    ("Forecasting uses averages . Any change recurs .", ["Forecasting uses averages .", "Any change recurs ."]),
    ("Roe v. Wade was decided in 1973. It was overturned.",
     ["Roe v. Wade was decided in 1973.", "It was overturned."]),
    ("Gen. Patton led the Third Army. St. Louis is a city.",
     ["Gen. Patton led the Third Army.", "St. Louis is a city."]),
    ("The answer is no. Then we left.", ["The answer is no.", "Then we left."]),
    ("  \n  Leading and trailing whitespace.  \n ", ["Leading and trailing whitespace."]),
    ("a. b", ["a. b"]),
    ("Prices rose 4.2% in Q3 ... Analysts expect a slowdown next year.",
     ["Prices rose 4.2% in Q3 ...", "Analysts expect a slowdown next year."]),
    ("The results were in. \"Good news,\" she said. We celebrated.",
     ["The results were in.", "\"Good news,\" she said.", "We celebrated."]),
    ("Apple Inc. is based in Cupertino, Calif. and employs many people. It is big.",
     ["Apple Inc. is based in Cupertino, Calif. and employs many people.", "It is big."]),
    ("Title Line\nBody text continues the title line without punctuation.",
     ["Title Line\nBody text continues the title line without punctuation."]),
]


def _sentences(text: str, start: int = 0, end: int | None = None) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text, start, end)]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_tricky_splits(text: str, expected: list[str]) -> None:
    assert _sentences(text) == expected


def test_spans_are_document_offsets_of_the_window() -> None:
    text = "Intro. Mar 11, 2023 ... The startup was bought by Acme in 2021. It has 40 staff. Tail."
    start, end = text.index("Mar"), text.index(" Tail")
    assert _sentences(text, start, end) == ["Mar 11, 2023 ... The startup was bought by Acme in 2021.",
                                            "It has 40 staff."]


def test_sample_sentence_is_one_span() -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    sentence = ("The summoning of Russia’s ambassador and the consideration to supply arms to Ukraine points to a "
                "willingness to reevaluate defense strategies in light of new threats.")
    s = text.index(sentence)
    assert (s, s + len(sentence)) in sentence_spans(text)


_PIECES = st.sampled_from([" ", "  ", "\n", "\n\n", " \n \n", "\t", "\u00a0", "\u2003", ".", "...", "…", "!", "?",
                           "? ", ". ", "... ", "\n- ", "\n• ", "\n1. ", "[1]", '"', "”", ")", "U.S.", "Dr.",
                           "Mar 11, 2023 ", "3.5", "a", "The", "word", "É", "日本", "x"])
_TEXT = st.lists(st.one_of(_PIECES, st.text(max_size=6)), max_size=40).map("".join)


@settings(max_examples=400, deadline=None, database=None)
@given(text=_TEXT, cut=st.tuples(st.integers(0, 300), st.integers(0, 300)))
def test_spans_keep_the_contract(text: str, cut: tuple[int, int]) -> None:
    start, end = sorted(min(c, len(text)) for c in cut)
    for lo, hi in ((0, None), (start, end)):
        spans = sentence_spans(text, lo, hi)
        bound = len(text) if hi is None else hi
        prev = lo
        for s, e in spans:
            assert prev <= s < e <= bound
            assert text[s:e].strip() and not text[s].isspace() and not text[e - 1].isspace()
            prev = e
