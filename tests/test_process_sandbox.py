"""The process baseline: the sandbox contract, and what only a plain process does."""

import signal
import subprocess

import pytest
from contract import SandboxContract

from labkit.errors import LimitExceeded
from labkit.sandboxes import Limits
from labkit.sandboxes.process import ProcessSandbox, _rlimits, shell_command


def _running(script: str, limits: Limits):
    """A process sandbox whose guest is `script` instead of labkit's fib (tests only)."""
    class Guest(ProcessSandbox):
        @classmethod
        def guest_script(cls) -> str:
            return script

    return Guest(limits)


class TestProcess(SandboxContract):
    kind = "process"
    memory_range = (1_000, 20e6)  # a shell: kilobytes to a few MB, never zero
    reads_host_files = ("a plain process shares the host's files; only rlimits bound it "
                        "(it is the baseline, not a sandbox)")

    def spin(self, limits):
        with _running("while :; do :; done", limits) as box:
            box.cold_call(1)

    def hog(self, limits):
        with _running('x=$(yes | head -c 100000000); echo "${#x}"', limits) as box:
            return box.cold_call(1)


def test_cpu_rlimit_ends_a_spinning_child_by_itself():
    # No timeout here: only RLIMIT_CPU (1 s of CPU) can end the loop, whatever the load.
    spin = subprocess.run([*shell_command(), "-c", "while :; do :; done"],
                          preexec_fn=_rlimits(Limits(cpu_seconds=1)), timeout=120)
    assert spin.returncode == -signal.SIGXCPU


def test_a_sleeping_guest_is_stopped_by_the_wall_clock_backstop():
    limits = Limits(cpu_seconds=0.1)
    with pytest.raises(LimitExceeded) as caught, _running("sleep 30", limits) as box:
        box.cold_call(1)
    assert caught.value.limit == "time", caught.value
    assert f"{limits.backstop_seconds(5):g} s wall clock" in str(caught.value)


def test_a_cpu_limit_below_a_second_is_a_whole_second_of_rlimit():
    assert Limits(cpu_seconds=0.5).cpu_rlimit == 1 and Limits(cpu_seconds=1.2).cpu_rlimit == 2
