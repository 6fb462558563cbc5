"""Deterministic question analysis: what a question asks for, and whether a text can answer it.

Contract: ``analyze_question(q)`` reads only the question's *form* (regexes plus the helpers in
``assistant.text``; no model, no downloaded nltk data). It returns the expected answer type
(``person`` covers people and organisations, ``place``, ``date``, ``number``, ``other``), the constraints
the question names (years, other numbers, quoted strings, capitalised entities), the asked attribute
(a lower-cased head noun such as "ceo", "revenue"; "location" for where, "date" for when) and the
remaining stemmed key terms. ``type_spans(text, t)`` gives character spans of candidate answers of
type ``t``; ``satisfies(analysis, text)`` scores a passage: the share of constraints present, a year
conflict flag, whether a candidate of the expected type adds something beyond the question's own
words, and how many new content terms the passage brings.

Example:
>>> a = analyze_question("Who won the Super Bowl in 2021?")
>>> a.answer_type, sorted(a.years), a.entities, a.attribute
('person', ['2021'], ('Super Bowl',), 'winner')
>>> s = satisfies(a, "The Tampa Bay Buccaneers won Super Bowl LV in February 2021.")
>>> s.constraints, s.conflicting_years, s.type_found
(1.0, False, True)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from assistant.text import QUESTION_WORDS, STOPWORDS, content_terms, numbers, stem, words

AnswerType = Literal["person", "place", "date", "number", "other"]

# -- question-form lexicons (matched on Snowball stems, so plurals match too) -----------------------
_DATE_NOUNS = frozenset(map(stem, "year date day time century decade month era week".split()))
_NUMBER_NOUNS = frozenset(map(stem, """percentage percent share proportion population revenue profit
    income price cost budget attendance score number amount rate salary sales margin value size distance
    height weight age speed temperature count fee debt loss valuation turnover earnings""".split()))
_PLACE_NOUNS = frozenset(map(stem, """country city state province town region capital continent county
    venue stadium location place island river mountain nation village area district airport port lake
    sea ocean street address site arena park territory birthplace hometown headquarters""".split()))
_PERSON_NOUNS = frozenset(map(stem, """company organisation organization team band group person player
    president ceo king queen actor actress author party club firm agency leader minister founder people
    man woman official director manager chairman coach singer artist writer scientist brand manufacturer
    bank university government winner owner buyer investor startup rival competitor candidate general
    commander secretary spokesperson spokesman executive officer chief""".split()))
_LEXICONS: tuple[tuple[AnswerType, frozenset[str]], ...] = (
    ("date", _DATE_NOUNS), ("number", _NUMBER_NOUNS), ("place", _PLACE_NOUNS), ("person", _PERSON_NOUNS))
# "What is the state/company/... of X?" asks for a description, not a place or an organisation.
_COPULA_GENERIC = frozenset(map(stem, """state place group company party team club band firm organisation
    organization agency bank university government brand startup person people man woman time day""".split()))
_LEAD = frozenset("and so but then also ok okay well please in on at for from by during to of since with "
                  "under after before until".split())
_IMPERATIVE = frozenset("tell describe explain summarize summarise discuss compare outline list give".split())
_WH = frozenset("who whom whose when where why how what which".split())
_COPULA = frozenset("is was are were be".split())
_AUX = _COPULA | frozenset("did do does has have had will can could would should might may".split())
_DET = frozenset("the a an".split())
_SKIP = frozenset("two three four five six several of the other".split())
_HOW = {"many": "", "much": "amount", "long": "duration", "old": "age", "far": "distance", "big": "size",
        "large": "size", "tall": "height", "high": "height", "fast": "speed", "often": "frequency",
        "deep": "depth", "heavy": "weight"}
_AGENT = {"won": "winner", "win": "winner", "wins": "winner", "hosted": "host", "hosts": "host",
          "host": "host", "founded": "founder", "wrote": "author", "invented": "inventor", "owns": "owner",
          "owned": "owner", "leads": "leader", "led": "leader", "bought": "buyer", "acquired": "buyer",
          "directed": "director", "created": "creator", "discovered": "discoverer"}

# -- span regexes ---------------------------------------------------------------------------------
_UNITS = r"%|percent|per cent|million|billion|trillion|thousand|hundred|km|kilomet\w*|miles?|met(?:er|re)s|kg|tons|tonnes|people|dollars|euros|units"
# A 4-digit year 1000-2099 standing alone (also "1990s", "FY2021", "2021-22", ISO "2023-03-11").
_YEAR = re.compile(rf"(?<![\w$€£.,])(?:FY\s?)?((?:1\d|20)\d\d)(?:s\b|[-–/](?:\d\d){{1,2}}\b)?"
                   rf"(?![\w%]|[.,]\d|\s?(?:{_UNITS})\b)", re.I)
_QUOTED = re.compile(r"\"([^\"]{2,}?)\"|“([^”]{2,}?)”|‘([^’]{2,}?)’|(?<!\w)'([^']{2,}?)'(?!\w)")
_CAP = r"(?:(?:[A-ZÀ-ÖØ-Þ]\.){2,}|[A-ZÀ-ÖØ-Þ][\w'’\-]*\w|[A-ZÀ-ÖØ-Þ]\.?)"
_ENTITY_RUN = re.compile(rf"(?<![\w'’-]){_CAP}(?:[ \t]+(?:(?:van|von|de|der|du|da|la|le|&|bin|al)[ \t]+)*"
                         rf"{_CAP})*(?:[ \t]+\d{{1,3}}\b(?![.,]\d))?")
_NAME_RUN = re.compile(rf"(?<![\w'’-]){_CAP}(?:[ \t]+(?:(?:van|von|de|der|du|da|la|le|of|the|&|bin|al)"
                       rf"[ \t]+)*{_CAP})*")
_MONTH = ("January|February|March|April|May|June|July|August|September|October|November|December|"
          "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec")
_SEASON = "spring|summer|autumn|fall|winter"
_ORDINAL = (r"\d{1,2}(?:st|nd|rd|th)|(?:twenty-)?(?:first|second|third|fourth|fifth|sixth|seventh|eighth|"
            r"ninth|tenth|eleventh|twelfth|[a-z]+teenth|twentieth)")
_DATES = (
    re.compile(rf"(?:\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?)?\b(?:{_MONTH})\b\.?"
               rf"(?:\s+\d{{1,2}}(?:st|nd|rd|th)?\b)?(?:,?\s+\d{{4}}\b)?"),
    re.compile(r"\b(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b"),
    re.compile(rf"\b(?:yesterday|today|tomorrow|tonight|(?:last|next|this|earlier this|later this)\s+"
               rf"(?:week|weekend|month|year|decade|century|{_SEASON})|(?:\w+|a)\s+(?:days?|weeks?|months?|"
               rf"years?|decades?|centuries)\s+ago)\b", re.I),
    re.compile(rf"\b(?:{_ORDINAL})[\s-]+centur(?:y|ies)\b", re.I),
    re.compile(rf"\b(?:{_SEASON})\s+(?:of\s+)?\d{{4}}\b", re.I),
    re.compile(r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b"),
    _YEAR,
)
_NUM_DIGITS = re.compile(r"(?<![\w.])(?:[$€£]\s?)?\d+(?:[.,]\d+)*(?!st\b|nd\b|rd\b|th\b)(?:\s?(?:%|percent\b|per cent\b))?"
                         r"(?:\s?(?:million|billion|trillion|thousand|hundred|bn|mn|[mkb])\b)?", re.I)
_W = ("one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|"
      "seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundreds?|"
      "thousands?|millions?|billions?|trillion|dozens?")
_NUM_WORDS = re.compile(rf"\b(?:{_W})(?:[\s-]+(?:and[\s-]+)?(?:{_W}))*\b", re.I)
_PLACE_PREP = re.compile(r"\b(?:in|at|from|near|to|into|across|of|between|outside|throughout|towards?)"
                         r"\s+(?:the\s+)?$", re.I)
_NOT_PERSON_PREP = re.compile(r"\b(?:in|near|into|across|throughout)\s+(?:the\s+)?$", re.I)
_COMMA = re.compile(r",[ \t]*")
_NONSPACE = re.compile(r"\S+")
_STOP_Q = STOPWORDS | QUESTION_WORDS
_NEXT_WORD = re.compile(r"[ \t]+([a-z]+)")
_VERBISH = frozenset("said says told has had have is was will would won wins bought sold plans made became "
                     "announced reported".split())
_CALENDAR = frozenset(m.lower() for m in (_MONTH + "|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|"
                                          "Sunday|Today|Yesterday|Tomorrow").split("|"))
_PLACE_SUFFIX = frozenset("City County Province Island Islands Stadium Arena Park River Mountain Mountains "
                          "Bay Street Avenue Square Lake Valley Region Republic Kingdom".split())


@dataclass(frozen=True)
class QuestionAnalysis:
    question: str
    answer_type: AnswerType
    years: frozenset[str]
    numbers: frozenset[str]
    quoted: tuple[str, ...]
    entities: tuple[str, ...]
    attribute: str
    key_terms: tuple[str, ...]

    @cached_property
    def terms(self) -> frozenset[str]:
        """The question's content terms (what ``satisfies`` counts as not novel)."""
        return frozenset(content_terms(self.question))

    @cached_property
    def all_terms(self) -> frozenset[str]:
        """Its content terms and the stems of all its words, stop words included."""
        return self.terms | {stem(w) for w in words(self.question)}


@dataclass(frozen=True)
class Satisfaction:
    constraints: float
    conflicting_years: bool
    type_found: bool
    novel_terms: int


# -- answer type and attribute ----------------------------------------------------------------------
def _tokens(question: str) -> list[str]:
    out: list[str] = []
    for w in words(question):
        base, _, rest = w.partition("'")
        out += [base, "is"] if base in _WH and rest == "s" else [w]
    return out


def _possessive(tok: str) -> bool:
    return tok.endswith(("'s", "s'"))


def _singular(word: str) -> str:
    w = word.split("'")[0]
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    return w


def _classify(word: str, copula: bool = False) -> AnswerType | None:
    s = stem(word.split("'")[0])
    if copula and s in _COPULA_GENERIC:
        return None
    return next((kind for kind, lexicon in _LEXICONS if s in lexicon), None)


def _noun_phrase(toks: list[str], i: int, skip: frozenset[str] = _DET) -> tuple[int, int, bool]:
    """(start, end) of the noun phrase at ``toks[i]`` after determiners/possessives (and ``skip``
    words), and whether a determiner or possessive marked it."""
    marked = False
    while i < len(toks) and (toks[i] in skip or _possessive(toks[i])):
        marked, i = marked or toks[i] in _DET or _possessive(toks[i]), i + 1
    end = i
    while end < len(toks) and toks[end] not in STOPWORDS and toks[end] not in _WH:
        end += 1
    return i, end, marked


def _which(toks: list[str], i: int) -> tuple[AnswerType, str]:
    """"which/what [two] NOUN ...": the first lexicon noun among the next three words decides; else the
    attribute is the first word when an auxiliary follows it ("what exception is raised")."""
    start, end, _ = _noun_phrase(toks, i, _SKIP | _DET)
    for w in toks[start : min(end, start + 3)]:
        if kind := _classify(w):
            return kind, _singular(w)
    noun = end == start + 1 < len(toks) and toks[end] in _AUX
    return "other", _singular(toks[start]) if noun else ""


def _copula(toks: list[str], i: int) -> tuple[AnswerType, str]:
    """"what is the HEAD of ...": the head noun decides; "the name of the X" defers to X."""
    start, end, marked = _noun_phrase(toks, i)
    if end == start or not marked:
        return "other", ""
    head = _singular(toks[end - 1])
    if head == "name" and toks[end : end + 1] == ["of"]:
        return _which(toks, end + 1)
    return _classify(head, copula=True) or "other", head


def _form(toks: list[str]) -> tuple[AnswerType, str]:
    while toks and toks[0] in _LEAD:
        toks = toks[1:]
    if not toks or toks[0] in _IMPERATIVE:
        return "other", ""
    i = next((k for k, t in enumerate(toks) if t in _WH), -1)
    wh, rest = (toks[i], toks[i + 1 :]) if i >= 0 else ("", [])
    nxt = rest[0] if rest else ""
    if wh in ("who", "whom", "whose"):
        if nxt in _COPULA:
            start, end, marked = _noun_phrase(rest, 1)
            return "person", _singular(rest[end - 1]) if end > start and marked else ""
        return "person", next((_AGENT[t] for t in rest[:2] if t in _AGENT), "")
    if wh in ("when", "where"):
        return ("date", "date") if wh == "when" else ("place", "location")
    if wh == "how" and nxt in _HOW:
        if nxt == "long" and rest[1:2] == ["ago"]:
            return "date", "date"
        start, end, _ = _noun_phrase(rest, 1)
        return "number", _singular(rest[end - 1]) if end > start and nxt in ("many", "much") else _HOW[nxt]
    if wh in ("what", "which"):
        return _copula(rest, 1) if nxt in _COPULA else _which(rest, 0)
    return "other", ""


# -- constraints ------------------------------------------------------------------------------------
def _years(text: str) -> set[str]:
    return {m.group(1) for m in _YEAR.finditer(text)}


def _runs(pattern: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    """Capitalised runs with leading stop/question words ("The", "In", "Who") stripped."""
    out: list[tuple[int, int]] = []
    for m in pattern.finditer(text):
        toks = list(_NONSPACE.finditer(m.group()))
        while toks and toks[0].group().lower().split("'")[0].rstrip(".") in _STOP_Q:
            toks.pop(0)
        if toks:
            out.append((m.start() + toks[0].start(), m.end()))
    return out


def analyze_question(question: str) -> QuestionAnalysis:
    answer_type, attribute = _form(_tokens(question))
    quoted = tuple(next(g for g in m.groups() if g) for m in _QUOTED.finditer(question))
    entities = tuple(question[s:e] for s, e in _runs(_ENTITY_RUN, question)
                     if not _YEAR.fullmatch(question[s:e]))
    drop = stem(attribute) if attribute else ""
    key_terms = tuple(dict.fromkeys(t for t in content_terms(question, drop_question_words=True) if t != drop))
    return QuestionAnalysis(
        question=question, answer_type=answer_type, years=frozenset(_years(question)),
        numbers=frozenset(numbers(_YEAR.sub(" ", question))), quoted=quoted, entities=entities,
        attribute=attribute, key_terms=key_terms)


# -- answer candidates ------------------------------------------------------------------------------
def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(e, out[-1][1]))
        else:
            out.append((s, e))
    return out


def _number_spans(text: str) -> list[tuple[int, int]]:
    """Digits and number words, minus those inside a date expression (a bare year, "March 11")."""
    dates = [m.span() for rx in _DATES for m in rx.finditer(text)]
    spans = [m.span() for m in _NUM_DIGITS.finditer(text)] + [m.span() for m in _NUM_WORDS.finditer(text)]
    return [(s, e) for s, e in spans if not any(ds <= s and e <= de for ds, de in dates)]


def _sentence_initial(text: str, start: int) -> bool:
    before = text[:start].rstrip(" \t\"“‘'([")
    return not before or before[-1] in ".!?\n:;"


def _person_spans(text: str) -> list[tuple[int, int]]:
    """Capitalised runs (connectors van/de/of/the/&, initials). Dropped: calendar words, runs ending in a
    place suffix or after in/near/into; a sentence-initial run needs >= 2 capitalised words or a
    verb-like next word ("Acme said", "Google acquired")."""
    out: list[tuple[int, int]] = []
    for s, e in _runs(_NAME_RUN, text):
        toks = text[s:e].split()
        caps = sum(t[:1].isupper() for t in toks)
        nxt = _NEXT_WORD.match(text, e)
        verbish = nxt is not None and (nxt.group(1) in _VERBISH or nxt.group(1).endswith("ed"))
        if len(toks) == 1 and (toks[0].lower().rstrip(".") in _CALENDAR or _NUM_WORDS.fullmatch(toks[0])):
            continue
        if _YEAR.fullmatch(text[s:e]):
            continue
        if toks[-1] in _PLACE_SUFFIX or _NOT_PERSON_PREP.search(text[max(0, s - 20) : s]):
            continue
        if _sentence_initial(text, s) and caps < 2 and not verbish:
            continue
        out.append((s, e))
    return out


def _place_spans(text: str) -> list[tuple[int, int]]:
    """Capitalised runs after in/at/from/near/to/of/between..., "Paris, France" pairs, place suffixes."""
    runs = [(s, e) for s, e in _runs(_NAME_RUN, text) if text[s:e].lower().rstrip(".") not in _CALENDAR]
    ends = dict(runs)
    out: list[tuple[int, int]] = []
    for s, e in runs:
        comma = _COMMA.match(text, e)
        if comma and comma.end() in ends:
            out += [(s, e), (comma.end(), ends[comma.end()])]
        elif _PLACE_PREP.search(text[max(0, s - 25) : s]) or text[s:e].split()[-1] in _PLACE_SUFFIX:
            out.append((s, e))
    return out


def type_spans(text: str, answer_type: AnswerType) -> list[tuple[int, int]]:
    """Character spans in `text` of expressions of `answer_type`: the expected answer's candidates."""
    if answer_type == "date":
        return _merge([m.span() for rx in _DATES for m in rx.finditer(text)])
    if answer_type == "number":
        return _merge(_number_spans(text))
    if answer_type == "person":
        return _merge(_person_spans(text))
    if answer_type == "place":
        return _merge(_place_spans(text))
    return [(0, len(text))] if text.strip() else []


# -- scoring a passage ------------------------------------------------------------------------------
def _present(analysis: QuestionAnalysis, text: str) -> list[bool]:
    terms, low = set(content_terms(text)), text.lower()
    found = [bool(re.search(rf"(?<!\d){y}(?!\d)", text)) for y in sorted(analysis.years)]
    found += [n in numbers(text) for n in sorted(analysis.numbers)]
    found += [q.lower() in low for q in analysis.quoted]
    found += [set(content_terms(ent)) <= terms for ent in analysis.entities]
    return found


def satisfies(analysis: QuestionAnalysis, text: str) -> Satisfaction:
    found = _present(analysis, text)
    text_years = _years(text)
    q_terms, q_all = analysis.terms, analysis.all_terms

    def novel(span: str) -> bool:
        terms = set(content_terms(span)) or {stem(w) for w in words(span)}
        return bool(terms - q_all)

    return Satisfaction(
        constraints=sum(found) / len(found) if found else 1.0,
        conflicting_years=bool(analysis.years) and bool(text_years) and not analysis.years & text_years,
        type_found=any(novel(text[s:e]) for s, e in type_spans(text, analysis.answer_type)),
        novel_terms=len(set(content_terms(text)) - q_terms))
