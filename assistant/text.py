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
_SENT_END = re.compile(r"""(?<=[.!?])["”’')\]]*\s+(?=["“‘(\[]?[A-Z0-9])|\n\s*\n|\n(?=\s*[-*•#])""")
_ABBREV = re.compile(r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|vs|etc|e\.g|i\.e|U\.S|U\.K|No|Fig|Inc|Ltd|Co|Gen|Col|Lt|Sgt|Rep|Sen|Gov)\.|\b[A-Z]\.)$")


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text[start:end]`` (stripped, in document offsets)."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    cursor = start
    for m in _SENT_END.finditer(text, start, end):
        if m.group(0).strip() == "" and _ABBREV.search(text[max(cursor, m.start() - 6) : m.start()]):
            continue
        spans.append((cursor, m.start()))
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


def content_terms(text: str, drop_question_words: bool = False) -> list[str]:
    """Stemmed content words of ``text`` (stop words removed)."""
    stop = STOPWORDS | QUESTION_WORDS if drop_question_words else STOPWORDS
    out = []
    for w in words(text):
        w = w.split("'")[0]
        if w and w not in stop and (len(w) > 1 or w.isdigit()):
            out.append(stem(w))
    return out


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
