"""Hyperlight is tried, not run: doctor says plainly why, quickly, and leaves nothing.

Only the unavailable path can be met on the reference VM (nested KVM without hardware
support), so these tests check what it says there, and that the trial is bounded: a child
that never answers is killed with its whole process group at the limit.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time

import pytest
from conftest import eventually, process_gone

from labkit import doctor
from labkit.sandboxes import KINDS, hyperlight

pytestmark = pytest.mark.usefixtures("nothing_left_behind")
# Generous: only a hung trial takes longer.
QUICK_SECONDS = 60


def test_the_trial_says_why_it_cannot_run_here_quickly():
    started = time.monotonic()
    found = hyperlight.trial()
    assert time.monotonic() - started < QUICK_SECONDS
    if found.started:  # a machine with real KVM and the package: it says it is not a kind
        assert "no hyperlight kind" in found.reason and not found.fix
        return
    assert found.reason and "/dev/kvm" in found.fix and hyperlight.INSTALL in found.fix
    if importlib.util.find_spec("hyperlight_sandbox") is None:
        assert found.reason.startswith("the PyPI package hyperlight-sandbox is not installed")
    elif hyperlight.kvm_state():
        assert found.reason == hyperlight.kvm_state()


def test_it_is_not_a_kind_of_the_lab():
    assert "hyperlight" not in KINDS


def test_a_child_that_never_answers_is_killed_with_its_group():
    # The child starts a grandchild in the same group, prints its pid, then hangs.
    code = ("import subprocess, sys, time\n"
            "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
            "print(g.pid, flush=True)\n"
            "time.sleep(600)\n")
    started = time.monotonic()
    returncode, output = hyperlight.run_bounded([sys.executable, "-c", code], 3)
    assert returncode is None and time.monotonic() - started < QUICK_SECONDS
    verdict = hyperlight.judge(returncode, output, 3)
    assert not verdict.started
    assert verdict.reason == "a Hyperlight guest did not finish within 3 s; the trial was killed"


def test_the_grandchild_of_a_killed_trial_is_gone_too(tmp_path):
    marker = tmp_path / "grandchild.pid"
    code = ("import subprocess, sys, time\n"
            "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
            f"open({str(marker)!r}, 'w').write(str(g.pid))\n"
            "time.sleep(600)\n")
    hyperlight.run_bounded([sys.executable, "-c", code], 3)
    assert eventually(lambda: process_gone(int(marker.read_text())))


@pytest.mark.parametrize("output, reason", [
    ("RuntimeError: Failed to create sandbox: failed to load Wasm runtime: Internal Hyperlight "
     "VM error: Initialize error: Failed to run vm: Unexpected VM exit: Unknown KVM VCPU exit: "
     "InternalError",
     "KVM here cannot run Hyperlight's guests (\"Unknown KVM VCPU exit\" at the guest's first "
     "VM exit), as where KVM is nested without hardware support"),
    ("ImportError: The Wasm backend is not installed.",
     "the trial guest failed: ImportError: The Wasm backend is not installed."),
    ("ANSWER 0 42", "a Hyperlight guest started and answered here; labkit still has no "
                    "hyperlight kind: its Python API cannot stop a runaway guest (no timeout, "
                    "no cancel)"),
])
def test_each_outcome_is_said_plainly(output, reason):
    """The words the package's 0.8.0 release prints (the first seen on this VM)."""
    assert hyperlight.judge(1 if "ANSWER" not in output else 0, output, 60).reason == reason


def test_doctor_prints_the_line():
    text = doctor.format_tried()
    assert text.startswith("hyperlight (tried; not a kind of this lab): ")
    assert "fix:" in text or "answered" in text


def test_the_doctor_command_line_shows_it():
    done = subprocess.run([sys.executable, "-m", "labkit", "doctor", "--kinds", "process"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "hyperlight (tried; not a kind of this lab): " in done.stdout
