"""gVisor (runsc): the sandbox contract, the guest's own kernel, no network, and the
leftovers of a killed lab swept at the next start."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap

import pytest
from conftest import eventually, take_stock
from contract import SandboxContract

from labkit import paths
from labkit.sandboxes import availability, gvisor, open_sandbox

pytestmark = pytest.mark.usefixtures("nothing_left_behind")
FOUND = availability("gvisor", trial=False)
SPIN = "while :; do :; done"
HOG = 'x=$(yes | head -c 100000000); echo "survived ${#x}"'


class TestGvisor(SandboxContract):
    kind = "gvisor"
    # Each sandbox is gVisor's own kernel (Sentry), its gofer and the attached runsc run.
    memory_range = (2e6, 80 * 2**20)
    memory_count = 3
    hold_count = 2
    density_counts = (1, 2)

    def spin(self, limits):
        with open_sandbox(self.kind, limits) as box:
            box.run_script(SPIN)

    def hog(self, limits):
        with open_sandbox(self.kind, limits) as box:
            box.run_script(HOG)


@pytest.fixture(scope="module")
def box():
    if not FOUND.available:
        pytest.skip(f"gvisor: {FOUND.reason}")
    with open_sandbox("gvisor") as sandbox:
        yield sandbox


def test_the_guest_sees_gvisors_kernel_not_the_hosts(box):
    run = box.run_script("uname -r; dmesg")
    release, *log = run.stdout.splitlines()
    assert release != os.uname().release, run
    assert any("gVisor" in line for line in log), run


def test_no_network_but_its_own_loopback(box):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        run = box.run_script('ip -o link | cut -d: -f2; '
                             'echo hi | nc -w 2 127.0.0.1 "$1" && echo CONNECTED', str(port))
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing arrived from inside
    assert run.stdout.split() == ["lo"], run


def test_host_files_are_not_there(box, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("host only")
    run = box.run_script('for f in "$@"; do cat "$f" && echo "READ $f"; done; '
                         'echo x > /etc/new || echo "no write"', str(secret), "/etc/shadow")
    assert "READ" not in run.stdout and "no write" in run.stdout, run


def test_versions_say_platform_and_cgroups(box):
    found = box.versions()
    assert found["platform"] in gvisor.PLATFORMS and found["network"] == "none"
    assert found["runsc"].startswith("runsc version")


@pytest.mark.skipif(not FOUND.available, reason=f"gvisor: {FOUND.reason}")
def test_a_killed_labs_sandbox_is_swept_at_the_next_start(tmp_path):
    """A lab killed with SIGKILL while holding a sandbox leaves runsc state (and cgroups);
    the sweep every first open runs removes all of it, and no process of it lives on."""
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent("""
            import time
            from labkit.sandboxes import open_sandbox
            with open_sandbox("gvisor") as box:
                with box.hold(1):
                    print("holding", flush=True)
                    time.sleep(600)
        """)], stdout=subprocess.PIPE, text=True, cwd=paths.PROJECT_ROOT)
    try:
        assert child.stdout.readline().strip() == "holding"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
        child.stdout.close()

    def left() -> dict:
        stock = take_stock(pid=child.pid)
        return {what: names for what, names in stock.found.items()
                if names and what in ("containers", "cgroups", "processes named after us")}

    # runsc never learnt that its sandbox died: its state is still listed.
    assert left().get("containers"), "a SIGKILLed lab left no runsc state to sweep"
    gvisor.GvisorSandbox.sweep_leftovers()
    assert eventually(lambda: not left(), within=30), left()
    assert not [entry for entry in gvisor.state_folder().iterdir()
                if entry.name.startswith(f"labkit-{child.pid}-")]


@pytest.mark.skipif(not FOUND.available, reason=f"gvisor: {FOUND.reason}")
def test_a_killed_labs_running_call_does_not_run_on():
    """runsc does not stop a spinning guest by itself: when the lab is killed mid-call, its
    `runsc run` and sandbox must die with it, not spin until the next lab sweeps them."""
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent("""
            from labkit.sandboxes import Limits, open_sandbox
            with open_sandbox("gvisor", Limits(cpu_seconds=300)) as box:
                box.run_script("while :; do :; done")
        """)], cwd=paths.PROJECT_ROOT)

    def running() -> set:
        return take_stock(pid=child.pid).found["processes named after us"]

    try:
        assert eventually(lambda: len(running()) >= 3, within=60), running()
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert eventually(lambda: not running(), within=30), running()
    gvisor.GvisorSandbox.sweep_leftovers()  # its state and cgroups: the next start's job


def test_check_without_root_says_why_and_how(monkeypatch):
    monkeypatch.setattr(gvisor, "running_as_root", lambda: False)
    monkeypatch.setattr(gvisor.GvisorSandbox, "runtime_binary", classmethod(lambda cls: "/x"))
    found = gvisor.GvisorSandbox.check()
    assert not found.available and "nothing caps" in found.reason and "root" in found.fix


def test_check_names_a_missing_runsc_and_its_fix(monkeypatch):
    monkeypatch.setattr(gvisor.GvisorSandbox, "runtime_binary", classmethod(lambda cls: None))
    found = gvisor.GvisorSandbox.check()
    assert not found.available and "not installed" in found.reason
    assert "apt-get install runsc" in found.fix


def test_the_platform_comes_from_what_this_runsc_offers(monkeypatch):
    monkeypatch.setattr(gvisor, "platforms_of", lambda binary: ("ptrace", "kvm"))
    monkeypatch.setattr(gvisor.GvisorSandbox, "runtime_binary", classmethod(lambda cls: "/x"))
    assert gvisor.GvisorSandbox.platform() == "ptrace"
    monkeypatch.setattr(gvisor, "platforms_of", lambda binary: ("systrap", "ptrace", "kvm"))
    assert gvisor.GvisorSandbox.platform() == "systrap"
    monkeypatch.setattr(gvisor, "platforms_of", lambda binary: ("kvm",))
    assert gvisor.GvisorSandbox.platform() is None
