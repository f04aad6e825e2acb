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


def check_prediction(guess, measured: float, within: float, name: str, why: str) -> Verdict:
    """Predict-then-measure: right if the guess, written before the live cell ran, is within
    a factor `within` of what was measured. The measurement is already on screen, so the
    verdict may name it; `why` explains what sets the value either way."""
    if within <= 1:
        raise ValueError(f"within is a factor above 1, got {within!r}")
    if guess is None or guess is ...:
        return Verdict(False, f"Not answered yet: replace the ... with your prediction of "
                              f"{name}, written down before you ran the measurement.")
    try:
        value = float(guess)
    except (TypeError, ValueError):
        return Verdict(False, f"{name} should be a number, got {guess!r}.")
    if value <= 0 or measured <= 0:
        return Verdict(False, f"{name} is a positive number; you predicted {value:,.6g}.")
    off = max(value / measured, measured / value)
    if off <= within:
        return Verdict(True, f"Right: you predicted {value:,.3g}, this machine measured "
                             f"{measured:,.3g} (within {within:g}x). {why}")
    direction = "high" if value > measured else "low"
    return Verdict(False, f"Not this time: you predicted {value:,.3g}, {off:,.1f}x too "
                          f"{direction} (measured {measured:,.3g}). {why}")


def check_explanation(answer, right: str, feedback: dict[str, str]) -> Verdict:
    """Explain-why as a choice: every option gets its own feedback, right or wrong, so a
    wrong pick teaches why it is wrong instead of only saying so."""
    if right not in feedback:
        raise ValueError(f"the right answer {right!r} must be one of the options")
    options = list(feedback)
    if answer is None or answer is ...:
        return Verdict(False, f"Not answered yet: replace the ... with one of {options}.")
    if answer not in feedback:
        return Verdict(False, f"Pick one of {options}, got {answer!r}.")
    if answer == right:
        return Verdict(True, f"Right: {feedback[answer]}")
    return Verdict(False, f"Not this one: {feedback[answer]}")
