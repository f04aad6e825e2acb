"""The micro-VM kind: the sandbox contract, and what only a VM per call has to get right.

Every VM here boots for real (QEMU's microvm machine, the Debian kernel `python -m labkit
setup microvm` prepared). Emulated boots take seconds each, so counts stay small and
bounds generous; on a machine without QEMU or the boot files every test skips with the
doctor's reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time

import psutil
import pytest
from contract import CAP_SECONDS, SandboxContract

from labkit import paths, runtimes
from labkit.errors import GuestError, LimitExceeded
from labkit.sandboxes import Limits, availability, open_sandbox
from labkit.sandboxes.microvm import (
    EMULATED_WARNING,
    MAX_APPEND,
    MIN_RAM_MB,
    QEMU,
    MicrovmSandbox,
    _image,
    choose_accelerator,
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("nothing_left_behind")]


@pytest.fixture(scope="module", autouse=True)
def _runs_here():
    found = availability("microvm", trial=False)
    if not found.available:
        pytest.skip(f"microvm: {found.reason}")


# Doubles a string until something stops it: reaches hundreds of MB in a few steps.
HOG = "awk 'BEGIN { s = \"x\"; while (1) s = s s }'"


def _running(script: str, limits: Limits | None = None):
    """A micro-VM sandbox whose guest is `script` instead of labkit's fib (tests only)."""
    class Guest(MicrovmSandbox):
        @classmethod
        def guest_script(cls) -> str:
            return script

    return Guest(limits)


def _our_vms() -> list[psutil.Process]:
    """QEMU processes this test process started (their -name carries our pid)."""
    mark = f"labkit-{os.getpid()}-"
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if cmdline and os.path.basename(cmdline[0]) == QEMU and \
                any(word.startswith(mark) for word in cmdline):
            found.append(proc)
    return found


class TestMicrovm(SandboxContract):
    kind = "microvm"
    # A held VM: its guest RAM (96 MB, nearly all touched by the kernel), QEMU itself and,
    # emulated, the translation cache: tens to a few hundred MB, never kilobytes.
    memory_range = (30e6, 400e6)
    memory_count = 2
    hold_count = 2
    density_counts = (1, 2)

    def spin(self, limits):
        with _running("while :; do :; done", limits) as box:
            box.cold_call(1)

    def hog(self, limits):
        with _running(HOG, limits) as box:
            return box.cold_call(1)


def test_a_guest_that_fills_the_vms_ram_is_stopped_by_its_kernel():
    # At 96 MB the address-space cap (96 MB) is more than the RAM the guest kernel has
    # left, so its OOM killer acts first: a memory limit, on the console's evidence.
    with pytest.raises(LimitExceeded) as caught, \
            _running(HOG, Limits(memory_mb=MIN_RAM_MB, cpu_seconds=60)) as box:
        box.cold_call(1)
    assert caught.value.limit == "memory" and "OOM killer" in caught.value.detail


def test_the_accelerator_falls_back_to_emulation_when_the_kvm_trial_fails(monkeypatch):
    # A trial cut off after 10 ms fails on any machine, real KVM or not: what must follow
    # is software emulation, said so, with the trial's QEMU gone.
    monkeypatch.delenv("LABKIT_MICROVM_ACCEL", raising=False)
    started = time.monotonic()
    chosen = choose_accelerator(_image.load(), trial_seconds=0.01)
    assert time.monotonic() - started < CAP_SECONDS
    assert chosen.name == "tcg", chosen
    assert "/dev/kvm" in chosen.reason and "software emulation" in chosen.reason
    if os.access("/dev/kvm", os.R_OK | os.W_OK):
        assert "trial boot" in chosen.reason
    assert not _our_vms()


def test_a_wrong_accelerator_setting_is_named_by_the_check(monkeypatch):
    monkeypatch.setenv("LABKIT_MICROVM_ACCEL", "hvf")
    found = MicrovmSandbox.check()
    assert not found.available and "'hvf'" in found.reason and "kvm or tcg" in found.fix


def test_this_process_records_its_accelerator_and_warns_when_emulated():
    with open_sandbox("microvm") as box:
        versions = box.versions()
        assert versions["accelerator"] == box.accelerator.name in ("kvm", "tcg")
        assert versions["accelerator_reason"] == box.accelerator.reason
        assert (versions.get("warning") == EMULATED_WARNING) == (box.accelerator.name == "tcg")
        assert box.extra_figures(1) == {"emulated": int(box.accelerator.name == "tcg")}
        assert versions["kernel"].startswith("linux-image-") and versions["ram_mb"] == "96"


def test_a_guest_kernel_panic_is_an_error_not_a_hang():
    # QEMU exits 0 when the guest's kernel panics: the missing answer is what tells.
    started = time.monotonic()
    # (Printing the panic over an emulated serial port takes seconds: a roomy deadline.)
    with pytest.raises((GuestError, LimitExceeded)) as caught, \
            open_sandbox("microvm", Limits(cpu_seconds=60)) as box:
        box.run_script("echo c > /proc/sysrq-trigger; sleep 60")
    assert time.monotonic() - started < CAP_SECONDS
    if isinstance(caught.value, GuestError):  # the usual end: the panic read from the console
        assert "the VM stopped" in str(caught.value)
        assert "the guest kernel panicked" in str(caught.value)
    else:  # an emulated VM on a loaded machine may not finish printing it: still bounded
        assert caught.value.limit == "time"


def test_an_interrupt_mid_boot_leaves_no_vm_behind():
    def interrupt(signum, frame):
        raise KeyboardInterrupt("mid-boot")

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        with pytest.raises(KeyboardInterrupt), open_sandbox("microvm") as box:
            signal.setitimer(signal.ITIMER_REAL, 0.5)  # the VM is still booting then
            box.cold_call()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert not _our_vms()


def test_the_answer_comes_from_the_console_and_a_script_sees_a_vm():
    with open_sandbox("microvm") as box:
        run = box.run_script('echo "$1 $(uname -r)"; echo oops >&2; exit 3', "kernel")
    assert run.returncode == 3 and run.stderr == "oops\n"
    word, release = run.stdout.split()
    assert word == "kernel" and release != os.uname().release  # its own kernel, not ours


def test_memory_below_what_the_kernel_boots_in_is_raised_to_it():
    box = MicrovmSandbox(Limits(memory_mb=24))
    assert box.ram_mb == MIN_RAM_MB
    assert MicrovmSandbox(Limits(memory_mb=200)).ram_mb == 200
    assert f"at least {MIN_RAM_MB} MB" in MicrovmSandbox.capabilities.memory_cap


def test_a_script_too_long_for_the_kernel_command_line_is_refused_before_booting():
    with open_sandbox("microvm") as box:
        with pytest.raises(ValueError, match="kernel command line"):
            box.run_script("echo " + "x" * MAX_APPEND)
        with pytest.raises(ValueError, match="newline"):
            box.run_script("echo $1", "two\nlines")
        assert not _our_vms()


def test_setup_refuses_a_tampered_kernel(tmp_path, monkeypatch):
    copy = tmp_path / "microvm"
    shutil.copytree(_image.image_dir(), copy)
    kernel = copy / _image.KERNEL_FILE
    data = bytearray(kernel.read_bytes())
    data[len(data) // 2] ^= 0xFF
    kernel.write_bytes(bytes(data))
    with pytest.raises(_image.ImageMissing, match="sha256"):
        _image.load(copy)
    monkeypatch.setattr(paths, "RUNTIMES_DIR", tmp_path)
    found = MicrovmSandbox.check()
    assert not found.available and "sha256" in found.reason
    assert found.fix == _image.FIX


def test_the_initramfs_is_a_newc_archive_the_kernel_can_unpack():
    archive = _image.cpio_newc([("init", 0o100755, b"#!/bin/sh\n", (0, 0))])
    assert archive.startswith(b"070701") and len(archive) % 4 == 0
    assert b"init\0" in archive and archive.rstrip(b"\0").endswith(b"TRAILER!!!")


def test_a_leftover_vm_of_a_killed_lab_is_swept(tmp_path):
    # A QEMU named as a lab's whose owner is gone (pid 1's start time never matches).
    name = "labkit-1-t999999999-vm1"
    proc = psutil.Popen([QEMU, "-name", name, "-M", "microvm", "-accel", "tcg", "-m", "16",
                         "-nodefaults", "-no-user-config", "-display", "none", "-S"],
                        stdin=subprocess.DEVNULL)
    try:
        assert name in MicrovmSandbox.sweep_leftovers()
        assert proc.wait(timeout=30) is not None
    finally:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
        proc.wait(timeout=30)


def test_setup_says_the_boot_files_are_ready_without_fetching_again():
    (line,) = runtimes.setup(["microvm"])
    assert line.startswith("microvm: kernel linux-image-") and "are ready" in line
    assert "microvm" in runtimes.SETUP_PARTS


def test_the_accelerator_verdict_is_kept_for_this_boot_only(monkeypatch, tmp_path):
    """A second process (here: the module's cache emptied) reads the verdict instead of
    paying the trial boot again; another boot, QEMU or kernel decides afresh."""
    from types import SimpleNamespace

    import labkit.sandboxes.microvm as microvm

    trials = []

    def trial(files, trial_seconds=8):
        trials.append(files.kernel_version)
        return microvm.Accelerator("tcg", "a trial said so")

    monkeypatch.delenv("LABKIT_MICROVM_ACCEL", raising=False)
    monkeypatch.setattr(microvm, "choose_accelerator", trial)
    monkeypatch.setattr(microvm, "_verdict_file", lambda: tmp_path / "accelerator.json")
    monkeypatch.setattr(microvm, "_verdict", None)
    files = SimpleNamespace(kernel_version="6.1-test")
    assert microvm.accelerator(files).reason == "a trial said so"
    monkeypatch.setattr(microvm, "_verdict", None)
    again = microvm.accelerator(files)
    assert (again.name, len(trials)) == ("tcg", 1) and "earlier trial" in again.reason
    monkeypatch.setattr(microvm, "_verdict", None)
    microvm.accelerator(SimpleNamespace(kernel_version="6.2-other"))
    assert trials == ["6.1-test", "6.2-other"]
    monkeypatch.setattr(microvm, "_verdict", None)
    monkeypatch.setenv("LABKIT_MICROVM_ACCEL", "kvm")  # forced: never read from the file
    monkeypatch.setattr(microvm, "choose_accelerator",
                        lambda files: microvm.Accelerator("kvm", "forced"))
    assert microvm.accelerator(files).name == "kvm"
