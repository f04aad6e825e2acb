"""Notebooks 00 to 06, their exercises: self-checks that say right or not, and a hint,
never the answer.

workshop/answer_key.py reads the calls to these checks to build the facilitator's key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import LabkitError


@dataclass(frozen=True)
class Verdict:
    """What a check returns: shown as its message, true when the answer is right.

    Defined in notebook 00 § Exercises
    """

    correct: bool
    message: str

    def __repr__(self) -> str:  # what a notebook cell shows
        return self.message

    def __bool__(self) -> bool:
        return self.correct


def check_number(answer, expected: float, hint: str, rel_tol: float = 0.02,
                 name: str = "your answer") -> Verdict:
    """Right if within rel_tol of expected; otherwise a hint (and how far off, not the value).

    Defined in notebook 00 § Exercises
    """
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
    """For answers that are not a single number: a condition the reader's work must meet.

    Defined in notebook 05 § Exercises
    """
    if condition:
        return Verdict(True, f"Right: {success}")
    return Verdict(False, f"Not yet. Hint: {hint}")


def check_choice(answer, expected: str, choices: list[str], hint: str) -> Verdict:
    """For multiple-choice questions: the answer must be one of the choices.

    Defined in notebook 01 § Exercises
    """
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
    verdict may name it; `why` explains what sets the value either way.

    Defined in notebook 00 § Exercises
    """
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
    wrong pick teaches why it is wrong instead of only saying so.

    Defined in notebook 00 § Exercises
    """
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


def check_export(box, source, export: str, cases: dict, hint: str) -> Verdict:
    """Run the reader's export in fresh isolates on each case (WAT in wasm, JS in V8).

    Defined in notebook 03 § Exercise 1: your own function in a fresh isolate

    `cases` maps an argument tuple to the right result. The verdict names the first case
    that fails (what came back, not what should have), or the error the module raised.
    """
    if source is None or source is ...:
        return Verdict(False, f"Not answered yet: write your WAT module first. Hint: {hint}")
    for args, right in cases.items():
        call = f"{export}({', '.join(map(str, args))})"
        try:
            got = box.call_export(source, export, *args)
        except (LabkitError, TypeError, ValueError) as exc:
            return Verdict(False, f"Not yet: {call} failed: {exc}. Hint: {hint}")
        if got != right:
            return Verdict(False, f"Not yet: {call} returned {got}, which is not right. "
                                  f"Hint: {hint}")
    return Verdict(True, f"Right: {export} gave the right answer in {len(cases)} fresh "
                         "isolates.")
