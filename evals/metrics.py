"""Grounding metrics: deterministic, offline, and independent of the engine's own checks.

The support checker here is deliberately *not* ``assistant/verify.py``: it has its own tokenizer
and stop list, no stemming, no embeddings, and stricter rules (>= 80% of a sentence's content words
found verbatim in the quotes the sentence cites, every number and every capitalised name too; a
sentence that cites nothing is unsupported), so the engine is not graded with its own ruler.

Per answer::

    citation_validity(answer, doc_text)        -> list of problems ([] = valid)
    citation_support(answer)                   -> SupportResult (share of supported sentences)
    cites_file(answer, "clapnq-123.txt")       -> bool   (CLAP NQ citation hit)
    cites_span(answer, passage, doc_text)      -> bool   (sample citation hit: span overlap)
    token_f1(answer_text, references)          -> float  (SQuAD-style, max over references)
    facts_recall(answer_text, facts)           -> (share of required facts present, missing facts)

Per dataset: ``retrieval_scores(ranks)``, ``abstention_scores(pairs)``.
The optional ``LLMJudge`` (claim-level faithfulness, RAGAS-style) is the only part that uses a network.
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.schema import Answer, RetrievedChunk

MIN_COVERAGE = 0.8
MAX_UNCOVERED = 1  # at most one content word of a sentence may be absent from its quotes (the engine allows 3)
MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
_MARKER_SPACED = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")
_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_BOUNDARY = re.compile(r"[.!?][\"”’')]*((?:\s*\[\d+(?:\s*,\s*\d+)*\])*)(\s+)(?=[\"“‘(]?[A-Z0-9])")
_ABBREV = re.compile(r"(?:\b[A-Z]|\b(?:Mr|Mrs|Ms|Dr|St|No|vs|etc|U\.S|U\.K|e\.g|i\.e))\.$")
_BULLET = re.compile(r"^\W*\d{1,2}[.)]?\W*$")

# Our own stop list: function words only (no stemming anywhere in this module).
STOP = frozenset("""
a an the and or but nor so yet for of to in on at by with from into onto upon about above below over under
between among through during before after since until while as than then there here this that these those
it its it's itself they them their theirs themselves he him his himself she her hers herself we us our ours
you your yours i me my mine who whom whose which what when where why how whether if not no also only just
is are was were be been being am do does did doing done have has had having will would shall should can could
may might must very too more most much many some any each every all both either neither such other another
own same s t there's that's per via within without across around against along amid toward towards
""".split())


# -- text tools ------------------------------------------------------------------------------------

def strip_markers(text: str) -> str:
    return " ".join(_MARKER_SPACED.sub("", text).split())


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens, possessives cut (``Ukraine’s`` -> ``ukraine``), hyphens split."""
    out = []
    for tok in _TOKEN.findall(text):
        tok = tok.lower().replace("’", "'")
        out.append(tok[:-2] if tok.endswith("'s") else tok)
    return out


def content_words(text: str) -> set[str]:
    return {t for t in tokens(text) if t not in STOP and (len(t) > 1 or t.isdigit())}


def numbers(text: str) -> set[str]:
    return {n.replace(",", "").rstrip(".") for n in _NUMBER.findall(text)}


def names(sentence: str) -> set[str]:
    """Capitalised words after the first word, and acronyms anywhere (lower-cased)."""
    found = set()
    for i, tok in enumerate(_TOKEN.findall(sentence)):
        low = tok.lower().replace("’", "'")
        low = low[:-2] if low.endswith("'s") else low
        if low in STOP:
            continue
        if (i > 0 and tok[:1].isupper()) or (len(tok) > 1 and tok.isupper() and tok.isalpha()):
            found.add(low)
    return found


def split_answer(answer: str) -> list[tuple[str, list[int]]]:
    """Answer sentences, each with the ``[n]`` ids inside it or right after its full stop."""
    out: list[tuple[str, list[int]]] = []
    for block in answer.split("\n"):
        cursor = 0
        pieces = []
        for m in _BOUNDARY.finditer(block):
            if _ABBREV.search(block[max(cursor, m.start() - 5): m.start() + 1]):
                continue
            pieces.append(block[cursor: m.start(2)])
            cursor = m.end()
        pieces.append(block[cursor:])
        for raw in pieces:
            ids = [int(n) for g in MARKER.findall(raw) for n in g.split(",")]
            text = strip_markers(raw)
            if text and not _BULLET.match(text):
                out.append((text, ids))
            elif ids and out:
                out[-1][1].extend(ids)
    return out


# -- citations -------------------------------------------------------------------------------------

def citation_validity(answer: Answer, doc_text: Callable[[str], str]) -> list[str]:
    """Problems with the answer's citations: dangling ``[n]`` markers and quotes that are not
    ``doc_text(document_id)[start:end]``. An empty list means valid."""
    problems: list[str] = []
    by_id = {c.id: c for c in answer.citations}
    for n in sorted({int(n) for g in MARKER.findall(answer.answer) for n in g.split(",")}):
        if n not in by_id:
            problems.append(f"[{n}] has no citation")
    for c in answer.citations:
        try:
            text = doc_text(c.document_id)
        except Exception as exc:  # noqa: BLE001 - any lookup failure makes the citation invalid
            problems.append(f"citation {c.id}: document {c.document_id} not found ({type(exc).__name__})")
            continue
        if not (0 <= c.start <= c.end <= len(text)) or text[c.start:c.end] != c.quote:
            problems.append(f"citation {c.id}: quote != document text at [{c.start}:{c.end}]")
    return problems


@dataclass
class SentenceSupport:
    sentence: str
    cited: list[int]
    supported: bool
    reason: str = ""


@dataclass
class SupportResult:
    sentences: list[SentenceSupport] = field(default_factory=list)

    @property
    def score(self) -> float | None:
        """Share of supported sentences; None when the answer has no claim sentences."""
        return sum(s.supported for s in self.sentences) / len(self.sentences) if self.sentences else None

    @property
    def unsupported(self) -> list[SentenceSupport]:
        return [s for s in self.sentences if not s.supported]


def sentence_support(sentence: str, quotes: Sequence[str]) -> tuple[bool, str]:
    """(supported, why not) for one sentence against the quotes it cites."""
    if not quotes:
        return False, "cites nothing"
    quote_words = set(tokens(" ".join(quotes)))
    words = content_words(sentence)
    missing_numbers = numbers(sentence) - numbers(" ".join(quotes))
    if missing_numbers:
        return False, f"numbers not in the cited quotes: {sorted(missing_numbers)}"
    missing_names = names(sentence) - quote_words
    if missing_names:
        return False, f"names not in the cited quotes: {sorted(missing_names)}"
    if words:
        covered = len(words & quote_words) / len(words)
        if covered < MIN_COVERAGE or len(words - quote_words) > MAX_UNCOVERED:
            return False, f"{covered:.0%} of content words in the cited quotes (< {MIN_COVERAGE:.0%}); missing {sorted(words - quote_words)[:8]}"
    return True, ""


def citation_support(answer: Answer) -> SupportResult:
    quotes = {c.id: c.quote for c in answer.citations}
    result = SupportResult()
    if answer.abstained:
        return result
    for text, ids in split_answer(answer.answer):
        if not content_words(text) and not numbers(text):
            continue
        ok, why = sentence_support(text, [quotes[n] for n in dict.fromkeys(ids) if n in quotes])
        result.sentences.append(SentenceSupport(text, ids, ok, why))
    return result


def cites_file(answer: Answer, filename: str) -> bool:
    return any(Path(c.source).name == filename for c in answer.citations)


def passage_span(doc: str, passage: str) -> tuple[int, int] | None:
    i = doc.find(passage)
    return (i, i + len(passage)) if i >= 0 else None


def overlaps(start: int, end: int, span: tuple[int, int] | None) -> bool:
    return span is not None and start < span[1] and span[0] < end


def cites_span(answer: Answer, passage: str, doc_text: Callable[[str], str]) -> bool:
    return any(overlaps(c.start, c.end, passage_span(doc_text(c.document_id), passage)) for c in answer.citations)


# -- correctness -----------------------------------------------------------------------------------

def squad_normalise(text: str) -> list[str]:
    text = strip_markers(text).lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation) | {"’", "‘", "“", "”"})
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return text.split()


def token_f1(prediction: str, references: Iterable[str]) -> float:
    """SQuAD token F1 (lower-case, no punctuation or articles), max over the references."""
    pred = squad_normalise(prediction)
    best = 0.0
    for ref in references:
        gold = squad_normalise(ref)
        common = sum((Counter(pred) & Counter(gold)).values())
        if pred and gold and common:
            p, r = common / len(pred), common / len(gold)
            best = max(best, 2 * p * r / (p + r))
    return best


def _norm(text: str) -> str:
    return " ".join(strip_markers(text).lower().replace("’", "'").split())


def facts_recall(answer_text: str, facts: Sequence[Sequence[str]]) -> tuple[float, list[str]]:
    """Share of required facts present; a fact is present when any of its phrasings occurs
    case-insensitively at a word start (so ``summon`` also matches ``summoning``)."""
    if not facts:
        return 1.0, []
    text = _norm(answer_text)
    missing = [alts[0] for alts in facts
               if not any(re.search(r"(?<!\w)" + re.escape(_norm(a)), text) for a in alts)]
    return 1 - len(missing) / len(facts), missing


# -- retrieval and abstention ----------------------------------------------------------------------

def gold_rank(chunks: Sequence[RetrievedChunk], gold_kind: str, gold: str,
              doc_text: Callable[[str], str] | None = None) -> int | None:
    """1-based rank of the gold unit among the retrieved chunks, None when absent.

    ``file``: units are documents (chunks deduplicated by document, in rank order), gold = file name.
    ``span``: units are chunks, gold = a passage; a chunk is gold when its span overlaps the passage.
    """
    if gold_kind == "file":
        docs = list(dict.fromkeys(Path(c.source).name for c in chunks))
        return docs.index(gold) + 1 if gold in docs else None
    if gold_kind == "span":
        assert doc_text is not None, "span gold needs doc_text"
        for rank, c in enumerate(dict((c.id, c) for c in chunks).values(), 1):
            if overlaps(c.start, c.end, passage_span(doc_text(c.document_id), gold)):
                return rank
        return None
    raise ValueError(f"gold_kind must be 'file' or 'span', got {gold_kind!r}")


def retrieval_scores(ranks: Sequence[int | None]) -> dict[str, float]:
    n = len(ranks) or 1
    return {
        "recall_at_1": sum(r == 1 for r in ranks) / n,
        "recall_at_5": sum(r is not None and r <= 5 for r in ranks) / n,
        "mrr": sum(1 / r for r in ranks if r) / n,
    }


def abstention_scores(pairs: Sequence[tuple[bool, bool]]) -> dict[str, float]:
    """From (answerable, abstained) pairs: precision and recall of abstaining on the unanswerable
    questions, and the false-abstention rate on the answerable ones (0 where undefined)."""
    tp = sum(not a and ab for a, ab in pairs)
    fp = sum(a and ab for a, ab in pairs)
    unanswerable = sum(not a for a, _ in pairs)
    answerable = len(pairs) - unanswerable
    return {
        "abstention_precision": tp / (tp + fp) if tp + fp else 0.0,
        "abstention_recall": tp / unanswerable if unanswerable else 0.0,
        "false_abstention_rate": fp / answerable if answerable else 0.0,
    }


def mean(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


# -- the optional LLM judge ------------------------------------------------------------------------

JUDGE_PROMPT = """You check whether an answer is faithful to its cited sources.
List every factual claim in the ANSWER. For each claim, decide whether the QUOTES state it
(supported) or not (unsupported: missing, contradicted or only implied). Use no outside knowledge.
Reply with JSON only: {{"claims": [{{"claim": "...", "supported": true}}]}}

QUESTION: {question}

QUOTES:
{quotes}

ANSWER: {answer}"""


class LLMJudge:
    """Claim-level faithfulness from an OpenAI-compatible chat endpoint (RAGAS-style).

    Example::

        judge = LLMJudge("http://127.0.0.1:8001/v1", "qwen2.5-7b-instruct", api_key="...")
        score, claims = judge.faithfulness(question, answer)   # share of supported claims
    """

    def __init__(self, base_url: str, model: str, api_key: str = "", timeout_s: float = 60.0,
                 post: Callable[..., Any] | None = None) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"judge URL must start with http:// or https://, got {base_url!r}")
        if not model:
            raise ValueError("the judge needs a model name (--judge-model)")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.api_key, self.timeout_s = model, api_key, timeout_s
        self._post = post

    def _complete(self, prompt: str) -> str:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        body = {"model": self.model, "temperature": 0, "messages": [{"role": "user", "content": prompt}]}
        if self._post is None:
            import httpx

            self._post = httpx.post
        resp = self._post(self.url, json=body, headers=headers, timeout=self.timeout_s)
        resp.raise_for_status()
        return resp.json()["choices"][0]["message"]["content"]

    def faithfulness(self, question: str, answer: Answer) -> tuple[float | None, list[dict[str, Any]]]:
        """(share of supported claims, the claims); (None, []) for abstentions or unparseable replies."""
        if answer.abstained or not answer.answer.strip():
            return None, []
        quotes = "\n".join(f"[{c.id}] {c.quote}" for c in answer.citations) or "(none)"
        reply = self._complete(JUDGE_PROMPT.format(question=question, quotes=quotes, answer=answer.answer))
        m = re.search(r"\{.*\}", reply, re.S)
        try:
            claims = [c for c in json.loads(m.group(0))["claims"] if isinstance(c, dict)] if m else []
        except (json.JSONDecodeError, KeyError, TypeError):
            claims = []
        if not claims:
            return None, []
        return sum(bool(c.get("supported")) for c in claims) / len(claims), claims
