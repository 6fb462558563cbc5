"""assistant/reading.py: evidence read against the question (constraints, expected type, restatement)."""

from __future__ import annotations

from assistant.question import analyze_question
from assistant.reading import (
    READING_FEATURES,
    answers_question,
    lead_sentences,
    read,
    reading_features,
    window_bonus,
)

OLYMPICS = {
    2008: "The 2008 Summer Olympics were held in Beijing, China. They were the first Games hosted by China.",
    2012: "The 2012 Summer Olympics were held in London, England. London became the first city to host three times.",
}


def test_the_named_year_wins_over_the_same_topic_in_another_year() -> None:
    bonus = window_bonus(analyze_question("Which city hosted the 2012 Summer Olympics?"))
    assert bonus(OLYMPICS[2012]) > 0 > bonus(OLYMPICS[2008])


APOLLO_12 = ("Apollo 12 was the second crewed mission of the Apollo program to land on the Moon. It launched "
             "from Kennedy Space Center on November 14, 1969. Its lunar module, Intrepid, landed in the Ocean of "
             "Storms. The crew consisted of commander Pete Conrad, lunar module pilot Alan Bean and command module "
             "pilot Richard Gordon.")


def test_the_window_with_the_asked_relation_wins_and_the_title_names_its_subject() -> None:
    """The answer sits in the passage's last sentence, which never names Apollo 12: the document's title
    does, and the sentence holds the asked relation ("commander") beside a person."""
    bonus = window_bonus(analyze_question("Who was the commander of Apollo 12?"))
    cut = APOLLO_12.index("It launched")
    opening, later = APOLLO_12[: APOLLO_12.index("The crew")], APOLLO_12[cut:]
    assert bonus(later, "Apollo 12") > bonus(later)  # the title satisfies the constraint
    assert bonus(later, "Apollo 12") > bonus(opening, "Apollo 12")
    assert bonus(later, "Apollo 13") < bonus(later, "Apollo 12")


def test_reading_of_a_conflicting_and_a_satisfying_window() -> None:
    analysis = analyze_question("Which city hosted the 2012 Summer Olympics?")
    good, other = read(analysis, OLYMPICS[2012]), read(analysis, OLYMPICS[2008])
    assert (good.constraints, good.conflict, good.type_found) == (1.0, 0.0, 1.0)
    assert other.conflict == 1.0 and other.constraints < 1.0


def test_asked_attribute_missing_from_an_on_topic_passage() -> None:
    """A ticket-sales question over a passage about the same Games that never mentions tickets."""
    analysis = analyze_question("How many tickets were sold for the 2012 Summer Olympics?")
    assert read(analysis, OLYMPICS[2012]).attribute == 0.0
    assert read(analysis, "About 8.2 million tickets were sold for the 2012 Summer Olympics.").attribute == 1.0


def test_features_have_one_value_per_name_and_zeros_without_evidence() -> None:
    analysis = analyze_question("Who won the 2019 Tour de France?")
    assert len(reading_features(analysis, "Egan Bernal won the 2019 Tour de France.")) == len(READING_FEATURES)
    assert reading_features(analysis, None) == (0.0,) * len(READING_FEATURES)


def test_extractive_answer_leads_with_the_sentence_that_answers() -> None:
    text = ("Mar 11, 2023 ... The startup grew quickly in Berlin. It was bought by Acme Corp in 2021 for $3 billion. "
            "Its founders stayed on.")
    spans = lead_sentences(analyze_question("When was the startup bought?"), text)
    assert text[spans[0][0]:spans[0][1]] == "It was bought by Acme Corp in 2021 for $3 billion."
    assert len(spans) == 3


def test_a_sentence_that_restates_the_question_does_not_answer_it() -> None:
    analysis = analyze_question("What exception is raised when the file is missing?")
    assert not answers_question(analysis, "The file is missing.")
    assert answers_question(analysis, "A FileNotFoundError is raised when the file is missing.")
    number = analyze_question("How many North Korean soldiers have been killed?")
    assert not answers_question(number, "North Korean soldiers have been killed in the fighting.")
    assert answers_question(number, "About 200 North Korean soldiers have been killed.")
