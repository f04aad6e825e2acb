"""Predict-then-measure and explain-why self-checks: right within the stated tolerance,
wrong with a reason, and never silent about what was asked."""

import pytest

from labkit.lab.exercises import check_explanation, check_prediction


@pytest.mark.parametrize("guess, right", [(10, True), (3.4, True), (29, True),
                                          (3, False), (31, False), ("10", True)])
def test_a_prediction_is_right_within_the_factor(guess, right):
    verdict = check_prediction(guess, 10.0, within=3, name="start (ms)", why="because.")
    assert bool(verdict) is right
    assert "because." in repr(verdict)


def test_a_wrong_prediction_says_which_way_and_how_far():
    assert "10.0x too high" in repr(check_prediction(100, 10, 3, "x", "w"))
    assert "10.0x too low" in repr(check_prediction(1, 10, 3, "x", "w"))


@pytest.mark.parametrize("guess", [..., None])
def test_an_unanswered_prediction_asks_for_one(guess):
    verdict = check_prediction(guess, 10, 3, "the start time", "w")
    assert not verdict and "Not answered yet" in repr(verdict)


@pytest.mark.parametrize("guess", ["ten", 0, -4])
def test_a_prediction_that_is_not_a_positive_number_is_refused(guess):
    assert not check_prediction(guess, 10, 3, "x", "w")


def test_the_tolerance_must_be_a_factor_above_one():
    with pytest.raises(ValueError, match="within"):
        check_prediction(5, 10, 1, "x", "w")


FEEDBACK = {"a": "a is right because.", "b": "b confuses X with Y.", "c": "c ignores Z."}


@pytest.mark.parametrize("answer", ["b", "c"])
def test_a_wrong_explanation_gets_its_own_feedback(answer):
    verdict = check_explanation(answer, "a", FEEDBACK)
    assert not verdict and FEEDBACK[answer] in repr(verdict)
    assert FEEDBACK["a"] not in repr(verdict)


def test_the_right_explanation_is_accepted_with_its_reason():
    verdict = check_explanation("a", "a", FEEDBACK)
    assert verdict and "a is right because." in repr(verdict)


def test_an_explanation_outside_the_options_or_missing_is_not_accepted():
    assert "Pick one of" in repr(check_explanation("d", "a", FEEDBACK))
    assert "Not answered yet" in repr(check_explanation(..., "a", FEEDBACK))
    with pytest.raises(ValueError):
        check_explanation("a", "z", FEEDBACK)
