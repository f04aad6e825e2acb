"""Self-checks for the notebooks' exercises: right or not, and a hint, never the answer."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    correct: bool
    message: str

    def __repr__(self) -> str:  # what a notebook cell shows
        return self.message

    def __bool__(self) -> bool:
        return self.correct


def check_number(answer, expected: float, hint: str, rel_tol: float = 0.02,
                 name: str = "your answer") -> Verdict:
    """Right if within rel_tol of expected; otherwise a hint (and how far off, not the value)."""
    if answer is None or answer is ...:
        return Verdict(False, f"Not answered yet: replace the ... with {name}. Hint: {hint}")
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return Verdict(False, f"{name} should be a number, got {answer!r}. Hint: {hint}")
    if math.isclose(value, expected, rel_tol=rel_tol, abs_tol=1e-12):
        return Verdict(True, f"Right: {name} = {value:,.6g}.")
    direction = "too high" if value > expected else "too low"
    return Verdict(False, f"Not yet: {name} = {value:,.6g} is {direction}. Hint: {hint}")


def check_true(condition: bool, success: str, hint: str) -> Verdict:
    """For answers that are not a single number: a condition the reader's work must meet."""
    if condition:
        return Verdict(True, f"Right: {success}")
    return Verdict(False, f"Not yet. Hint: {hint}")


def check_choice(answer, expected: str, choices: list[str], hint: str) -> Verdict:
    """For multiple-choice questions: the answer must be one of the choices."""
    if answer is None or answer is ...:
        return Verdict(False, f"Not answered yet: replace the ... with one of {choices}. "
                              f"Hint: {hint}")
    if answer not in choices:
        return Verdict(False, f"Pick one of {choices}, got {answer!r}. Hint: {hint}")
    if answer == expected:
        return Verdict(True, f"Right: {answer}.")
    return Verdict(False, f"Not yet: {answer!r} is not it. Hint: {hint}")
