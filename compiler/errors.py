"""User mistakes as values: a SpecError names file:line:col, what is wrong and how to fix it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, order=True)
class Position:
    """A place in a spec file; line and column are 1-based, path is relative to the project."""

    path: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.path
        return f"{self.path}:{self.line}:{self.col}"


@dataclass(frozen=True)
class SpecError:
    where: Position
    message: str
    hint: str = ""
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        hint = f" (hint: {self.hint})" if self.hint else ""
        return f"{self.where}: {self.severity}: {self.message}{hint}"

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.where.path, self.where.line, self.where.col, self.message)


class SpecErrors(Exception):
    """Raised once, at the end of a stage, with every problem that stage found."""

    def __init__(self, problems: Iterable[SpecError]) -> None:
        self.problems = sorted(set(problems), key=SpecError.sort_key)
        super().__init__("\n".join(str(p) for p in self.problems))

    @property
    def errors(self) -> list[SpecError]:
        return [p for p in self.problems if p.severity == "error"]


def raise_if_errors(problems: Iterable[SpecError]) -> list[SpecError]:
    """Raise SpecErrors when any problem is an error; otherwise return the warnings."""
    problems = list(problems)
    if any(p.severity == "error" for p in problems):
        raise SpecErrors(problems)
    return problems


def suggest(name: str, choices: Iterable[str]) -> str:
    """A hint for an unknown name: the closest known one, else the list of them."""
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    if close:
        return f'did you mean "{close[0]}"?'
    return "known: " + ", ".join(choices) if choices else "define it first"
