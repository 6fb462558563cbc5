"""GroundingVerifier: support, re-attribution and dropping, with the real embedder."""

from __future__ import annotations

from typing import Any

from assistant.schema import Evidence
from assistant.verify import GroundingVerifier, inverted, split_cited

EVIDENCE = [
    Evidence(id=1, document_id="d", source="s", text="Reports indicate that up to 11,000 North Korean soldiers "
             "might be stationed near Ukraine’s Kursk region.", start=0, end=10, score=1.0),
    Evidence(id=2, document_id="d", source="s", text="South Korea has already raised alarms over this collaboration. "
             "The summoning of Russia’s ambassador points to a willingness to reevaluate defense strategies.",
             start=20, end=30, score=0.9),
]


def test_split_cited_attaches_markers() -> None:
    parts = split_cited("Up to 11,000 soldiers [1]. South Korea summoned the ambassador. [2] Framing [1, 2]")
    assert parts == [("Up to 11,000 soldiers.", [1]), ("South Korea summoned the ambassador.", [2]),
                     ("Framing", [1, 2])]


def test_supported_sentence_kept_wrong_citation_reattributed(embedder: Any) -> None:
    v = GroundingVerifier(embedder.embed).verify(
        "Up to 11,000 North Korean soldiers might be stationed near Kursk [2]. "
        "South Korea has raised alarms over this collaboration [2].", EVIDENCE)
    assert v.sentences == [("Up to 11,000 North Korean soldiers might be stationed near Kursk.", [1]),
                           ("South Korea has raised alarms over this collaboration.", [2])]
    assert v.score == 1.0 and v.unsupported == []


def test_own_knowledge_wrong_number_and_invented_clause_are_dropped(embedder: Any) -> None:
    v = GroundingVerifier(embedder.embed).verify(
        "The capital of Australia is Canberra [1]. "
        "Up to 12,000 North Korean soldiers might be stationed near Kursk [1]. "
        "South Korea raised alarms and secretly deployed three submarine brigades to the Baltic coast [2].",
        EVIDENCE)
    assert v.sentences == []
    assert len(v.unsupported) == 3 and v.score == 0.0


SAMPLE_PASSAGE = ("South Korea has already raised alarms over this collaboration. The summoning of Russia’s ambassador "
                  "and the consideration to supply arms to Ukraine points to a willingness to reevaluate defense "
                  "strategies in light of new threats.")


def test_inverted_roles_are_not_supported(embedder: Any) -> None:
    """Regression: the local model wrote "South Korea might supply arms to Russia [1]" over the sample's
    passage, which says arms to Ukraine; every word is in the passage, so coverage and similarity passed."""
    evidence = [Evidence(id=1, document_id="d", source="s", text=SAMPLE_PASSAGE, start=0, end=10, score=1.0)]
    v = GroundingVerifier(embedder.embed).verify(
        "South Korea summoned Russia’s ambassador [1]. South Korea might supply arms to Russia [1].", evidence)
    assert v.sentences == [("South Korea summoned Russia’s ambassador.", [1])]
    assert v.unsupported == ["South Korea might supply arms to Russia."]
    right = GroundingVerifier(embedder.embed).verify("South Korea considered supplying arms to Ukraine [1].", evidence)
    assert right.unsupported == [] and right.score == 1.0


def test_inverted_needs_a_name_of_the_passage_in_a_role_it_gives_another() -> None:
    assert inverted("They sent troops to Russia.", "North Korea sent troops to Ukraine; Russia welcomed them.")
    assert not inverted("They sent troops to Russia.", "North Korea sent troops to Russia.")
    assert not inverted("They sent troops to Belarus.", "North Korea sent troops to Ukraine.")  # not a swap: absent
    assert not inverted("Troops came from Pyongyang.", "Pyongyang sent troops.")  # no competing role
