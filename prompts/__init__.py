"""Prompt templates live here as ``.txt`` files; ``load_prompt`` is strict about their variables.

Example::

    prompt = load_prompt("answer_user")
    prompt.render(evidence="[1] ...", question="...")   # KeyError-free: missing/extra names raise
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import cache
from importlib import resources


class PromptError(ValueError):
    pass


@dataclass(frozen=True)
class Prompt:
    name: str
    template: str

    @property
    def variables(self) -> frozenset[str]:
        return frozenset(f for _, f, _, _ in string.Formatter().parse(self.template) if f)

    def render(self, **values: str) -> str:
        missing = self.variables - values.keys()
        extra = values.keys() - self.variables
        if missing or extra:
            raise PromptError(
                f"prompt {self.name!r} needs {sorted(self.variables)}; missing {sorted(missing)}, unexpected {sorted(extra)}"
            )
        return self.template.format(**values)


@cache
def load_prompt(name: str) -> Prompt:
    try:
        text = (resources.files("prompts") / f"{name}.txt").read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise PromptError(f"no prompt file prompts/{name}.txt") from exc
    return Prompt(name, text.strip() + "\n")
