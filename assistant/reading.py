"""Reading: does a passage answer the question, beyond being on its topic?

Similarity measures topic, not answer. The reader looks at what the question asks for
(``assistant.question.analyze_question``: the expected answer type, the years, numbers, names and
quoted strings it names, the asked attribute) and scores evidence for it:

* ``window_bonus`` ranks evidence windows: a window that names the question's year (and no other) or
  its entities (itself or in its document's title: a passage's later sentences are about its subject),
  holds a candidate of the expected type, and a sentence with the asked relation beside it ("commander
  Pete Conrad" for "Who was the commander of Apollo 12?"), beats an equally similar one about another
  edition of the same event or the passage's opening lines.
* ``lead_sentences`` orders a window's sentences so the extractive answer leads with the one that
  satisfies the question, not with the window's first sentence.
* ``reading_features`` are the reading half of the abstention model's inputs (``assistant.abstain``):
  whether the best evidence satisfies the question's constraints, names a conflicting year, holds a
  candidate answer of the expected type, mentions the asked attribute, and covers the key terms.
* ``answers_question`` tells an answer sentence that carries the asked information from one that only
  restates the question ("What exception is raised when X?" -> "X.").

Example::

    analysis = analyze_question("Which city hosted the 2012 Summer Olympics?")
    bonus = window_bonus(analysis)("The 2012 Summer Olympics were held in London.")   # > 0
    features = reading_features(analysis, evidence[0].text)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from assistant.question import QuestionAnalysis, satisfies
from assistant.text import content_terms, sentence_spans, stem

# Window ranking weights (added to the selector's relevance score, which is ~0.3-0.9)
CONSTRAINT_WEIGHT = 0.15
CONFLICT_PENALTY = 0.25
TYPE_WEIGHT = 0.05
PREDICATE_WEIGHT = 0.1  # a sentence holding the asked relation beside an answer candidate ("commander Pete Conrad")

# A web snippet's leading stub: a short prefix cut off by an ellipsis ("Mar 11, 2023 ... The startup")
_STUB = re.compile(r"^[^.…]{0,40}?(?:\.\.\.|…)\s*")

READING_FEATURES = ("constraints", "conflict", "type_found", "attribute", "window_coverage", "predicate")


@dataclass(frozen=True)
class Reading:
    """How well one passage reads as an answer to the question (each 0..1)."""

    constraints: float  # share of the question's years, numbers, names, quoted strings present
    conflict: float  # 1: names other years and none of the question's
    type_found: float  # 1: a candidate of the expected type beyond the question's own words ("other": 1)
    attribute: float  # 1: the asked attribute ("revenue", "ceo") is mentioned, or none was asked
    window_coverage: float  # share of the question's key terms present
    predicate: float  # best sentence: share of the question's predicate terms beside an answer candidate

    def vector(self) -> tuple[float, ...]:
        return (self.constraints, self.conflict, self.type_found, self.attribute, self.window_coverage,
                self.predicate)


def _asked_attribute(analysis: QuestionAnalysis) -> str:
    """The asked attribute as words to look for ("revenue", "tickets sold"); "" for none, or for a location
    or date (the expected type stands for those)."""
    return analysis.attribute if analysis.attribute not in ("location", "date") else ""


def read(analysis: QuestionAnalysis, text: str) -> Reading:
    """Read ``text`` (an evidence window) against the analysed question."""
    sat = satisfies(analysis, text)
    terms = set(content_terms(text))
    keys = set(analysis.key_terms)
    asked = _asked_attribute(analysis)
    attribute = float(any(stem(w) in terms for w in asked.split())) if asked else 1.0
    return Reading(
        constraints=sat.constraints,
        conflict=float(sat.conflicting_years),
        type_found=1.0 if analysis.answer_type == "other" else float(sat.type_found),
        attribute=attribute,
        window_coverage=len(keys & terms) / len(keys) if keys else 1.0,
        predicate=max((_predicate(analysis, text[a:b]) for a, b in sentence_spans(text)), default=0.0),
    )


@lru_cache(maxsize=64)
def _predicate_terms(analysis: QuestionAnalysis) -> frozenset[str]:
    """The question's key terms that are not part of a name, year or number, and the asked attribute:
    what is said of them ("killed", "tickets sold", "hosted", "commander")."""
    named = {t for e in analysis.entities for t in content_terms(e)} | set(analysis.years) | set(analysis.numbers)
    return frozenset((set(analysis.key_terms) | set(content_terms(_asked_attribute(analysis)))) - named)


def _predicate(analysis: QuestionAnalysis, sentence: str) -> float:
    """Share of the predicate terms in ``sentence``, if it can answer (holds a candidate of the expected
    type beyond the question's own words); 0 otherwise. "How many soldiers have been killed?" over
    "up to 11,000 soldiers might be stationed there": a number, but not of the killed."""
    sentence = _STUB.sub("", sentence)
    if analysis.answer_type != "other" and not satisfies(analysis, sentence).type_found:
        return 0.0
    wanted = _predicate_terms(analysis)
    return len(wanted & set(content_terms(sentence))) / len(wanted) if wanted else 1.0


def reading_features(analysis: QuestionAnalysis, text: str | None) -> tuple[float, ...]:
    """The abstention model's reading features for the best evidence (all zero when there is none)."""
    return read(analysis, text).vector() if text else (0.0,) * len(READING_FEATURES)


def window_bonus(analysis: QuestionAnalysis) -> Callable[[str, str], float]:
    """A score to add to an evidence window's relevance, ``bonus(window_text, document_title)``: constraint
    satisfaction (in the window or its document's title), the expected type, and a sentence that holds
    the asked relation beside a candidate answer."""

    has_constraints = bool(analysis.years or analysis.numbers or analysis.entities or analysis.quoted)
    typed = analysis.answer_type != "other"
    asks_relation = bool(_predicate_terms(analysis))

    relations: dict[str, float] = {}  # per sentence: overlapping windows share most of theirs

    def relation(sentence: str) -> float:
        if sentence not in relations:
            relations[sentence] = _predicate(analysis, sentence)
        return relations[sentence]

    def bonus(text: str, title: str = "") -> float:  # on every shortlisted window: only what it needs
        sat = satisfies(analysis, text)
        # a window's later sentences are about the document's subject: its title counts for the constraints
        context = satisfies(analysis, f"{title}\n{text}") if title and has_constraints and title not in text else sat
        best = max((relation(text[a:b]) for a, b in sentence_spans(text)), default=0.0) if asks_relation else 0.0
        return (CONSTRAINT_WEIGHT * context.constraints * has_constraints
                - CONFLICT_PENALTY * context.conflicting_years
                + TYPE_WEIGHT * sat.type_found * typed + PREDICATE_WEIGHT * best)

    return bonus


def lead_sentences(analysis: QuestionAnalysis, text: str) -> list[tuple[int, int]]:
    """The sentence spans of ``text``, the one that best satisfies the question first, the rest in order.

    Best = holds a candidate of the expected type beyond the question's words, then satisfies more of
    the question's constraints, then shares more key terms; ties keep document order.
    """
    spans = sentence_spans(text)
    if len(spans) < 2:
        return spans
    keys = set(analysis.key_terms)

    def rank(span: tuple[int, int]) -> tuple[float, float, int]:
        sentence = _STUB.sub("", text[span[0] : span[1]])  # a snippet's "Mar 11, 2023 ..." is not an answer
        sat = satisfies(analysis, sentence)
        typed = float(sat.type_found) if analysis.answer_type != "other" else 0.0
        return (typed, sat.constraints, len(keys & set(content_terms(sentence))))

    best = max(spans, key=rank)  # max keeps the first of equals: document order
    return [best] + [s for s in spans if s != best]


def answers_question(analysis: QuestionAnalysis, sentence: str) -> bool:
    """False when ``sentence`` only restates the question, or lacks an answer of the expected type.

    A sentence carries an answer when it brings content terms the question does not have and, for a
    question that expects a person, place, date or number, holds a candidate of that type that is not
    one of the question's own words.
    """
    sat = satisfies(analysis, sentence)
    return sat.novel_terms > 0 and (analysis.answer_type == "other" or sat.type_found)
