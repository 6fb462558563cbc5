"""Question analysis: answer types, constraints, candidate spans and passage satisfaction."""

from __future__ import annotations

import doctest

import pytest

import assistant.question as question_module
from assistant.question import AnswerType, analyze_question, satisfies, type_spans


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        # the brief's cases
        ("What did South Korea do in response?", "other"),
        ("Who is Ukraine's Defense Minister?", "person"),
        ("How many North Korean soldiers have been killed?", "number"),
        ("Where was the 2021 final held?", "place"),
        ("When did the startup get acquired?", "date"),
        ("Which company bought X in 2021?", "person"),
        ("Military collaboration between which two capitals is suggested?", "place"),
        ("In which year did Apollo 11 land?", "date"),
        ("What was Apple's revenue in Q3 2021?", "number"),
        ("What exception is raised when the file is missing?", "other"),
        # date
        ("What year did the war end?", "date"),
        ("What date was the contract signed?", "date"),
        ("What time does the store open?", "date"),
        ("How long ago did the merger happen?", "date"),
        ("In what year was the company founded?", "date"),
        ("What century was the cathedral built in?", "date"),
        ("what decade saw the boom?", "date"),
        # number
        ("How much money did they raise?", "number"),
        ("How much did the project cost?", "number"),
        ("How long is the bridge?", "number"),
        ("How old is the founder?", "number"),
        ("How far is the moon?", "number"),
        ("How tall is the tower?", "number"),
        ("How fast can it fly?", "number"),
        ("What percentage of voters turned out?", "number"),
        ("What share of the market does Acme hold?", "number"),
        ("What is the population of Canada?", "number"),
        ("What's the price of a ticket?", "number"),
        ("What was the attendance at the final?", "number"),
        ("HOW MANY PEOPLE LIVE THERE?", "number"),
        # place
        ("so where is the venue?", "place"),
        ("In what city was the 2022 final played?", "place"),
        ("Which country hosted the World Cup?", "place"),
        ("Which two countries signed the treaty?", "place"),
        ("What is the capital of France?", "place"),
        ("Which river flows through Paris?", "place"),
        ("What stadium hosts the game?", "place"),
        # person (people and organisations)
        ("And who won the Super Bowl?", "person"),
        ("Who is the CEO of Acme?", "person"),
        ("Whom did the board appoint?", "person"),
        ("Whose idea was it?", "person"),
        ("Who's the founder of Acme Corp?", "person"),
        ("Which team won the 2019-20 season?", "person"),
        ("Which Premier League club signed him?", "person"),
        ("Which country's leader visited Seoul?", "person"),
        ("What is the name of the company that built it?", "person"),
        ("Which band recorded the album?", "person"),
        ("What agency approved the drug?", "person"),
        # other
        ("Why did the merger fail?", "other"),
        ("How does the engine work?", "other"),
        ("Describe the city where it happened.", "other"),
        ("What is the state of the economy?", "other"),
        ("What is the company doing about emissions?", "other"),
        ("Is Acme profitable?", "other"),
        ("What kind of attack was it?", "other"),
        ("Summarise the report.", "other"),
    ],
)
def test_answer_type(question: str, expected: AnswerType) -> None:
    assert analyze_question(question).answer_type == expected


@pytest.mark.parametrize(
    ("question", "attribute"),
    [
        ("What was Apple's revenue in Q3 2021?", "revenue"),
        ("Where was the 2021 final held?", "location"),
        ("When did the startup get acquired?", "date"),
        ("Who is the CEO of Acme?", "ceo"),
        ("Who is Ukraine's Defense Minister?", "minister"),
        ("What is the capital of France?", "capital"),
        ("What is the population of Canada?", "population"),
        ("Who won the Super Bowl?", "winner"),
        ("Who will host the 2026 World Cup?", "host"),
        ("Military collaboration between which two capitals is suggested?", "capital"),
        ("How many North Korean soldiers have been killed?", "soldier"),
        ("How old is the founder?", "age"),
        ("What did South Korea do in response?", ""),
        ("Who is Elon Musk?", ""),
    ],
)
def test_attribute(question: str, attribute: str) -> None:
    assert analyze_question(question).attribute == attribute


def test_constraints_years_numbers_and_entities() -> None:
    a = analyze_question("What was Apple's revenue in Q3 2021?")
    assert a.years == {"2021"}
    assert "2021" not in a.numbers
    assert "Apple's" in a.entities
    assert "revenu" not in a.key_terms and "appl" in a.key_terms


def test_years_from_fiscal_and_season_forms() -> None:
    assert analyze_question("How much did they raise in FY2021?").years == {"2021"}
    a = analyze_question("Which team won the 2019-20 season?")
    assert a.years == {"2019"} and a.numbers == frozenset()


def test_numbers_are_normalised_and_exclude_years() -> None:
    a = analyze_question("Did 11,000 soldiers arrive in 2024 with 3.5 tonnes?")
    assert a.years == {"2024"}
    assert a.numbers == {"11000", "3.5"}


def test_quoted_strings() -> None:
    a = analyze_question('What does "Operation Overlord" mean and what is “net zero” or \'scope 3\'?')
    assert a.quoted == ("Operation Overlord", "net zero", "scope 3")
    assert analyze_question("Who is Ukraine's minister?").quoted == ()


@pytest.mark.parametrize(
    ("question", "entities"),
    [
        ("What did South Korea do in response?", ("South Korea",)),
        ("Did the Super Bowl go to the Kansas City Chiefs?", ("Super Bowl", "Kansas City Chiefs")),
        ("Who is Ukraine's Defense Minister?", ("Ukraine's Defense Minister",)),
        ("In which year did Apollo 11 land?", ("Apollo 11",)),
        ("Where was the 2021 final held?", ()),
        ("Acme bought what?", ("Acme",)),
    ],
)
def test_entities(question: str, entities: tuple[str, ...]) -> None:
    assert analyze_question(question).entities == entities


def test_key_terms_drop_question_words_and_attribute() -> None:
    a = analyze_question("Who is the CEO of Acme?")
    assert a.key_terms == ("acm",)


def _found(text: str, answer_type: AnswerType) -> list[str]:
    return [text[s:e] for s, e in type_spans(text, answer_type)]


@pytest.mark.parametrize(
    ("text", "answer_type", "expected"),
    [
        ("Reports indicate that up to 11,000 North Korean soldiers arrived.", "number", ["11,000"]),
        ("The company earned $3.5 billion, up 12% in 2021.", "number", ["$3.5 billion", "12%"]),
        ("Sales reached 1500 units and 2000 km of track.", "number", ["1500", "2000"]),
        ("Twenty-five people came, then hundreds; about three thousand.", "number",
         ["Twenty-five", "hundreds", "three thousand"]),
        ("In 2021 it grew.", "date", ["2021"]),
        ("Signed on March 11, 2023, effective 1 April and Mar 2024.", "date",
         ["March 11, 2023", "1 April", "Mar 2024"]),
        ("It happened yesterday, three days ago, on Monday, in the 1990s.", "date",
         ["yesterday", "three days ago", "Monday", "1990s"]),
        ("In the 19th century and spring 2020, not 2023-03-11 itself.", "date",
         ["19th century", "spring 2020", "2023-03-11"]),
        ("FY2021 and the 2021-22 season.", "date", ["FY2021", "2021-22"]),
        ("Jane Doe joined Bank of America; J. K. Rowling wrote it.", "person",
         ["Jane Doe", "Bank of America", "J. K. Rowling"]),
        ("Acme Inc. said profits rose.", "person", ["Acme Inc"]),
        ("South Korea raised alarms.", "person", ["South Korea"]),
        ("The final was held at Wembley Stadium in London.", "place", ["Wembley Stadium", "London"]),
        ("They met in Paris, France.", "place", ["Paris", "France"]),
        ("Talks between Moscow and the city of Pyongyang.", "place", ["Moscow", "Pyongyang"]),
        ("Anything at all.", "other", ["Anything at all."]),
    ],
)
def test_type_spans_positive(text: str, answer_type: AnswerType, expected: list[str]) -> None:
    assert _found(text, answer_type) == expected


@pytest.mark.parametrize(
    ("text", "answer_type"),
    [
        ("In 2021 the market grew.", "number"),  # a year is a date, not a number
        ("On March 11 and in the 19th century.", "number"),  # day and ordinal inside dates
        ("The soldiers may leave.", "date"),  # "may" the modal is not the month
        ("Reports indicate a rise. In March it fell.", "person"),  # sentence-initial common word, month
        ("Dozens attended.", "person"),
        ("the market grew quickly.", "place"),
        ("", "other"),
    ],
)
def test_type_spans_negative(text: str, answer_type: AnswerType) -> None:
    assert _found(text, answer_type) == []


def test_satisfies_conflicting_years() -> None:
    a = analyze_question("Where was the 2021 final held?")
    wrong = satisfies(a, "The 2022 final was held in Paris.")
    assert wrong.conflicting_years and wrong.constraints == 0.0
    right = satisfies(a, "The 2021 final was held at Wembley Stadium in London.")
    assert not right.conflicting_years and right.constraints == 1.0 and right.type_found
    assert not satisfies(a, "The final was held in London.").conflicting_years


def test_satisfies_restatement_adds_nothing() -> None:
    a = analyze_question("How many North Korean soldiers have been killed?")
    restated = satisfies(a, "North Korean soldiers have been killed.")
    assert not restated.type_found and restated.novel_terms <= 1
    answer = satisfies(a, "About 100 North Korean soldiers have been killed near Kursk.")
    assert answer.type_found and answer.novel_terms >= 1 and answer.constraints == 1.0


def test_satisfies_question_entity_is_not_an_answer() -> None:
    a = analyze_question("Who is the CEO of Acme?")
    assert not satisfies(a, "Acme has a CEO.").type_found
    assert satisfies(a, "Jane Doe is the CEO of Acme.").type_found


def test_satisfies_partial_constraints() -> None:
    a = analyze_question('Did "net zero" targets of Acme change in 2030?')
    s = satisfies(a, "Acme set a net zero target.")
    assert s.constraints == pytest.approx(2 / 3)
    assert not s.conflicting_years  # the text names no year at all


def test_satisfies_other_type_and_no_constraints() -> None:
    a = analyze_question("What did South Korea do in response?")
    assert satisfies(a, "South Korea summoned Russia's ambassador.").type_found
    same = satisfies(a, "What did South Korea do in response?")
    assert not same.type_found and same.novel_terms == 0
    assert satisfies(analyze_question("Why did it fail?"), "Costs rose.").constraints == 1.0


def test_module_docstring_example() -> None:
    assert doctest.testmod(question_module).failed == 0
