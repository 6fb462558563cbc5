"""AnswerEngine: question (+ history) in, a typed, verified, cited ``Answer`` out.

    condense follow-up -> analyse the question -> hybrid retrieve -> select evidence windows (ranked by
    relevance and by how well they satisfy the question) -> abstain? (one calibrated model over retrieval
    and reading features) -> generate (LLM with [n] citations, or extractive, leading with the sentence
    that answers) -> verify every sentence (supported, not inverted, carries the asked information) -> Answer

``ask``, ``aask`` and ``stream`` share ``prepare`` (everything up to generation) and ``finish``
(verification and the Answer), so the sync, async and streaming paths cannot drift apart.

The engine receives its collaborators; ``assistant.services.Services`` builds them from settings.

Example::

    engine = Services(settings).engine
    answer = engine.ask("What did South Korea do in response?")
    for item in engine.stream("And Russia?", history=[...]):
        print(item if isinstance(item, str) else item.citations)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from assistant.abstain import AbstentionModel, retrieval_features
from assistant.errors import LLMUnavailable
from assistant.evidence import EvidenceSelector
from assistant.llm.base import LLM, Message, complete, stalling_guard
from assistant.question import QuestionAnalysis, analyze_question
from assistant.reading import answers_question, lead_sentences, reading_features, window_bonus
from assistant.retrieval import HybridRetriever
from assistant.schema import Answer, ChatTurn, Citation, Evidence, Grounding, RetrievedChunk, check_question
from assistant.text import content_terms
from assistant.verify import GroundingVerifier
from ingest.embedder import Embedder
from ingest.store import ChromaStore
from prompts import load_prompt

log = logging.getLogger(__name__)
LLM_EVIDENCE_RATIO = 0.85  # evidence scoring below this share of the best is not shown to the LLM
_CONTINUATION = re.compile(r"^\s*(and|but|also|so|what about|how about)\b", re.I)
_ANAPHORA = re.compile(r"\b(it|its|they|them|their|this|these|those|he|she|him|her|his|such)\b", re.I)


_FAKE_MARKER = re.compile(r"\[(\d+)\]")
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def defang(text: str) -> str:
    """Document text as data: whitespace collapsed, ``[n]`` written ``(n)`` so a document cannot fake a
    citation marker (in the prompt, or in an extractive answer where every ``[n]`` must be a citation), and
    bidirectional overrides dropped so a document cannot make an answer display reversed."""
    return _FAKE_MARKER.sub(r"(\1)", BIDI_CONTROLS.sub("", " ".join(text.split())))


@dataclass
class Prepared:
    """Everything known before generation."""

    question: str
    query: str
    analysis: QuestionAnalysis
    chunks: list[RetrievedChunk]
    evidence: list[Evidence]
    features: tuple[float, ...]  # the abstention model's inputs, named by assistant.abstain.FEATURES
    p_answerable: float  # the abstention model's estimate
    abstain: bool
    notices: list[str] = field(default_factory=list)
    history: list[ChatTurn] = field(default_factory=list)
    generation: int = 0  # the index's commit generation the answer was made from


# Called with every final Answer (question, history, answer, index generation): ``Services`` passes
# ``RecentAnswers.remember`` so that feedback can name an answer by its id alone.
AnswerListener = Callable[[str, list[ChatTurn], Answer, int], None]


class AnswerEngine:
    """``llm=None`` answers extractively. ``store`` supplies the documents' texts (quotes are cut from them)."""

    def __init__(self, *, embedder: Embedder, store: ChromaStore, retriever: HybridRetriever,
                 selector: EvidenceSelector, verifier: GroundingVerifier, abstention: AbstentionModel,
                 llm: LLM | None, evidence_k: int = 3, max_tokens: int = 256,
                 max_question_chars: int = 2000, llm_timeout_s: float | None = None,
                 on_answer: AnswerListener | None = None) -> None:
        self.embedder = embedder
        self.store = store
        self.retriever = retriever
        self.selector = selector
        self.verifier = verifier
        self.abstention = abstention
        self.llm = llm
        self.evidence_k = evidence_k
        self.max_tokens = max_tokens
        self.max_question_chars = max_question_chars
        self.llm_timeout_s = llm_timeout_s  # a model silent for this long counts as failed
        self.on_answer = on_answer

    # -- the three entry points ---------------------------------------------------------------
    def ask(self, question: str, history: list[ChatTurn] | None = None,
            document_ids: list[str] | None = None) -> Answer:
        answer: Answer | None = None
        for item in self.stream(question, history, document_ids):
            if isinstance(item, Answer):
                answer = item
        assert answer is not None
        return answer

    async def aask(self, question: str, history: list[ChatTurn] | None = None,
                   document_ids: list[str] | None = None) -> Answer:
        return await anyio.to_thread.run_sync(self.ask, question, history, document_ids)

    def stream(self, question: str, history: list[ChatTurn] | None = None,
               document_ids: list[str] | None = None) -> Iterator[str | Answer]:
        """Yield answer tokens as they are generated, then the final verified ``Answer``."""
        prep = self.prepare(question, history, document_ids)
        for item in self._generate(prep):
            if isinstance(item, Answer) and self.on_answer is not None:
                self.on_answer(prep.question, prep.history, item, prep.generation)
            yield item

    def _generate(self, prep: Prepared) -> Iterator[str | Answer]:
        if prep.abstain:
            yield self.abstention_answer(prep)
            return
        llm = self.llm
        if llm is None:
            answer = self.extractive_answer(prep)
            yield answer.answer
            yield answer
            return
        pieces: list[str] = []
        try:
            tokens = llm.stream(self._messages(prep), max_tokens=self.max_tokens)
            if self.llm_timeout_s is not None:
                tokens = stalling_guard(tokens, self.llm_timeout_s)
            for token in tokens:
                pieces.append(token)
                yield token
        except LLMUnavailable as exc:
            log.warning("LLM failed, answering extractively: %s", exc.message)
            prep.notices.append(f"The language model failed ({exc.message}); showing the best passages instead.")
            yield self.extractive_answer(prep)
            return
        yield self.finish(prep, "".join(pieces), llm.name)

    # -- preparation --------------------------------------------------------------------------
    def prepare(self, question: str, history: list[ChatTurn] | None = None,
                document_ids: list[str] | None = None) -> Prepared:
        question = check_question(question, self.max_question_chars)
        query = self.condense(question, history or [])
        analysis = analyze_question(query)
        qvec = self.embedder.embed([query])[0]
        # Search the last snapshot, then read the documents' texts and the generation in one get; if a commit
        # came in since that snapshot, search again in one at the current generation. Either way the question
        # sees every commit made before it started, for one Chroma read fewer than reading the generation first.
        snap = self.retriever.last_snapshot()
        chunks = self.retriever.retrieve(query, document_ids=document_ids, query_vector=qvec, snapshot=snap)
        texts, now = self.store.doc_texts_and_generation(c.document_id for c in chunks)
        if now != snap.generation:
            snap = self.retriever.snapshot()
            chunks = self.retriever.retrieve(query, document_ids=document_ids, query_vector=qvec, snapshot=snap)
            texts = self.store.doc_texts(c.document_id for c in chunks)
        generation = snap.generation
        evidence = self.selector.select(query, qvec, chunks, texts, k=self.evidence_k, bonus=window_bonus(analysis))
        features = (retrieval_features(chunks, self.retriever.coverage(query, chunks), evidence)
                    + reading_features(analysis, evidence[0].text if evidence else None))
        return Prepared(question, query, analysis, chunks, evidence, features, self.abstention.probability(features),
                        abstain=self.abstention.abstain(features) or not evidence, history=list(history or []),
                        generation=generation)

    def condense(self, question: str, history: list[ChatTurn]) -> str:
        """A standalone question from a follow-up and the conversation before it."""
        last_user = next((t.content.strip() for t in reversed(history) if t.role == "user" and t.content.strip()), "")
        if not last_user:
            return question
        llm = self.llm
        if llm is not None:
            turns = "\n".join(f"{t.role}: {t.content.strip()[:400]}" for t in history[-4:])
            prompt = load_prompt("condense").render(history=turns, question=question)
            try:
                text = complete(llm, [{"role": "user", "content": prompt}], max_tokens=60, stop=["\n"]).strip()
                text = text.strip('"').splitlines()[0].strip() if text else ""
                if 8 <= len(text) <= 3 * len(question) + len(last_user):
                    return text
            except LLMUnavailable as exc:
                log.warning("condense failed, using the deterministic rewrite: %s", exc.message)
        follow_up = (_ANAPHORA.search(question) or _CONTINUATION.match(question)
                     or len(content_terms(question, drop_question_words=True)) <= 1)
        return f"{question} (follow-up to: {last_user})" if follow_up else question

    # -- answers ------------------------------------------------------------------------------
    def _messages(self, prep: Prepared) -> list[Message]:
        # Only evidence close to the best: a small model is distracted by weaker passages, and every
        # passage costs ~1 s of prompt processing on two cores.
        best = prep.evidence[0].score
        focused = [e for e in prep.evidence if e.score >= LLM_EVIDENCE_RATIO * best]
        evidence = "\n".join(f"[{e.id}] {defang(e.text)}" for e in focused)
        return [
            {"role": "system", "content": load_prompt("answer_system").template},
            {"role": "user", "content": load_prompt("answer_user").render(evidence=evidence, question=prep.query)},
        ]

    def finish(self, prep: Prepared, reply: str, backend: str) -> Answer:
        """Verify a generated reply; fall back to the extractive answer when nothing survives."""
        verified = self.verifier.verify(reply, prep.evidence)
        # an answer must carry the asked information: one that only restates the question does not count
        if not any(answers_question(prep.analysis, t) for t, _ in verified.sentences):
            verified.unsupported += [t for t, _ in verified.sentences]
            verified.sentences = []
        if not verified.sentences:
            prep.notices.append("The model's answer could not be verified against the sources; "
                                "showing the best passages instead.")
            answer = self.extractive_answer(prep)
            answer.grounding.unsupported = verified.unsupported
            return answer
        text = " ".join(f"{s} {''.join(f'[{n}]' for n in ids)}" for s, ids in verified.sentences)
        return self._answer(prep, text, [n for _, ids in verified.sentences for n in ids],
                            Grounding(score=verified.score, unsupported=verified.unsupported), backend)

    def extractive_answer(self, prep: Prepared, max_sentences: int = 3) -> Answer:
        """The best evidence sentences, each cited. Always grounded: the sentences are quotes."""
        picked: list[tuple[str, int]] = []
        for ev in prep.evidence[:2]:
            if picked and ev.score < 0.9 * prep.evidence[0].score:
                break
            for s, e in lead_sentences(prep.analysis, ev.text):
                sentence = defang(ev.text[s:e])
                if len(picked) < max_sentences and sentence not in {p for p, _ in picked}:
                    picked.append((sentence, ev.id))
        text = " ".join(f"{s} [{n}]" for s, n in picked)
        return self._answer(prep, text, [n for _, n in picked], Grounding(score=1.0 if picked else 0.0), "extractive")

    def abstention_answer(self, prep: Prepared) -> Answer:
        names = list(dict.fromkeys(Path(c.source).name for c in prep.chunks[:3]))
        closest = f" The closest sources are: {', '.join(names)}." if names else ""
        text = f"The documents do not cover this question, so I can't answer it from them.{closest}"
        return Answer(answer=text, abstained=True, citations=[], grounding=Grounding(score=0.0), query=prep.query,
                      notice=" ".join(prep.notices) or None, backend="abstain")

    def _answer(self, prep: Prepared, text: str, cited: list[int], grounding: Grounding, backend: str) -> Answer:
        by_id = {e.id: e for e in prep.evidence}
        citations = [
            Citation(id=n, document_id=by_id[n].document_id, source=by_id[n].source, quote=by_id[n].text,
                     start=by_id[n].start, end=by_id[n].end, score=by_id[n].score)
            for n in sorted(set(cited))
        ]
        return Answer(answer=text, abstained=False, citations=citations, grounding=grounding, query=prep.query,
                      notice=" ".join(prep.notices) or None, backend=backend)

