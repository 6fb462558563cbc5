"""The eval metrics on hand-made cases, and the sample dataset's own consistency."""

from __future__ import annotations

import pytest

from assistant.schema import Answer, Citation, Evidence, Grounding
from evals import metrics as m
from evals.clapnq import load_clapnq
from evals.datasets import SAMPLE_DOCUMENT, clap_subset, sample_items

DOC = "North Korea sent 11,000 soldiers to Kursk. South Korea summoned Russia's ambassador. It may supply arms."
KURSK = "Reports indicating that up to 11,000 North Korean soldiers might be stationed near Ukraine’s Kursk region emphasize the military’s significant involvement."


def cite(n: int, start: int, end: int, doc: str = DOC, source: str = "/x/doc.txt", doc_id: str = "d1") -> Citation:
    return Citation(id=n, document_id=doc_id, source=source, quote=doc[start:end], start=start, end=end, score=1.0)


def answer(text: str, citations: list[Citation], abstained: bool = False) -> Answer:
    return Answer(answer=text, abstained=abstained, citations=citations, grounding=Grounding(score=1.0), query="q")


def docs(doc_id: str) -> str:
    return {"d1": DOC}[doc_id]


# -- splitting and validity ----------------------------------------------------------------------

def test_split_answer_attaches_markers_after_the_full_stop():
    parts = m.split_answer("North Korea sent 11,000 soldiers. [1] South Korea summoned the ambassador [2][3]. Dr. No spoke.")
    assert parts == [("North Korea sent 11,000 soldiers.", [1]), ("South Korea summoned the ambassador.", [2, 3]),
                     ("Dr. No spoke.", [])]


def test_citation_validity_accepts_exact_quotes_and_flags_dangling_markers_and_bad_spans():
    ok = answer("North Korea sent 11,000 soldiers to Kursk. [1]", [cite(1, 0, 42)])
    assert m.citation_validity(ok, docs) == []
    dangling = answer("North Korea sent soldiers [2].", [cite(1, 0, 42)])
    assert m.citation_validity(dangling, docs) == ["[2] has no citation"]
    shifted = cite(1, 0, 42).model_copy(update={"start": 1})
    assert "quote != document text" in m.citation_validity(answer("x [1].", [shifted]), docs)[0]
    missing = cite(1, 0, 42).model_copy(update={"document_id": "nope"})
    assert "not found" in m.citation_validity(answer("x [1].", [missing]), docs)[0]


# -- support -------------------------------------------------------------------------------------

def test_support_accepts_a_quoted_sentence_and_rejects_uncited_or_invented_ones():
    a = answer("North Korea sent 11,000 soldiers to Kursk [1]. The capital of Australia is Canberra [1]. "
               "South Korea summoned Russia's ambassador.", [cite(1, 0, 42)])
    result = m.citation_support(a)
    assert [s.supported for s in result.sentences] == [True, False, False]
    assert "australia" in result.sentences[1].reason or "canberra" in result.sentences[1].reason
    assert result.sentences[2].reason == "cites nothing"
    assert result.score == pytest.approx(1 / 3)


def test_support_requires_every_number_of_the_sentence():
    a = answer("North Korea sent 12,000 soldiers to Kursk [1].", [cite(1, 0, 42)])
    assert "numbers" in m.citation_support(a).sentences[0].reason


def test_abstention_has_no_sentences_to_support():
    assert m.citation_support(answer("The documents do not cover this.", [], abstained=True)).score is None


def test_stricter_than_the_engine_verifier(embedder):
    """A sentence that adds a short unsupported clause to a quote passes the engine's verifier (75%
    stemmed coverage, at most 3 uncovered terms, embedding similarity) but not ours (verbatim words)."""
    from assistant.verify import GroundingVerifier

    sentence = "Up to 11,000 North Korean soldiers might be stationed near the Kursk region, which alarms experts."
    evidence = [Evidence(id=1, document_id="d", source="s", text=KURSK, start=0, end=len(KURSK), score=1.0)]
    engine = GroundingVerifier(embedder.embed).verify(f"{sentence} [1]", evidence)
    assert engine.sentences and not engine.unsupported, "the engine's verifier should accept this sentence"
    ok, why = m.sentence_support(sentence, [KURSK])
    assert not ok and "alarms" in why


def test_no_stemming_rejects_an_inflected_paraphrase():
    assert not m.sentence_support("Reporters indicated troops stationed near Kursk.", ["Reports indicate troops near Kursk."])[0]


# -- hits, correctness, retrieval, abstention -----------------------------------------------------

def test_citation_hit_by_file_and_by_span():
    a = answer("x [1].", [cite(1, 43, 82, source="/corpus/clapnq-7.txt")])
    assert m.cites_file(a, "clapnq-7.txt") and not m.cites_file(a, "clapnq-8.txt")
    assert m.cites_span(a, "summoned Russia's", docs)
    assert not m.cites_span(a, "It may supply arms.", docs)


def test_token_f1_squad_normalisation_and_max_over_references():
    assert m.token_f1("The Eiffel Tower [1].", ["eiffel tower"]) == 1.0
    assert m.token_f1("Paris", ["London", "paris, france"]) == pytest.approx(2 * 1 * 0.5 / 1.5)
    assert m.token_f1("", ["x"]) == 0.0


def test_facts_recall_matches_alternatives_at_word_starts():
    recall, missing = m.facts_recall("South Korea is summoning the ambassador [1].", [["summon"], ["ambassador"], ["arms"]])
    assert recall == pytest.approx(2 / 3) and missing == ["arms"]
    assert m.facts_recall("It raised alarms.", [["arms"]])[0] == 0.0  # 'arms' is not 'alarms'
    assert m.facts_recall("Up to 11,000 soldiers", [["11,000", "11000"]])[0] == 1.0


def test_retrieval_ranks_dedupe_documents():
    from assistant.schema import RetrievedChunk

    def chunk(i: str, src: str, start: int = 0, end: int = 10) -> RetrievedChunk:
        return RetrievedChunk(id=i, document_id="d1", source=src, title="", text="", start=start, end=end, score=1.0)

    chunks = [chunk("a", "/c/x.txt"), chunk("b", "/c/x.txt"), chunk("c", "/c/gold.txt")]
    assert m.gold_rank(chunks, "file", "gold.txt") == 2
    assert m.gold_rank(chunks, "file", "absent.txt") is None
    assert m.gold_rank([chunk("a", "s", 0, 40), chunk("b", "s", 43, 90)], "span", "summoned Russia's", docs) == 2
    scores = m.retrieval_scores([1, 2, None, 6])
    assert scores == {"recall_at_1": 0.25, "recall_at_5": 0.5, "mrr": pytest.approx((1 + 0.5 + 1 / 6) / 4)}


def test_abstention_scores():
    pairs = [(True, False), (True, True), (False, True), (False, True), (False, False)]
    assert m.abstention_scores(pairs) == {"abstention_precision": pytest.approx(2 / 3),
                                          "abstention_recall": pytest.approx(2 / 3),
                                          "false_abstention_rate": 0.5}


def test_llm_judge_parses_claims_from_a_fake_endpoint():
    class Resp:
        def raise_for_status(self) -> None: ...
        def json(self) -> dict:
            return {"choices": [{"message": {"content": 'Sure: {"claims": [{"claim": "a", "supported": true}, '
                                                        '{"claim": "b", "supported": false}]}'}}]}

    sent = {}
    judge = m.LLMJudge("http://127.0.0.1:9/v1", "judge", api_key="k", post=lambda url, **kw: sent.update(url=url, **kw) or Resp())
    score, claims = judge.faithfulness("q", answer("North Korea sent soldiers [1].", [cite(1, 0, 42)]))
    assert score == 0.5 and len(claims) == 2
    assert sent["url"] == "http://127.0.0.1:9/v1/chat/completions" and sent["headers"]["Authorization"] == "Bearer k"


# -- the datasets ---------------------------------------------------------------------------------

def test_sample_questions_are_grounded_in_the_document():
    doc = SAMPLE_DOCUMENT.read_text(encoding="utf-8")
    items = sample_items()
    assert len(items) >= 20
    assert sum(not i.answerable for i in items) >= 5
    assert sum(bool(i.follows) for i in items) >= 4
    for item in items:
        if item.answerable:
            assert doc.count(item.gold) == 1, f"{item.id}: passage is not an exact, unique substring"
            for alts in item.facts:  # every required fact is stated in its supporting passage
                assert m.facts_recall(item.gold, [alts])[0] == 1.0, f"{item.id}: {alts} not in its passage"


def test_clap_ci_subset_is_deterministic():
    pool = load_clapnq()
    ci = clap_subset(pool, "ci")
    assert len(pool) == 600 and len(ci) == 200
    assert sum(i.answerable for i in ci) == 100
    assert ci[:100] == [i for i in pool if i.answerable][:100]
    assert len({i.filename for i in pool}) == 600
