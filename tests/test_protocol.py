"""The protocol's own pieces, apart from any one kind: the registry's families, Limits,
Capabilities, NotSupported's text, and a bug in a kind told apart from a missing runtime."""

from __future__ import annotations

import pytest

from labkit.errors import NotOpen, NotSupported
from labkit.sandboxes import (
    FAMILIES,
    KINDS,
    Capabilities,
    Limits,
    availability,
    kinds,
    open_sandbox,
    sandbox_class,
)
from labkit.sandboxes.base import Sandbox
from labkit.sandboxes.process import ProcessSandbox


# --- the registry ------------------------------------------------------------------------
def test_kinds_by_family_cover_the_registry_once_in_table_order():
    by_family = {family: kinds(family) for family in FAMILIES}
    assert sorted(k for found in by_family.values() for k in found) == sorted(KINDS)
    assert kinds() == list(KINDS)
    assert by_family["container"] == [k for k in KINDS if k in by_family["container"]]
    assert "runc" in by_family["container"] and "wasm" in by_family["isolate"]


def test_an_unknown_family_is_named():
    with pytest.raises(ValueError, match="unknown family 'vm'; valid ones are: isolate"):
        kinds("vm")


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_states_its_capabilities_and_family_as_data(kind):
    cls = sandbox_class(kind)  # importable here even where the runtime is missing
    assert isinstance(cls.capabilities, Capabilities)
    assert cls.capabilities.family == KINDS[kind][2]
    assert set(cls.live_counts) == {"quick", "full"}


def test_capabilities_refuse_what_they_cannot_mean():
    with pytest.raises(ValueError, match="family must be one of"):
        Capabilities(family="vm", cpu_cap="cpu-time", memory_cap="x")
    with pytest.raises(ValueError, match="cpu_cap must be"):
        Capabilities(family="process", cpu_cap="fuel", memory_cap="x")
    cpu = Capabilities(family="process", cpu_cap="cpu-time", memory_cap="x")
    wall = Capabilities(family="isolate", cpu_cap="wall-clock", memory_cap="x")
    assert (cpu.cpu_limit_name, wall.cpu_limit_name) == ("CPU time", "time")


# --- one error for each misuse -------------------------------------------------------------
def test_an_operation_a_kind_lacks_names_the_kinds_that_have_it():
    with open_sandbox("process") as box:
        with pytest.raises(NotSupported, match=r"the process sandbox has no call_export\(\) "
                                               r"\(exports\); kinds that do: wasm, v8"):
            box.call_export("(module)", "f")
        with pytest.raises(NotSupported, match="fresh_runtime.*kinds that do: v8$"):
            box.fresh_runtime()


def test_not_supported_comes_before_not_open():
    """What a kind lacks is a fact about the kind, whether or not it is open."""
    with pytest.raises(NotSupported):
        ProcessSandbox().run_script("true")
    with pytest.raises(NotOpen):
        ProcessSandbox().cold_call()


def test_a_tool_call_in_a_language_a_kind_cannot_host_is_not_supported():
    """run_tool is refused by language, before anything starts, open or not."""
    hosting = {kind: sandbox_class(kind).capabilities.tools for kind in KINDS}
    for kind, languages in hosting.items():
        if "cobol" in languages:
            raise AssertionError(kind)
    with pytest.raises(NotSupported, match=r"the process sandbox has no run_tool\(\) in "
                                           r"'cobol'; no kind here does"):
        ProcessSandbox().run_tool("cobol", "x", "{}")


def test_a_kind_that_lists_a_tool_language_must_implement_it():
    class Promises(ProcessSandbox):
        kind = "promises"
        capabilities = Capabilities(family="process", cpu_cap="cpu-time", memory_cap="none",
                                    tools=("python",))
        _run_tool = Sandbox._run_tool  # the base's, as a kind that never wrote its own

    box = Promises()
    with pytest.raises(NotOpen):
        box.run_tool("python", "def tool(x): return x", "{}")
    box._open = True
    with pytest.raises(NotImplementedError, match="lists tools .*python.* does not implement"):
        box.run_tool("python", "def tool(x): return x", "{}")


def test_a_new_kind_gets_the_not_open_check_without_writing_it():
    class Minimal(Sandbox):
        kind = "minimal"
        capabilities = Capabilities(family="process", cpu_cap="cpu-time", memory_cap="none")

        @classmethod
        def check(cls):
            return availability("process", trial=False)

        def cold_call(self, n=20):
            return 6765

        def hold(self, count, workload="fib"):
            raise NotImplementedError

        def footprint(self):
            raise NotImplementedError

    with pytest.raises(NotOpen, match="the minimal sandbox is not open"):
        Minimal().cold_call()
    with pytest.raises(NotOpen, match="the minimal sandbox is not open"):
        Minimal().run_standard()


# --- Limits ---------------------------------------------------------------------------------
@pytest.mark.parametrize("field, value, error", [
    ("cpu_seconds", 0, ValueError), ("cpu_seconds", float("inf"), ValueError),
    ("memory_mb", -1, ValueError), ("memory_mb", 0.5, ValueError),
    ("memory_mb", 10**9, ValueError), ("pids", float("nan"), ValueError),
    ("pids", 0.5, ValueError), ("pids", True, TypeError), ("cpu_seconds", "2", TypeError),
])
def test_limits_refuse_bad_values(field, value, error):
    with pytest.raises(error, match=f"Limits.{field}"):
        Limits(**{field: value})


def test_a_sandbox_refuses_limits_that_are_not_limits():
    with pytest.raises(TypeError, match="limits must be a Limits"):
        ProcessSandbox({"cpu_seconds": 1})


def test_the_cpu_cap_in_whole_seconds_and_its_backstop():
    assert Limits(cpu_seconds=0.5).cpu_rlimit == 1 and Limits(cpu_seconds=1.2).cpu_rlimit == 2
    assert Limits(cpu_seconds=2).backstop_seconds(10) == 14


# --- availability: a machine's state, or a bug in labkit --------------------------------------
def test_a_bug_in_a_kind_is_reported_as_one_with_its_traceback(monkeypatch):
    def buggy(self, n=20):
        return None + n  # a TypeError: labkit's fault, not the machine's

    monkeypatch.setattr(ProcessSandbox, "cold_call", buggy)
    with pytest.raises(TypeError):
        ProcessSandbox.available()  # the class never passes a bug off as "not available"
    found = availability("process")
    assert not found.available
    assert found.reason.startswith("checking process failed: TypeError: unsupported operand")
    assert "bug in labkit, not a state of this machine" in found.fix
    assert "Traceback" in found.traceback and "buggy" in found.traceback
    assert set(found.to_dict()) == {"kind", "available", "reason", "fix"}


def test_a_failing_runtime_is_a_reason_not_a_bug(monkeypatch):
    def broken(self, n=20):
        raise OSError(2, "No such file or directory", "/bin/sh")

    monkeypatch.setattr(ProcessSandbox, "cold_call", broken)
    found = availability("process")
    assert not found.available and found.traceback == ""
    assert found.reason.startswith("a trial run failed: [Errno 2] No such file")
