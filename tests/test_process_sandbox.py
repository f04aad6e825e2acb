"""The process baseline: the sandbox contract, and what only a plain process does."""

import json
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


@pytest.mark.parametrize("language, flood", [
    ("python", "def tool(input):\n    print('y' * 3_000_000)\n"),
    ("javascript", "function tool(input) { return 'y'.repeat(3e6); }"),
])
def test_a_tool_flooding_its_output_hits_the_output_cap(language, flood):
    with ProcessSandbox() as box, pytest.raises(LimitExceeded) as caught:
        box.run_tool(language, flood, "{}")
    assert caught.value.limit == "output", caught.value


@pytest.mark.parametrize("language, hog", [
    ("python", "def tool(input):\n    x = []\n    while True:\n        x.append(' ' * 10**6)\n"),
    ("javascript",
     "function tool(input) { const x = []; for (;;) x.push('a'.repeat(1e6) + x.length); }"),
])
def test_a_tool_hogging_memory_hits_the_memory_cap(language, hog):
    """node under RLIMIT_AS needs room for V8's reservations; its heap is what is capped."""
    with ProcessSandbox(Limits(memory_mb=64, cpu_seconds=20)) as box, \
            pytest.raises(LimitExceeded) as caught:
        box.run_tool(language, hog, "{}")
    assert caught.value.limit == "memory", caught.value


def test_a_tool_sees_a_clean_environment(monkeypatch):
    monkeypatch.setenv("LABKIT_SECRET_TOKEN", "hunter2")
    source = "import os\ndef tool(input):\n    return sorted(os.environ)\n"
    with ProcessSandbox() as box:
        names = json.loads(box.run_tool("python", source, "{}"))
    assert "LABKIT_SECRET_TOKEN" not in names and set(names) <= {"PATH", "LANG", "HOME",
                                                                 "LC_CTYPE"}
