"""bubblewrap: the sandbox contract, and what its wall keeps out (host files, the network),
as root and as an ordinary user."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from conftest import eventually, take_stock
from contract import SandboxContract

from labkit import paths
from labkit.errors import LimitExceeded
from labkit.sandboxes import Limits, availability, bwrap, open_sandbox
from labkit.sandboxes.containers.bundle import HOSTNAME
from labkit.workload import expected

pytestmark = pytest.mark.usefixtures("nothing_left_behind")
FOUND = availability("bwrap", trial=False)
needs_bwrap = pytest.mark.skipif(not FOUND.available, reason=f"bwrap: {FOUND.reason}")
SPIN = "while :; do :; done"
# Doubles a string until the address-space cap refuses it, printing each size it reached.
GROW = 'x=a; while :; do x="$x$x"; echo ${#x}; done'


class TestBwrap(SandboxContract):
    kind = "bwrap"
    memory_range = (20_000, 20 * 2**20)  # three small processes: tens of KB to a few MB

    def spin(self, limits):
        with open_sandbox(self.kind, limits) as box:
            box.run_script(SPIN)

    def hog(self, limits):
        """RLIMIT_AS refuses growth: the guest dies of a failed allocation; what it held
        last is the last size it printed."""
        with open_sandbox(self.kind, limits) as box:
            run = box.run_script(GROW)
        assert run.returncode != 0 and "out of memory" in run.stderr, run
        return int(run.stdout.split()[-1])


@pytest.fixture(scope="module")
def box():
    if not FOUND.available:
        pytest.skip(f"bwrap: {FOUND.reason}")
    with open_sandbox("bwrap") as sandbox:
        yield sandbox


def test_host_files_are_not_there(box, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("host only")
    shared_tmp = tempfile.NamedTemporaryFile("w", dir="/tmp", suffix=".labkit-probe")
    with shared_tmp:
        shared_tmp.write("host tmp")
        shared_tmp.flush()
        run = box.run_script('ls /; for f in "$@"; do cat "$f" && echo "READ $f"; done; '
                             'echo x > /etc/new || echo "no write"; echo ok > /tmp/mine && '
                             'cat /tmp/mine', str(secret), shared_tmp.name, "/etc/passwd",
                             "/root/.bashrc")
    assert run.stdout.split()[:6] == ["bin", "dev", "etc", "labkit", "proc", "tmp"], run
    assert "READ" not in run.stdout and "host only" not in run.stdout, run
    assert "no write" in run.stdout and run.stdout.rstrip().endswith("ok"), run


def test_no_network_but_its_own_loopback(box):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        run = box.run_script('ip -o link | cut -d: -f2; hostname; '
                             'echo hi | nc -w 2 127.0.0.1 "$1" && echo CONNECTED', str(port))
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing arrived from inside
    assert run.stdout.split() == ["lo", HOSTNAME], run


def test_the_guest_has_no_capabilities_and_no_new_user_namespaces(box):
    run = box.run_script("grep Cap /proc/self/status; busybox unshare -U true 2>&1 "
                         "&& echo NESTED")
    lines = run.stdout.splitlines()
    caps = dict(line.split(":") for line in lines[:5])
    assert {value.strip() for value in caps.values()} == {"0000000000000000"}, caps
    assert "NESTED" not in run.stdout and "unshare" in lines[5], run  # refused, and said


def test_a_guest_that_signals_itself_is_not_the_cpu_cap(box):
    # SIGXCPU before a whole CPU second could have been spent: the guest's own doing.
    run = box.run_script("kill -XCPU $$")
    assert run.returncode == 128 + 24


def test_a_sleeping_guest_is_stopped_by_the_wall_clock_backstop():
    if not FOUND.available:
        pytest.skip(f"bwrap: {FOUND.reason}")
    limits = Limits(cpu_seconds=0.1)
    with open_sandbox("bwrap", limits) as box:
        with pytest.raises(LimitExceeded) as caught:
            box.run_script("sleep 30")
    assert caught.value.limit == "time"
    assert f"{limits.backstop_seconds(bwrap.SETUP_SECONDS):g} s wall clock" in str(caught.value)


def test_output_past_the_cap_stops_the_sandbox(box):
    with pytest.raises(LimitExceeded) as caught:
        box.run_script("yes")
    assert caught.value.limit == "output"


def _folder_nobody_cannot_enter(path) -> str:
    """The first folder on the way to `path` that others may not enter, or ""."""
    for folder in [*reversed(Path(path).resolve().parents), Path(path).resolve()]:
        if not os.stat(folder).st_mode & 0o001:
            return str(folder)
    return ""


@needs_bwrap
@pytest.mark.skipif(os.geteuid() != 0, reason="already an ordinary user: the contract "
                    "tests above ran as one")
def test_works_as_an_ordinary_user():
    """In a forked child that became uid 65534 (nobody): check, run, script, hold."""
    private = _folder_nobody_cannot_enter(paths.PROJECT_ROOT)
    if private:  # e.g. a fresh clone in a 0700 folder: nobody cannot read labkit's guests
        pytest.skip(f"uid 65534 cannot enter {private}, on the way to this checkout")
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.close(reader)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            os.environ.pop("XDG_RUNTIME_DIR", None)
            bwrap.namespaces_refused.cache_clear()
            found = availability("bwrap")
            with open_sandbox("bwrap") as box:
                answer = box.run_standard()
                who = box.run_script("id -u").stdout.strip()
                with box.hold(2) as held:
                    live = len(held)
            os.write(writer, f"{found.available} {answer} {who} {live}".encode())
            code = 0
        except BaseException as exc:  # report it to the parent, whatever it is
            os.write(writer, f"error {type(exc).__name__}: {exc}".encode())
        finally:
            os._exit(code)
    os.close(writer)
    with os.fdopen(reader) as pipe:
        said = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, said
    # Inside its own user namespace the guest is uid 65534 still: never root.
    assert said == f"True {expected()} 65534 2", said


def test_check_names_a_missing_bwrap_and_its_fix(monkeypatch):
    monkeypatch.setattr(bwrap, "bwrap_binary", lambda: None)
    found = bwrap.BwrapSandbox.check()
    assert not found.available and "not installed" in found.reason
    assert "apt-get install bubblewrap" in found.fix


def test_check_names_refused_namespaces_and_a_fix(monkeypatch):
    monkeypatch.setattr(bwrap, "bwrap_binary", lambda: "/usr/bin/bwrap")
    monkeypatch.setattr(bwrap, "namespaces_refused",
                        lambda binary, euid: "bwrap: No permissions to create new namespace")
    found = bwrap.BwrapSandbox.check()
    assert not found.available and "cannot create namespaces" in found.reason
    assert "No permissions" in found.reason and found.fix


def test_the_caps_are_set_inside(box):
    run = box.run_script("ulimit -t; ulimit -v; ulimit -n")
    cpu, memory_kb, files = run.stdout.split()
    assert int(cpu) == box.limits.cpu_rlimit
    assert int(memory_kb) == box.limits.memory_mb * 1024 and int(files) == 256


@needs_bwrap
def test_a_killed_labs_running_call_does_not_run_on():
    """When the lab is killed mid-call, its sandbox dies with it (parent-death signal)."""
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent("""
            from labkit.sandboxes import Limits, open_sandbox
            with open_sandbox("bwrap", Limits(cpu_seconds=300)) as box:
                box.run_script("while :; do :; done")
        """)], cwd=paths.PROJECT_ROOT)

    def running() -> set:
        return take_stock(pid=child.pid).found["processes named after us"]

    try:
        assert eventually(lambda: len(running()) >= 2, within=60), running()
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert eventually(lambda: not running(), within=30), running()
    bwrap.BwrapSandbox.sweep_leftovers()  # its root filesystem folder: the next start's job
