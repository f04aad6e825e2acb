"""Hyperlight (Microsoft's micro-VMs for one function call): tried here, not a lab kind.

Hyperlight runs each guest in a tiny VM with no kernel and no devices, through a
hypervisor (KVM, mshv or Hyper-V). Its PyPI package `hyperlight-sandbox` (0.8.0) has a small
API: `Sandbox(backend="wasm", module="python_guest.path").run(code)` returns the guest's
stdout, stderr and exit code; the guests (CPython and a JavaScript engine compiled to
WebAssembly, about 60 MB each) come as the packages `hyperlight-sandbox-python-guest` and
`hyperlight-sandbox-javascript-guest`.

Why it is not a kind of the lab: its Python API has no timeout and no way to cancel a
call, so a guest that loops holds the calling thread until the whole process is killed;
and on the reference VM (nested KVM without hardware support) every guest fails at its
first VM exit ("Unknown KVM VCPU exit"), so none of a kind's promises (answers, caps,
cleanup) could be checked. `doctor` runs `trial()`: a real start, in a child process with
its own process group, killed at the time limit, that says what it found.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from dataclasses import dataclass

from . import _owned

PACKAGE = "hyperlight-sandbox"
INSTALL = "pip install 'hyperlight-sandbox[wasm,python-guest]==0.8.0'"
# What a machine needs for a guest to start at all.
NEEDS = ("a Linux machine with hardware virtualization exposed to it (/dev/kvm that the user "
         "may open, from a CPU with vmx or svm) or Windows with Hyper-V, and " + INSTALL)
TRIAL_SECONDS = 60
# The trial: one guest, one print. Run by the child; what it prints last is the verdict.
TRIAL = """
from hyperlight_sandbox import Sandbox
result = Sandbox(backend="wasm", module="python_guest.path").run("print(6 * 7)")
print("ANSWER", result.exit_code, result.stdout.strip(), flush=True)
"""


@dataclass(frozen=True)
class Trial:
    """What one real attempt to start a Hyperlight guest found."""

    started: bool  # a guest ran and printed the right answer
    reason: str  # what happened, in one line
    fix: str  # what a machine needs (empty when it started)


def kvm_state() -> str:
    """"" if /dev/kvm is there and this user may open it, else why not."""
    if not os.path.exists("/dev/kvm"):
        return "no /dev/kvm: this machine exposes no hardware virtualization"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return f"/dev/kvm is there but uid {os.geteuid()} may not open it (group kvm)"
    return ""


def run_bounded(argv: list[str], seconds: float) -> tuple[int | None, str]:
    """Run argv in its own process group; kill the whole group at `seconds`. Returns the
    exit code (None when killed at the limit) and stdout + stderr, capped at 64 KB."""
    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, start_new_session=True,
                             preexec_fn=_owned.die_with_parent())
    try:
        out, _ = child.communicate(timeout=seconds)
        return child.returncode, out.decode(errors="replace")[-65536:]
    except subprocess.TimeoutExpired:
        return None, ""
    finally:
        if child.poll() is None:
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            child.communicate()


def judge(returncode: int | None, output: str, seconds: float) -> Trial:
    """Turn what the trial child did into a verdict with its reason."""
    if returncode is None:
        return Trial(False, f"a Hyperlight guest did not finish within {seconds:g} s; the "
                            "trial was killed", NEEDS)
    if "ANSWER 0 42" in output:
        return Trial(True, "a Hyperlight guest started and answered here; labkit still has "
                           "no hyperlight kind: its Python API cannot stop a runaway guest "
                           "(no timeout, no cancel)", "")
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    last = lines[-1] if lines else f"exit {returncode}, no output"
    if "Unknown KVM VCPU exit" in output:
        cause = ("KVM here cannot run Hyperlight's guests (\"Unknown KVM VCPU exit\" at the "
                 "guest's first VM exit), as where KVM is nested without hardware support")
    elif "NoHypervisorFound" in output or "no hypervisor" in output.lower():
        cause = "Hyperlight found no hypervisor it can use"
    else:
        cause = f"the trial guest failed: {last[:200]}"
    return Trial(False, cause, NEEDS)


def trial(seconds: float = TRIAL_SECONDS) -> Trial:
    """Try to start one Hyperlight guest for real; never hangs, leaves nothing running."""
    if importlib.util.find_spec("hyperlight_sandbox") is None:
        return Trial(False, f"the PyPI package {PACKAGE} is not installed (an optional "
                            "extra; not a kind of this lab)", NEEDS)
    kvm = kvm_state()
    if kvm:
        return Trial(False, kvm, NEEDS)
    returncode, output = run_bounded([sys.executable, "-c", TRIAL], seconds)
    return judge(returncode, output, seconds)
