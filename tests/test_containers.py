"""Real containers (runc, crun): the workload, what they keep out, their caps, cleanup.

Every test that starts containers runs them for real; on a machine where a runtime is
missing or not permitted (not root, Binder) those tests skip with the doctor's reason.
After each test, nothing labkit made may remain: no container, process, cgroup, mount or
temporary bundle (the shared leak check in conftest.py).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import assert_nothing_new, eventually, notebook_texts, process_gone
from contract import SandboxContract

from labkit import paths
from labkit.devtools import nbval_compare
from labkit.errors import GuestError, LabkitError, LimitExceeded, Unavailable
from labkit.sandboxes import _owned, availability, containers, open_sandbox
from labkit.sandboxes.base import Limits
from labkit.sandboxes.containers import bundle, managers, runtime
from labkit.workload import expected

pytestmark = pytest.mark.usefixtures("nothing_left_behind")

OCI_KINDS = ["runc", "crun"]
# Podman and Docker run the same tests where they run (CI installs both and starts a private
# dockerd for the tests: .ci/run).
TESTED_KINDS = [*OCI_KINDS, "podman", "docker"]
SPIN = "while :; do :; done"
HOG = 'x=$(yes | head -c 100000000); echo "survived ${#x}"'


class ContainerContract(SandboxContract):
    """The contract, for a container kind: its guests are shell scripts."""

    memory_range = (50_000, 20 * 2**20)  # 50 KB to 20 MiB per live container
    memory_count = 4

    def spin(self, limits):
        with open_sandbox(self.kind, limits) as box:
            box.run_script(SPIN)

    def hog(self, limits):
        with open_sandbox(self.kind, limits) as box:
            box.run_script(HOG)


class TestRunc(ContainerContract):
    kind = "runc"


class TestCrun(ContainerContract):
    kind = "crun"


class TestPodman(ContainerContract):
    kind = "podman"

    # A known gap, kept visible: podman's container is not our descendant, so the CPU time
    # it used is not in RUSAGE_CHILDREN, the evidence common._check_limits_exit asks for;
    # the ulimit's SIGKILL then reads as the guest's own exit 137. strict: passes once fixed.
    @pytest.mark.xfail(strict=True, reason="podman's CPU-cap kill reads as exit 137: no "
                       "CPU-time evidence for a container that is not our descendant")
    def test_the_cpu_cap_stops_a_runaway_loop(self, _runs_here):
        super().test_the_cpu_cap_stops_a_runaway_loop(_runs_here)

    # The same gap for a runaway tool: stopped by the ulimit, read as the tool's exit 137.
    @pytest.mark.xfail(strict=True, raises=GuestError, reason="podman's CPU-cap kill reads "
                       "as exit 137: no CPU-time evidence for a container that is not our "
                       "descendant")
    @pytest.mark.parametrize("language", ["javascript", "python"])
    def test_a_runaway_tool_is_stopped_by_the_cpu_cap(self, _runs_here, language):
        super().test_a_runaway_tool_is_stopped_by_the_cpu_cap(_runs_here, language)


class TestDocker(ContainerContract):
    kind = "docker"


FOUND = {kind: availability(kind, trial=False) for kind in TESTED_KINDS}


def needs(kind):
    found = FOUND[kind]
    return pytest.mark.skipif(not found.available, reason=f"{kind}: {found.reason}")


oci_kinds = pytest.mark.parametrize("kind", [pytest.param(k, marks=needs(k)) for k in OCI_KINDS])
all_kinds = pytest.mark.parametrize("kind", [pytest.param(k, marks=needs(k))
                                             for k in TESTED_KINDS])


def dead_pid() -> int:
    """A pid no process can have: above the kernel's pid_max (a finished child's pid could
    be reused before the test looks)."""
    return int(Path("/proc/sys/kernel/pid_max").read_text()) + 1


@pytest.fixture(scope="module", params=[pytest.param(k, marks=needs(k)) for k in TESTED_KINDS])
def box(request):
    """One open sandbox per kind for the module: building the rootfs once keeps it quick."""
    with open_sandbox(request.param) as sandbox:
        yield sandbox


# --- the workload ----------------------------------------------------------------------
def test_each_call_is_a_fresh_container(box):
    first = box.run_script("echo $$ > /tmp/mark; ls /tmp")
    second = box.run_script("ls /tmp")
    assert "mark" in first.stdout
    assert "mark" not in second.stdout


# --- what a container keeps out ----------------------------------------------------------
def test_cannot_see_host_processes(box):
    marker = subprocess.Popen(["sleep", "31.4159"])
    try:
        seen = box.run_script("ps -o pid,args; echo; ls /proc").stdout
    finally:
        marker.kill()
        marker.wait()
    assert "31.4159" not in seen
    pids = [name for name in seen.split() if name.isdigit()]
    assert str(os.getpid()) not in seen.split("\n\n")[0]
    assert "1" in pids  # the container's shell is pid 1 in its own namespace
    assert len({p for p in seen.split("\n\n")[1].split() if p.isdigit()}) <= 4


def test_own_hostname_and_only_loopback(box):
    out = box.run_script("hostname; cat /proc/net/dev").stdout
    assert out.splitlines()[0] == bundle.HOSTNAME != socket.gethostname()
    interfaces = [line.split(":")[0].strip() for line in out.splitlines()[3:]]
    assert interfaces == ["lo"]


def test_cannot_reach_a_host_loopback_socket(box):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(0.5)
        port = listener.getsockname()[1]
        out = box.run_script('nc 127.0.0.1 "$1" </dev/null && echo CONNECTED || echo REFUSED;'
                             'wget -q -T 1 -O - "http://127.0.0.1:$1/" || echo NO-HTTP',
                             str(port)).stdout
        with pytest.raises(socket.timeout):
            listener.accept()  # nothing from the container ever arrived
    assert "REFUSED" in out and "NO-HTTP" in out and "CONNECTED" not in out


def test_cannot_write_its_root_filesystem(box):
    result = box.run_script("echo pwned > /labkit/fib.sh; echo $?; echo ok > /tmp/t; cat /tmp/t")
    assert "Read-only file system" in result.stderr
    assert result.stdout.split() == ["1", "ok"]  # the write failed; /tmp (in memory) works
    if box.kind in OCI_KINDS:  # runc and crun: the very folder on the host is unchanged
        assert "pwned" not in (Path(box._rootfs.path) / "labkit" / "fib.sh").read_text()


def test_has_no_capabilities(box):
    out = box.run_script("grep Cap /proc/self/status; grep NoNewPrivs /proc/self/status")
    caps = dict(line.split(":") for line in out.stdout.splitlines())
    assert int(caps["CapEff"], 16) == 0 and int(caps["CapBnd"], 16) == 0
    assert caps["NoNewPrivs"].strip() == "1"


# --- caps -------------------------------------------------------------------------------
@all_kinds
def test_fork_bomb_is_contained(kind):
    with open_sandbox(kind, Limits(pids=8, cpu_seconds=2)) as capped:
        with pytest.raises(LimitExceeded) as caught:
            capped.run_script("bomb() { bomb | bomb & }; bomb; sleep 1; echo escaped")
    # The pids cap stopped it, not the wall-clock timeout (which would say "time").
    assert caught.value.limit == "process"


# --- cleanup ----------------------------------------------------------------------------
def test_interrupt_mid_call_leaves_nothing(box, nothing_left_behind, places):
    def interrupt(*_):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.5)
    try:
        with pytest.raises(KeyboardInterrupt):
            box.run_script("sleep 5")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert_nothing_new(nothing_left_behind, places, managers=True)


@oci_kinds
def test_leftovers_of_a_killed_kernel_are_removed(kind, tmp_path):
    gone = dead_pid()  # the "killed kernel"
    stale_id = f"{_owned.PREFIX}{gone}-1"
    stale_dir = Path(tempfile.gettempdir()) / f"{_owned.BUNDLE_PREFIX}{gone}-x"
    stale_dir.mkdir()
    with open_sandbox(kind) as first:
        bundle = first._bundle(["/bin/sleep", "60"])
        subprocess.run([*first.runtime_command, "run", "--detach", "--bundle", str(bundle),
                        stale_id],
                       check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        assert Path(first.state_root, stale_id).exists()
        # The next sandbox to open cleans up, exactly as after a kernel restart.
        with open_sandbox(kind) as second:
            assert not Path(second.state_root, stale_id).exists()
    assert not stale_dir.exists()


@oci_kinds
def test_a_kernel_killed_while_holding_leaves_nothing_after_the_next_start(kind):
    """kill -9 a Python process holding containers, as a crashed Jupyter kernel would be."""
    code = ("import sys; from labkit.sandboxes import open_sandbox\n"
            f"box = open_sandbox({kind!r}).__enter__(); held = box.hold(3); held.__enter__()\n"
            "print(' '.join(str(p) for p in box._held.values()), flush=True)\n"
            "sys.stdin.read()")
    kernel = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    pids = [int(p) for p in kernel.stdout.readline().split()]
    assert len(pids) == 3
    kernel.kill()
    kernel.wait()
    kernel.stdin.close()
    kernel.stdout.close()
    dead = f"{_owned.PREFIX}{kernel.pid}-"
    with open_sandbox(kind) as box:
        assert not [name for name in box.list_containers() if name.startswith(dead)]
    assert eventually(lambda: all(process_gone(p) for p in pids))
    assert not list(Path(tempfile.gettempdir()).glob(f"{_owned.BUNDLE_PREFIX}{kernel.pid}-*"))


@needs("podman")
def test_podman_leftovers_of_a_killed_kernel_are_removed():
    stale = f"{_owned.PREFIX}{dead_pid()}-1"
    with open_sandbox("podman") as first:
        subprocess.run([*first._cli(), "run", "--detach", *first._container_args(stale),
                        first.image, "/bin/sleep", "60"], check=True, capture_output=True)
        assert stale in first.list_containers()
        with open_sandbox("podman") as second:
            assert stale not in second.list_containers()


@needs("docker")
def test_docker_leftovers_of_a_killed_kernel_are_removed_with_their_cgroups():
    stale = f"{_owned.PREFIX}{dead_pid()}-1"
    with open_sandbox("docker") as first:
        subprocess.run([*first._cli(), "run", "--detach", *first._container_args(stale),
                        first.image, "/bin/sleep", "60"], check=True, capture_output=True)
        assert stale in first.list_containers()
        with open_sandbox("docker") as second:
            assert stale not in second.list_containers()
    assert not [top for top in managers.cgroup_tops() if (top / stale).exists()]


@needs("docker")
def test_docker_a_kernel_killed_while_holding_leaves_nothing_after_the_next_start():
    """kill -9 a Python process holding Docker containers: the daemon keeps them running
    (they are not the kernel's children); the next sandbox to open removes them."""
    code = ("import sys; from labkit.sandboxes import open_sandbox\n"
            "box = open_sandbox('docker').__enter__(); held = box.hold(3); held.__enter__()\n"
            "print(' '.join(box._held), flush=True)\n"
            "sys.stdin.read()")
    kernel = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    names = kernel.stdout.readline().split()
    assert len(names) == 3
    kernel.kill()
    kernel.wait()
    kernel.stdin.close()
    kernel.stdout.close()
    assert set(names) <= set(managers.DockerSandbox().list_containers())  # still running
    with open_sandbox("docker") as box:  # opening removes them
        assert not set(names) & set(box.list_containers())
    assert not [top for top in managers.cgroup_tops() for name in names
                if (top / name).exists()]
    assert not list(Path(tempfile.gettempdir()).glob(f"{_owned.BUNDLE_PREFIX}{kernel.pid}-*"))


@needs("docker")
def test_docker_tmp_is_the_same_as_runcs():
    """Docker mounts a --tmpfs noexec unless told; runc's and Podman's /tmp run programs
    (the seccomp probes do), still without setuid or devices."""
    with open_sandbox("docker") as box:
        mount = box.run_script("grep ' /tmp ' /proc/mounts").stdout.split()
    options = mount[3].split(",")
    assert "noexec" not in options and {"nosuid", "nodev", "size=8192k"} <= set(options)


@needs("docker")
def test_docker_cpu_evidence_comes_from_the_containers_own_cgroup():
    """A guest's own `exit 137` is its exit, not the CPU cap; a real runaway is the cap."""
    with open_sandbox("docker", Limits(cpu_seconds=1)) as box:
        assert box.run_script("exit 137").returncode == 137
        with pytest.raises(LimitExceeded) as caught:
            box.run_script(SPIN)
    assert caught.value.limit == "CPU time"


# --- bad input and missing runtimes ------------------------------------------------------
def test_unknown_runtime_is_named():
    with pytest.raises(ValueError, match="unknown kind 'kata'.*runc"):
        open_sandbox("kata")
    if FOUND["runc"].available:
        with pytest.raises(Unavailable, match="no runc runtime at /nonexistent/runc"):
            with containers.RuncSandbox(runtime="/nonexistent/runc"):
                pass


@needs("runc")
def test_an_empty_script_is_refused(box):
    with pytest.raises(ValueError, match="non-empty"):
        box.run_script("  ")


@needs("runc")
def test_missing_rootfs_is_named(tmp_path):
    missing = tmp_path / "no-such-rootfs"
    with pytest.raises(LabkitError, match=f"no root filesystem at {missing}"):
        with containers.RuncSandbox(rootfs=missing):
            pass
    (tmp_path / "empty").mkdir()
    with pytest.raises(LabkitError, match="lacks bin/sh"):
        with containers.RuncSandbox(rootfs=tmp_path / "empty"):
            pass


@needs("runc")
def test_a_given_rootfs_and_the_host_binaries_fallback_both_run(tmp_path):
    bundle.build_rootfs(tmp_path / "mine")
    with containers.RuncSandbox(rootfs=tmp_path / "mine") as box:
        assert box.run_standard() == expected()
    host = bundle.build_rootfs(tmp_path / "host", use_host=True)
    assert host.source.startswith("host binaries") and "/usr" in host.host_binds
    with containers.RuncSandbox(rootfs=tmp_path / "host") as box:
        assert box.run_standard() == expected()
        result = box.run_script("touch /usr/pwned 2>&1; echo $?")
        assert result.stdout.split()[-1] != "0"
    assert not Path("/usr/pwned").exists()


def test_not_root_says_so(monkeypatch):
    monkeypatch.delenv(containers.DISABLE_ENV, raising=False)  # that check comes first
    monkeypatch.setattr(runtime, "running_as_root", lambda: False)
    monkeypatch.setattr(containers.OciSandbox, "runtime_binary", classmethod(lambda c: "/x"))
    for kind in OCI_KINDS:
        found = availability(kind)
        assert not found.available
        assert found.reason.startswith(f"{kind} needs root (or a rootless setup)")
        assert "root" in found.fix and "recorded" in found.fix


NOBODY = 65534


def as_nobody(code: str) -> subprocess.CompletedProcess:
    """Run Python code as uid/gid 65534 (nobody), with a bare environment."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent",
           "LANG": "C.UTF-8"}
    return subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
                           "--clear-groups", sys.executable, "-c", code],
                          capture_output=True, text=True, timeout=60, cwd="/", env=env)


def nobody_cannot_run_the_lab() -> str:
    """Why uid 65534 cannot run this checkout's Python, or "" if it can."""
    if os.geteuid() != 0:
        return "needs root to switch to an unprivileged user"
    if shutil.which("setpriv") is None:
        return "setpriv (util-linux) is not installed"
    tried = as_nobody("import labkit.doctor")
    if tried.returncode != 0:  # e.g. the checkout or the venv sits in a 0700 folder
        last = (tried.stderr.strip().splitlines() or ["no output"])[-1]
        return (f"uid {NOBODY} cannot use this checkout ({paths.PROJECT_ROOT}) with its "
                f"Python ({sys.executable}); is a folder on the way private (0700)? {last}")
    return ""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to an unprivileged user")
def test_really_unprivileged_user_gets_reasons_not_crashes():
    why_not = nobody_cannot_run_the_lab()
    if why_not:
        pytest.skip(why_not)
    code = ("import json; from labkit.doctor import check_all; kinds = "
            "['runc', 'crun', 'podman', 'docker'];"
            "print(json.dumps([a.to_dict() for a in check_all(kinds)]))")
    podman_dir = Path(tempfile.gettempdir()) / f"containers-user-{NOBODY}"  # podman info
    existed = podman_dir.exists()
    try:
        done = as_nobody(code)
    finally:
        if not existed:
            shutil.rmtree(podman_dir, ignore_errors=True)
    assert done.returncode == 0, done.stderr
    found = {item["kind"]: item for item in json.loads(done.stdout)}
    for kind in ("runc", "crun"):
        if FOUND[kind].available:
            assert not found[kind]["available"]
            assert "needs root" in found[kind]["reason"], found[kind]
    for kind in ("podman", "docker"):  # rootless podman may work; if not, it says why
        assert found[kind]["available"] or (found[kind]["reason"] and found[kind]["fix"])


def test_switched_off_by_environment(monkeypatch):
    monkeypatch.setenv(containers.DISABLE_ENV, "1")
    for kind in ("runc", "crun", "podman", "docker"):
        found = availability(kind)
        assert not found.available and containers.DISABLE_ENV in found.reason


def test_missing_cli_managers_explain_themselves(monkeypatch):
    monkeypatch.delenv(containers.DISABLE_ENV, raising=False)
    monkeypatch.setattr(managers.shutil, "which", lambda name: None)
    monkeypatch.setattr(managers.os, "access", lambda path, mode: False)
    for kind in ("podman", "docker"):
        found = availability(kind)
        assert not found.available
        assert found.reason == f"{kind} is not installed" and found.fix


def test_docker_without_a_daemon_says_why(monkeypatch):
    monkeypatch.delenv(containers.DISABLE_ENV, raising=False)
    monkeypatch.setattr(containers.DockerSandbox, "runtime_binary", classmethod(lambda c: "/d"))
    monkeypatch.setattr(managers, "run_quiet", lambda cmd, **_: subprocess.CompletedProcess(
        cmd, 1, "", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock."))
    found = availability("docker")
    assert not found.available
    assert found.reason.startswith("the docker CLI is installed but no daemon answers")
    assert "dockerd" in found.fix


# What Debian's docker 20.10 client prints, word for word, for each way it cannot connect:
# its error on stdout after "Server:", a last word on stderr.
NO_DAEMON = ("Client:\n Context:    default\n\nServer:\nERROR: Cannot connect to the Docker "
             "daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n")
NO_ACCESS = ("Client:\n Context:    default\n\nServer:\nERROR: permission denied while trying "
             "to connect to the Docker daemon socket at unix:///var/run/docker.sock: Get "
             "\"http://%2Fvar%2Frun%2Fdocker.sock/v1.24/info\": dial unix "
             "/var/run/docker.sock: connect: permission denied\n")


@pytest.mark.parametrize("said, reason, fix", [
    (NO_DAEMON, "the docker CLI is installed but no daemon answers (`docker info` failed: "
                "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the "
                "docker daemon running?)",
     "start dockerd (sudo systemctl start docker) and run as root or a member of the docker "
     "group; " + managers.NOT_HERE_FIX),
    (NO_ACCESS, "dockerd runs, but this user (uid {uid}) may not use its socket "
                "unix:///var/run/docker.sock: permission denied (not root, not in the docker "
                "group)",
     "run the lab as root, or add the user to the docker group (sudo usermod -aG docker "
     "$USER, then log in again; that group is as strong as root); "
     + managers.NOT_HERE_FIX),
])
def test_docker_reason_and_fix_are_exact(monkeypatch, said, reason, fix):
    monkeypatch.delenv(containers.DISABLE_ENV, raising=False)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr(containers.DockerSandbox, "runtime_binary", classmethod(lambda c: "/d"))
    monkeypatch.setattr(managers, "run_quiet", lambda cmd, **_: subprocess.CompletedProcess(
        cmd, 1, said, "errors pretty printing info\n"))
    found = availability("docker")
    assert (found.available, found.reason, found.fix) == \
        (False, reason.format(uid=os.geteuid()), fix)


@needs("docker")
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to an unprivileged user")
def test_docker_a_user_who_may_not_use_the_socket_is_told_so():
    """For real: the daemon the tests use, asked by uid 65534 (not in the docker group)."""
    why_not = nobody_cannot_run_the_lab()
    if why_not:
        pytest.skip(why_not)
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    code = ("import json, os; os.environ['DOCKER_HOST'] = " + repr(host) + "\n"
            "from labkit.sandboxes import availability\n"
            "print(json.dumps(availability('docker').to_dict()))")
    done = as_nobody(code)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert not found["available"]
    assert found["reason"].startswith(f"dockerd runs, but this user (uid {NOBODY}) may not "
                                      f"use its socket {host}: permission denied"), found
    assert "docker group" in found["fix"]


@needs("runc")
def test_bench_cli_reports_every_kind():
    done = subprocess.run([sys.executable, "-m", "labkit", "bench", "--kinds",
                           "runc,crun,podman,docker,process", "--json", "--n", "5",
                           "--warmup", "1", "--live", "5"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    results = {r["kind"]: r for r in json.loads(done.stdout)}
    assert list(results) == ["runc", "crun", "podman", "docker", "process"]
    for kind, result in results.items():
        if result.get("available", True):
            assert result["n"] == 5 and 0 < result["start_ms_p50"] <= result["start_ms_p99"]
            assert result["per_second"] > 0 and result["mem_mb_per_instance"] > 0
            assert result["recorded"] is False and result["machine"]["cores"] >= 1
        else:
            assert result["reason"] and result["fix"], kind
    assert results["runc"]["available"]


# --- the notebook's recording and its fallback ----------------------------------------------
def test_recording_is_labelled_with_its_machine():
    from labkit.lab import containers as containers_lab

    recording = containers_lab.load()
    assert recording["source"].startswith("recorded ")
    assert recording["machine"]["cores"] >= 1 and recording["machine"]["cpu"]
    assert recording["tour"]["hostname"] == bundle.HOSTNAME
    assert {"runc", "crun"} <= set(recording["samples_ms"]) and recording["density"]["runc"]
    assert "cores" in containers_lab.describe_machine(recording["machine"])


def test_notebook_without_containers_says_so_and_shows_the_recording(monkeypatch):
    """Run notebook 04 with containers switched off: it says so plainly, shows recorded
    numbers, and every cell not marked as varying prints exactly what the live run did."""
    import nbformat
    from nbclient import NotebookClient

    path = paths.PROJECT_ROOT / "notebooks" / "04_containers_up_close.ipynb"
    stored = nbformat.read(path, as_version=4)
    monkeypatch.setenv(containers.DISABLE_ENV, "1")
    fresh = nbformat.read(path, as_version=4)
    NotebookClient(fresh, timeout=120, kernel_name="python3").execute()
    doctor_cell = next(c for c in fresh.cells if 'availability("runc")' in c.source)
    said = "".join(notebook_texts(doctor_cell))
    assert "No container runtime here: switched off by LABKIT_NO_CONTAINERS" in said
    assert "RECORDED, not measured now" in said and "cores" in said
    for old, new in zip(stored.cells, fresh.cells, strict=True):
        # A cell marked NBVAL_DEPENDS_ON a container kind took the other path here, by design.
        if new.cell_type == "code" and not new.source.startswith("# NBVAL_IGNORE_OUTPUT") \
                and not nbval_compare.depends_on(new.source):
            assert notebook_texts(new) == notebook_texts(old), new.source[:80]


@pytest.mark.parametrize("kind", OCI_KINDS)
def test_a_tool_runs_on_the_host_usr_read_only_and_fib_keeps_busybox(kind):
    if not FOUND[kind].available:
        pytest.skip(FOUND[kind].reason)
    source = ("import os\ndef tool(input):\n    try:\n"
              "        open('/usr/labkit-was-here', 'w')\n"
              "    except OSError as e:\n"
              "        return [os.path.exists('/usr/bin/node'), e.strerror]\n")
    with open_sandbox(kind) as box:
        assert json.loads(box.run_tool("python", source, "{}")) == [True, "Read-only file system"]
        assert box.run_standard() == expected()
        fib_root = json.loads((box.bundle_for() / "config.json").read_text())["root"]["path"]
        assert Path(fib_root, "bin", "busybox").is_file()  # the standard workload's root
    assert not Path("/usr/labkit-was-here").exists()
