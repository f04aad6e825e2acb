"""The process baseline, and the protocol every sandbox kind follows (shown on it)."""

import signal
import subprocess

import psutil
import pytest

from labkit.errors import LimitExceeded
from labkit.sandboxes import Limits, availability, open_sandbox
from labkit.sandboxes.process import _rlimits, shell_command
from labkit.workload import MAX_N, expected

pytestmark = pytest.mark.usefixtures("nothing_left_behind")


@pytest.fixture
def box():
    with open_sandbox("process") as sandbox:
        yield sandbox


def children():
    return psutil.Process().children(recursive=True)


def test_available_by_trial():
    found = availability("process")
    assert found.available, found.reason


@pytest.mark.parametrize("n", [0, 1, 2, 20, MAX_N])
def test_answers_match_the_host(box, n):
    assert box.run_standard(n) == expected(n)


@pytest.mark.parametrize("n", [-1, MAX_N + 1])
def test_refuses_inputs_out_of_range(box, n):
    with pytest.raises(ValueError, match="n must be between"):
        box.run_standard(n)


def test_cold_call_leaves_no_process(box):
    before = {p.pid for p in children()}
    box.run_standard()
    assert {p.pid for p in children()} == before


def test_hold_keeps_instances_alive_then_ends_them(box):
    with box.hold(5) as held:
        pids = [p.pid for p in held]
        assert all(psutil.pid_exists(pid) for pid in pids)
        assert box.footprint().processes == 5
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"
                   for pid in pids)


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_hold_ends_instances_after_an_exception(box, error):
    with pytest.raises(error):
        with box.hold(3) as held:
            pids = [p.pid for p in held]
            raise error()
    assert not any(psutil.pid_exists(pid) for pid in pids)


@pytest.mark.parametrize("count", [0, -5])
def test_hold_refuses_bad_counts(box, count):
    with pytest.raises(ValueError, match="count must be at least 1"):
        with box.hold(count):
            pass


def test_memory_per_instance_is_positive_and_small(box):
    per_instance = box.memory_per_instance(10)
    assert 1_000 < per_instance < 20e6  # a shell is kilobytes to a few MB, never zero


def test_time_cap_stops_a_slow_call():
    with open_sandbox("process", Limits(cpu_seconds=0.05)) as sandbox:
        sandbox._command = [*sandbox._command[:3], "while :; do :; done", "spin"]
        with pytest.raises(LimitExceeded, match="time"):
            sandbox.cold_call(1)


@pytest.mark.parametrize("field,value", [("cpu_seconds", 0), ("memory_mb", -1),
                                         ("pids", float("nan")), ("memory_mb", 10**9)])
def test_limits_refuse_bad_values(field, value):
    with pytest.raises(ValueError, match=f"Limits.{field}"):
        Limits(**{field: value})


def test_cpu_rlimit_ends_a_spinning_child_by_itself():
    # No timeout here: only RLIMIT_CPU (1 s of CPU) can end the loop, whatever the load.
    spin = subprocess.run([*shell_command(), "-c", "while :; do :; done"],
                          preexec_fn=_rlimits(Limits(cpu_seconds=1)), timeout=120)
    assert spin.returncode == -signal.SIGXCPU


def test_a_guest_ended_by_the_cpu_cap_reads_as_limit_exceeded(box):
    box._command = [*box._command[:3], "kill -XCPU $$", "spin"]
    with pytest.raises(LimitExceeded, match="CPU time"):
        box.cold_call(1)
