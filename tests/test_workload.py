"""The workloads themselves: the tool call's input, the host's answer, the programs."""

import json

import pytest

from labkit.workload import (
    TOOL_LANGUAGES,
    check_tool_output,
    expected_tool_output,
    tool_input,
    tool_program,
    tool_source,
)


def _python_tool():
    """The Python guest's tool(), run here in-process (the guests are checked against the
    host's own answer, written apart)."""
    scope: dict = {}
    exec(tool_source("python"), scope)
    return scope["tool"]


def test_the_input_is_a_realistic_size_and_the_same_for_the_same_seed():
    first = tool_input(3)
    assert 10_000 <= len(first.encode()) <= 50_000
    assert tool_input(3) == first and tool_input(4) != first
    day = json.loads(first)
    assert len(day["records"]) == 200 and {"currency", "limit_cents", "date"} <= set(day)


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_the_python_guest_and_the_host_agree(seed):
    given = tool_input(seed)
    answer = _python_tool()(json.loads(given))
    assert check_tool_output(given, json.dumps(answer)) == expected_tool_output(given)


def test_the_answer_filters_and_aggregates():
    given = tool_input(0)
    day, right = json.loads(given), expected_tool_output(given)
    approved = [r for r in day["records"] if r["status"] == "approved"
                and r["currency"] == day["currency"]]
    assert 0 < right["count"] == len(approved) < len(day["records"])
    assert sum(right["by_department"].values()) == right["total_cents"]
    cents = [row["cents"] for row in right["top_spenders"]]
    assert len(cents) == 3 and cents == sorted(cents, reverse=True)
    assert right["over_limit"] == sorted(right["over_limit"]) and right["over_limit"]


def test_a_wrong_or_broken_answer_is_named():
    given = tool_input(0)
    wrong = expected_tool_output(given)
    wrong["total_cents"] += 1
    with pytest.raises(ValueError, match="differs from the host's in total_cents"):
        check_tool_output(given, json.dumps(wrong))
    with pytest.raises(ValueError, match="not JSON"):
        check_tool_output(given, "Traceback (most recent call last)")
    with pytest.raises(ValueError, match="returned list"):
        check_tool_output(given, "[]")


@pytest.mark.parametrize("language", TOOL_LANGUAGES)
def test_every_language_has_the_program_and_a_wrapper(language):
    source = tool_source(language)
    assert "tool" in source and "require(" not in source and "import " not in source
    program = tool_program(language, source)
    assert program.startswith(source) and "stdin" in program


def test_bad_languages_and_seeds_are_named():
    with pytest.raises(ValueError, match="valid ones are: javascript, python"):
        tool_source("ruby")
    with pytest.raises(ValueError, match="valid ones are"):
        tool_program("ruby", "x")
    with pytest.raises(ValueError, match="non-empty"):
        tool_program("python", "  ")
    with pytest.raises(TypeError, match="seed"):
        tool_input("1")


def test_workloads_are_named_and_checked():
    from labkit.sandboxes import open_sandbox, sandbox_class
    from labkit.workload import WORKLOADS, can_host, check_workload, workload_call

    assert WORKLOADS == ("fib", "tool-js", "tool-py")
    with pytest.raises(ValueError, match="unknown workload 'tool-rb'; valid ones are: fib, "
                                         "tool-js, tool-py"):
        check_workload("tool-rb")
    caps = sandbox_class("process").capabilities
    assert all(can_host(caps, w) for w in WORKLOADS)
    assert can_host(sandbox_class("wasm").capabilities, "tool-py")
    assert not can_host(sandbox_class("wasm").capabilities, "tool-js")
    with open_sandbox("process") as box:
        assert workload_call(box, "fib")() == 6765
        assert workload_call(box, "tool-py", seed=2)() == expected_tool_output(tool_input(2))


def test_a_wrong_tool_answer_is_a_guest_error():
    from labkit.errors import GuestError
    from labkit.workload import workload_call

    class Liar:
        kind = "liar"

        def run_tool(self, language, source, input_json):
            return json.dumps({"count": 0})

    with pytest.raises(GuestError, match="tool-js: the tool's answer differs"):
        workload_call(Liar(), "tool-js")()
