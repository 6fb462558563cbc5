"""Small, deterministic text tools shared by retrieval, evidence selection and verification:
sentence spans, content terms (lower-cased, light stemming, stop words removed), numbers, names.
"""

from __future__ import annotations

import re
from functools import lru_cache

from nltk.stem.snowball import SnowballStemmer

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just me more
    most my myself no nor not now of off on once only or other our ours ourselves out over own same she
    should so some such than that the their theirs them themselves then there these they this those through
    to too under until up very was we were what when where which while who whom why will with would you your
    yours yourself yourselves s t don may might must shall us one many much upon via per whether within
    without across among amid onto already yet still ever even however thus hence according""".split()
)
# Question words that carry no topic: "what did X do", "how many", "tell me about"
QUESTION_WORDS = frozenset(
    """what which who whom whose when where why how do does did tell describe explain give list name
    mention mentioned article document documents text passage author writer""".split()
)

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# A possible sentence end: closing punctuation (with closing quotes/brackets and Wikipedia-style "[1]"
# markers glued to it) then whitespace, or a newline. _boundary decides.
_CANDIDATE = re.compile(r"""(?P<punct>[.!?…]+)["”’')\]]*(?:\[[^\]\n]{1,20}\])*(?P<gap>\s+)|\n\s*""")
_BULLET = re.compile(r"[•‣◦▪]|(?:[-*#]|\d{1,3}[.)])\s")  # "#": a markdown heading also starts afresh
_NEXT = re.compile(r"""["“‘(\[]?(.)""")  # the first character of the next sentence, past an opening quote
_ABBREVS = frozenset(
    """Mr Mrs Ms Dr Prof Sr Jr St Mt Ft Rev Hon Gen Col Maj Capt Lt Sgt Cpl Adm Rep Sen Gov Pres Inc Ltd Co Corp
    Bros No Nos Fig Vol Ch Dept Univ Ave Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec Calif Mass vs v etc al
    cf ca c approx""".split()
)
# Abbreviations that also end sentences ("... marketed by Apple Inc. It was announced"): a boundary when
# the next word is one that starts sentences; titles and the rest never end one.
_FINAL_ABBREVS = frozenset("Inc Ltd Co Corp Bros etc al U.S U.K a.m p.m".split())
_STARTERS = frozenset(
    """The It He She They This That These Those There Its His Her Their We I In On At After Before But However
    When While As During Since Although A An""".split()
)
_DOTTED = re.compile(r"(?:[A-Za-z]{1,2}\.)+[A-Za-z]{1,2}|[A-Z]")  # U.S, e.g, a.m, Ph.D, J.R.R; initials
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?"
# What a web snippet puts before its text ("Mar 11, 2023 ...", "3 days ago ·") and list numbers ("1. "):
# not sentences of their own, so they stay with what follows.
_STUB = re.compile(
    rf"(?:\d{{1,3}}|{_MONTH} \d{{1,2}},? \d{{4}}|\d{{1,2}} {_MONTH} \d{{4}}|\d{{4}}-\d\d-\d\d|\d{{1,2}}/\d{{1,2}}/\d{{2,4}}"
    r"|\d+ (?:second|minute|hour|day|week|month|year)s? ago)[\s\W]*"
)


def _boundary(text: str, cursor: int, m: re.Match[str], end: int) -> bool:
    """Whether the candidate ``m`` ends the sentence that starts at ``cursor``."""
    gap = m["gap"] or m.group(0)
    if gap.count("\n") >= 2 or ("\n" in gap and _BULLET.match(text, m.end(), end)):
        return True  # a blank line, or a bulleted line
    if not m["punct"]:
        return False  # a line wrapped inside a sentence
    nxt = _NEXT.match(text, m.end(), end)
    if not nxt or not (nxt[1].isupper() or nxt[1].isdigit()):
        return False  # "and so on... which", "e.g. the": the sentence goes on
    before = text[cursor : m.start()]
    if "…" in m["punct"] or ".." in m["punct"]:
        # an ellipsis also stands for a cut inside a sentence: only a full clause before a capital ends there
        return nxt[1].isupper() and len(before.split()) >= 5
    if m["punct"][-1] == "." and before[-1:].isalpha():
        word = before.rsplit(None, 1)[-1].lstrip("\"“‘([")
        if word in _ABBREVS or _DOTTED.fullmatch(word):
            following = text[nxt.start(1) : end].split(None, 1)
            return word in _FINAL_ABBREVS and bool(following) and following[0] in _STARTERS
    return not _STUB.fullmatch(before.strip())


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text[start:end]``: in document offsets, stripped of whitespace,
    in order, non-overlapping, inside [start, end]; fragments shorter than 2 characters are dropped.

    A sentence ends at . ! ? (with closing quotes, brackets, "[1]" markers) before a capital or a digit, at a
    blank line, and before a bulleted line ("- ", "• ", "1. "); not at an abbreviation, an initial, a decimal
    point, a newline inside a paragraph, nor at an ellipsis after a stub ("Mar 11, 2023 ...") or before lower
    case.
    """
    end = len(text) if end is None else end
    if end - start > _SPAN_CACHE_CHARS:  # a whole long document (ingest): not worth keeping
        return _spans(text, start, end)
    # Cached by the piece's own text (the rules look at nothing outside it): a question splits the same
    # passages several times, and questions about one document split the same paragraphs.
    return [(a + start, b + start) for a, b in _piece_spans(text[start:end])]


_SPAN_CACHE_CHARS = 20_000


@lru_cache(maxsize=4096)
def _piece_spans(piece: str) -> tuple[tuple[int, int], ...]:
    return tuple(_spans(piece, 0, len(piece)))


def _spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    cursor = start
    for m in _CANDIDATE.finditer(text, start, end):
        if _boundary(text, cursor, m, end):
            spans.append((cursor, m.end() - len(m["gap"] or m.group(0))))
            cursor = m.end()
    spans.append((cursor, end))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e - s >= 2:
            out.append((s, e))
    return out


_SNOWBALL = SnowballStemmer("english")


@lru_cache(maxsize=100_000)
def stem(word: str) -> str:
    """English Snowball stem (response/responses, economic/economically, supply/supplied)."""
    return _SNOWBALL.stem(word)


def words(text: str) -> list[str]:
    return [w.lower().replace("’", "'") for w in _WORD.findall(text)]


_QUESTION_STOP = STOPWORDS | QUESTION_WORDS
_TERM_MEMO_SIZE = 200_000  # distinct raw words remembered (then the memo starts afresh)
_term_memo: tuple[dict[str, str], dict[str, str]] = ({}, {})  # raw word -> term ("" = stop word), per stop list


def _term(word: str, drop_question_words: bool) -> str:
    """The content term of one raw word (as ``_WORD`` finds it), or "" for a stop word."""
    w = word.lower().replace("’", "'").split("'")[0]
    stop = _QUESTION_STOP if drop_question_words else STOPWORDS
    return stem(w) if w and w not in stop and (len(w) > 1 or w.isdigit()) else ""


@lru_cache(maxsize=8192)
def _content_terms(text: str, drop_question_words: bool) -> tuple[str, ...]:
    memo = _term_memo[drop_question_words]
    if len(memo) > _TERM_MEMO_SIZE:
        memo.clear()  # racing threads at worst recompute a term
    out = []
    for w in _WORD.findall(text):
        t = memo.get(w)
        if t is None:
            t = memo[w] = _term(w, drop_question_words)
        if t:
            out.append(t)
    return tuple(out)


def content_terms(text: str, drop_question_words: bool = False) -> list[str]:
    """Stemmed content words of ``text`` (stop words removed)."""
    # Cached per text and per distinct word: a question reads the same windows several times (ranking,
    # reading, abstention features), and questions about the same documents read the same passages.
    return list(_content_terms(text, drop_question_words))


def numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def names(text: str) -> set[str]:
    """Capitalised words that are not the first word of a sentence (a cheap proper-noun detector)."""
    found: set[str] = set()
    for s, e in sentence_spans(text):
        tokens = _WORD.findall(text[s:e])
        for tok in tokens[1:]:
            if tok[:1].isupper() and tok.lower() not in STOPWORDS:
                found.add(stem(tok.lower()))
    return found
