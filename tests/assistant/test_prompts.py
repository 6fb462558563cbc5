"""The strict prompt loader names what is missing or unexpected."""

import pytest

from prompts import PromptError, load_prompt


def test_render_fills_every_variable() -> None:
    text = load_prompt("answer_user").render(evidence="[1] x", question="why?")
    assert "[1] x" in text and "why?" in text


def test_missing_and_extra_variables_are_named() -> None:
    with pytest.raises(PromptError, match=r"missing \['question'\]"):
        load_prompt("answer_user").render(evidence="[1] x")
    with pytest.raises(PromptError, match=r"unexpected \['colour'\]"):
        load_prompt("condense").render(history="", question="q", colour="red")
    with pytest.raises(PromptError, match="no prompt file"):
        load_prompt("nope")
