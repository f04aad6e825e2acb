"""Real Linux containers: runc and crun on a bundle labkit builds, Podman and Docker.

A container is a process the kernel lies to: its own process list (pid namespace), its own
hostname (uts), its own mounts and root filesystem (mount), its own network holding only a
loopback interface (network), its own System V IPC (ipc), with cgroups capping its memory
and process count. runc and crun are the low-level OCI runtimes that set this up from a
bundle (a root filesystem plus config.json, see oci.py); Podman and Docker are managers on
top of such a runtime, with images, a CLI and, for Docker, a daemon.

Every call creates a container, runs the standard workload in it, waits for it and deletes
it (`runc run` does all four). Nothing outlives the call or the `with` block: containers are
deleted on errors and on KeyboardInterrupt, and leftovers of a killed kernel (the labkit
prefix with a dead owner) are removed when the next sandbox opens.

Home notebook: notebooks/04_containers_up_close.ipynb.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import psutil

from ..errors import GuestError, LabkitError, LimitExceeded, Unavailable
from ..measure import Memory, check_count, processes_memory
from ..workload import STANDARD_N, check_n
from . import oci
from .base import Availability, Limits, Sandbox

# Set to 1 (or a comma list of kinds) to make container kinds report themselves missing:
# how the notebook and tests show what a machine without containers sees.
DISABLE_ENV = "LABKIT_NO_CONTAINERS"
# How long a held container sleeps at most, should everything else fail to stop it
# (a SIGKILLed lab's held containers end by themselves after this).
HOLD_SECONDS = 900
# Wall-clock allowance on top of the CPU cap, for the runtime's own set-up and tear-down.
SETUP_SECONDS = 10
# What a guest may write to stdout, and to stderr, per call (as WASI's MAX_OUTPUT_BYTES).
# The rule: past it, the container is stopped at once and the call raises
# LimitExceeded("output"); nothing past the cap is ever held in the host.
MAX_OUTPUT_BYTES = 2**20
# A run_script script travels as one argv string: Linux refuses one over 128 KiB.
MAX_SCRIPT_BYTES = 128 * 2**10
# Bundles of run_script scripts kept (the standard workload's are kept apart).
MAX_SCRIPT_BUNDLES = 16
NOT_HERE_FIX = ("on Binder/JupyterHub containers cannot start: the notebooks show "
                "recorded numbers instead")


def running_as_root() -> bool:
    """Creating namespaces and cgroups for another process needs root (or rootless setup)."""
    return os.geteuid() == 0


def disabled(kind: str) -> bool:
    """True when LABKIT_NO_CONTAINERS asks to act as if this kind were missing."""
    value = os.environ.get(DISABLE_ENV, "").strip().lower()
    if value in ("", "0", "no", "false"):
        return False
    return value in ("1", "yes", "true", "all") or kind in value.split(",")


def _die_with_parent() -> None:
    """In a child: be killed when the kernel that started us dies (Linux only)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass(frozen=True)
class ContainerRun:
    """What a script printed inside a fresh container, and how it exited."""

    stdout: str
    stderr: str
    returncode: int


class OutputOverflow(Exception):
    """A guest wrote more than MAX_OUTPUT_BYTES to one stream (internal)."""

    def __init__(self, stream: str):
        self.stream = stream
        super().__init__(stream)


def oom_kills() -> int:
    """The kernel's count of OOM kills since boot (/proc/vmstat), -1 if unknown."""
    try:
        with open("/proc/vmstat") as f:
            for line in f:
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return -1


def children_cpu_seconds() -> float:
    """CPU time of every finished descendant (a container's init counts, via its runtime)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class CallEvidence:
    """What the host saw around one call: OOM kills and CPU used, to judge an exit code."""

    oom_before: int
    cpu_before: float

    @classmethod
    def now(cls) -> CallEvidence:
        return cls(oom_kills(), children_cpu_seconds())

    def oom_killed(self) -> bool:
        return self.oom_before >= 0 and oom_kills() > self.oom_before

    def cpu_used(self) -> float:
        return children_cpu_seconds() - self.cpu_before


def run_capped(command: list[str], timeout: float, cwd: Path | None = None,
               limit: int = MAX_OUTPUT_BYTES) -> tuple[int, str, str]:
    """Run a command, reading its stdout and stderr as they come, each up to `limit` bytes.

    Raises OutputOverflow past the cap and subprocess.TimeoutExpired past the timeout; the
    command is killed either way (the caller removes its container). A guest that floods
    its output costs the host at most `limit` bytes per stream.
    """
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=cwd)
    names = {proc.stdout.fileno(): "stdout", proc.stderr.fileno(): "stderr"}
    buffers = {fd: bytearray() for fd in names}
    deadline = time.monotonic() + timeout
    try:
        with selectors.DefaultSelector() as selector:
            for fd in buffers:
                selector.register(fd, selectors.EVENT_READ)
            while selector.get_map():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise subprocess.TimeoutExpired(command, timeout)
                for key, _ in selector.select(min(remaining, 1.0)):
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        selector.unregister(key.fd)
                        continue
                    buffer = buffers[key.fd]
                    buffer += chunk
                    if len(buffer) > limit:
                        raise OutputOverflow(names[key.fd])
        returncode = proc.wait(max(0.1, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    out, err = (bytes(buffers[fd]).decode(errors="replace") for fd in names)
    return returncode, out, err


def _check_limits_exit(kind: str, returncode: int, stderr: str, limits: Limits,
                       evidence: CallEvidence | None = None) -> None:
    """Turn the ways the kernel stops a capped container into LimitExceeded.

    An exit code alone is the guest's to choose (`exit 137`), so where the host can check,
    it does: SIGKILL counts as the memory cap only if the kernel recorded an OOM kill
    during the call (/proc/vmstat), as the CPU cap only if the container used its CPU time
    (it is its pid namespace's init, so SIGXCPU is ignored and the hard limit's SIGKILL
    stops it); otherwise the exit code is the guest's own.
    """
    if returncode == 128 + signal.SIGKILL:
        if evidence is None or evidence.oom_killed():
            raise LimitExceeded(kind, "memory", f"killed by the kernel's OOM killer at its "
                                                f"cgroup cap of {limits.memory_mb} MB")
        if evidence.cpu_used() >= 0.5 * limits.cpu_seconds:
            raise LimitExceeded(kind, "CPU time", f"RLIMIT_CPU of {limits.cpu_seconds} s; "
                                                  "killed at the hard limit")
    if returncode == 128 + signal.SIGXCPU and (
            evidence is None or evidence.cpu_used() >= 0.5 * limits.cpu_seconds):
        raise LimitExceeded(kind, "CPU time", f"RLIMIT_CPU of {limits.cpu_seconds} s")
    if "can't fork" in stderr or "Resource temporarily unavailable" in stderr:
        raise LimitExceeded(kind, "process", f"the cgroup's pids cap of {limits.pids} "
                                             "refused another fork")


class ContainerSandbox(Sandbox):
    """What every container kind shares: a guest script run by busybox sh in a fresh
    container per call. Subclasses say how one container runs (`_run`)."""

    def _run(self, args: list[str]) -> ContainerRun:
        raise NotImplementedError

    def _raise_if_runtime_failed(self, result: ContainerRun) -> None:
        """Subclasses turn a failure of the runtime itself (not the guest) into an error."""

    def run_script(self, script: str, *args: str) -> ContainerRun:
        """Run a shell script in a fresh container (busybox sh); for looking around inside.

        Raises LimitExceeded if the container hits a cap; otherwise returns what the
        script printed and its exit code, whatever it is.
        """
        if not isinstance(script, str) or not script.strip():
            raise ValueError("script must be a non-empty string of shell code")
        argv = ["/bin/sh", "-c", script, "guest", *map(str, args)]
        if any("\0" in arg for arg in argv):
            raise ValueError("script and its arguments must not contain NUL characters "
                             "(a command line cannot carry them)")
        size = len(script.encode())
        if size > MAX_SCRIPT_BYTES:
            raise ValueError(f"script is {size:,} bytes; a command-line argument holds at "
                             f"most {MAX_SCRIPT_BYTES:,}")
        evidence = CallEvidence.now()
        result = self._run(argv)
        _check_limits_exit(self.kind, result.returncode, result.stderr, self.limits, evidence)
        self._raise_if_runtime_failed(result)
        return result

    def cold_call(self, n: int = STANDARD_N) -> int:
        check_n(n)
        evidence = CallEvidence.now()
        result = self._run(["/bin/sh", oci.GUEST_PATH, str(n)])
        _check_limits_exit(self.kind, result.returncode, result.stderr, self.limits, evidence)
        if result.returncode != 0:
            raise GuestError(self.kind, f"the container exited with {result.returncode}: "
                                        f"{result.stderr.strip()[-300:]}")
        try:
            return int(result.stdout.strip())
        except ValueError:
            raise GuestError(self.kind, f"unexpected output {result.stdout[:80]!r}") from None


class OciSandbox(ContainerSandbox):
    """A low-level OCI runtime (runc, crun) on bundles labkit writes itself."""

    binary: ClassVar[str]
    state_root: ClassVar[str]
    install: ClassVar[str]
    default_live = 50

    def __init__(self, limits: Limits | None = None, rootfs: str | Path | None = None,
                 runtime: str | Path | None = None):
        super().__init__(limits)
        self._rootfs_arg = rootfs
        self._runtime_arg = runtime
        self._workdir: Path | None = None
        self._bundles: dict[tuple, Path] = {}
        self._script_bundles: OrderedDict[tuple, Path] = OrderedDict()
        self._bundle_numbers = itertools.count()
        self._held: dict[str, int | None] = {}
        self._running: str | None = None  # the container of the call under way

    # --- availability -------------------------------------------------------------
    @classmethod
    def runtime_binary(cls) -> str | None:
        return shutil.which(cls.binary) or next(
            (p for p in (f"/usr/sbin/{cls.binary}", f"/usr/bin/{cls.binary}")
             if os.access(p, os.X_OK)), None)

    @classmethod
    def check(cls) -> Availability:
        if disabled(cls.kind):
            return Availability(cls.kind, False, f"switched off by {DISABLE_ENV}",
                                f"unset {DISABLE_ENV}")
        if not sys.platform.startswith("linux"):
            return Availability(cls.kind, False, f"{cls.binary} runs Linux containers; this "
                                f"is {sys.platform}", "use a Linux machine or VM; "
                                + NOT_HERE_FIX)
        if cls.runtime_binary() is None:
            return Availability(cls.kind, False, f"{cls.binary} is not installed",
                                f"{cls.install}; " + NOT_HERE_FIX)
        if not running_as_root():
            return Availability(
                cls.kind, False,
                f"{cls.binary} needs root (or a rootless setup) to create namespaces and "
                f"cgroups; this lab runs as uid {os.geteuid()}",
                "run the lab as root on a machine or VM you own (sudo make lab); rootless "
                f"{cls.binary} needs user namespaces and a delegated cgroup; or read the "
                "recorded numbers")
        if not Path("/sys/fs/cgroup").is_dir():
            return Availability(cls.kind, False, "no cgroup filesystem at /sys/fs/cgroup",
                                "mount cgroups (a normal Linux boot does); " + NOT_HERE_FIX)
        return Availability(cls.kind, True)

    # --- life cycle ---------------------------------------------------------------
    def open(self) -> None:
        binary = str(self._runtime_arg) if self._runtime_arg else self.runtime_binary()
        if not binary or not os.access(binary, os.X_OK):
            raise Unavailable(self.kind, f"no {self.binary} runtime at {binary}",
                              self.install)
        if self._runtime_arg:  # a binary the caller chose: is it an OCI runtime at all?
            answer = oci.run_quiet([binary, "--version"])
            if answer.returncode != 0 or "spec" not in answer.stdout:
                raise Unavailable(self.kind, f"{binary} is not an OCI runtime (`{binary} "
                                  "--version` names no OCI spec)", self.install)
        self._binary = binary
        given = oci.given_rootfs(self._rootfs_arg) if self._rootfs_arg is not None else None
        try:  # a failed open must not leak the namespace holder or the temporary folder
            self._command = self._runtime_command(binary)
            self.remove_leftovers()
            self._workdir = oci.make_workdir()
            self._rootfs = given or oci.build_rootfs(self._workdir / "rootfs")
        except BaseException:
            self.close()
            raise

    def _runtime_command(self, binary: str) -> list[str]:
        """The command line prefix that reaches the runtime (crun adds a namespace)."""
        return [binary]

    def close(self) -> None:
        if self._running is not None:  # closed mid-call (a SIGTERM): that one goes too
            self._delete(self._running)
            self._running = None
        self._release()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        self._bundles.clear()
        self._script_bundles.clear()

    def list_containers(self) -> list[str]:
        """Names of every labkit container the runtime knows of right now (any owner)."""
        listing = oci.run_quiet([*self._command, "list", "-q"])
        return [cid for cid in listing.stdout.split() if cid.startswith(oci.PREFIX)]

    def remove_leftovers(self) -> list[str]:
        """Delete containers and bundle folders left by a kernel that was killed."""
        stale = [cid for cid in self.list_containers() if oci.is_leftover(cid)]
        for cid in stale:
            self._delete(cid)
        oci.remove_leftover_folders()
        return stale

    # --- one container --------------------------------------------------------------
    def _bundle(self, args: list[str]) -> Path:
        """A bundle (config.json) for these arguments, written once and reused.

        run_script's bundles (args starting `sh -c`) are kept for the last
        MAX_SCRIPT_BUNDLES scripts only, so many distinct scripts cannot fill /tmp.
        """
        key = tuple(args)
        cache = self._script_bundles if args[1:2] == ["-c"] else self._bundles
        if key in cache:
            if cache is self._script_bundles:
                cache.move_to_end(key)
            return cache[key]
        if self._workdir is None:
            raise LabkitError(f"{self.kind}: use the sandbox in a `with` block")
        config = oci.container_config(self._rootfs, args, self.limits)
        folder = self._workdir / f"bundle-{next(self._bundle_numbers)}"
        cache[key] = oci.write_bundle(folder, config)
        if cache is self._script_bundles and len(cache) > MAX_SCRIPT_BUNDLES:
            _, oldest = cache.popitem(last=False)
            shutil.rmtree(oldest, ignore_errors=True)
        return cache[key]

    def bundle_for(self, n: int = STANDARD_N) -> Path:
        """The bundle a cold call with this n runs (for comparing with a bare `runc run`)."""
        return self._bundle(["/bin/sh", oci.GUEST_PATH, str(check_n(n))])

    def _delete(self, cid: str) -> None:
        oci.run_quiet([*self._command, "delete", "--force", cid])

    def _run(self, args: list[str]) -> ContainerRun:
        """Create, start, wait for and delete one container running args."""
        bundle = self._bundle(args)
        cid = oci.new_container_id()
        timeout = self.limits.cpu_seconds * 2 + SETUP_SECONDS
        # The runtime's own errors go to this log, apart from the guest's stderr, so a
        # guest cannot pass its words off as the runtime's.
        self._runtime_log = self._workdir / "runtime.log"
        self._runtime_log.unlink(missing_ok=True)
        command = [*self._command, "--log", str(self._runtime_log), "--log-format", "json",
                   "run", "--bundle", str(bundle), cid]
        self._running = cid
        try:
            returncode, out, err = run_capped(command, timeout)
        except subprocess.TimeoutExpired:
            self._delete(cid)
            raise LimitExceeded(self.kind, "time", f"{timeout:g} s wall clock") from None
        except OutputOverflow as exc:
            self._delete(cid)
            raise LimitExceeded(self.kind, "output", f"more than {MAX_OUTPUT_BYTES:,} bytes "
                                f"written to {exc.stream}; the container was stopped") from None
        except BaseException:  # KeyboardInterrupt too: run_capped killed runc, not the box
            self._delete(cid)
            raise
        finally:
            self._running = None
        if returncode != 0 and os.path.exists(f"{self.state_root}/{cid}"):
            self._delete(cid)
        return ContainerRun(out, err, returncode)

    def _raise_if_runtime_failed(self, result: ContainerRun) -> None:
        if result.returncode == 0:
            return
        log = getattr(self, "_runtime_log", None)
        with contextlib.suppress(OSError):
            text = log.read_bytes()[-4096:].decode(errors="replace") if log else ""
            if '"level":"error"' in text or "level=error" in text:
                raise LabkitError(f"{self.kind} failed to run the container: "
                                  f"{result.stderr.strip()[-300:]}")

    # --- many at once -------------------------------------------------------------
    @contextlib.contextmanager
    def hold(self, count: int):
        check_count("count", count, maximum=self.max_live())
        if self._workdir is None:
            raise LabkitError(f"{self.kind}: use the sandbox in a `with` block")
        bundle = self._bundle(["/bin/sleep", str(HOLD_SECONDS)])
        log = self._workdir / "hold-stderr.log"
        try:
            with open(log, "w") as err:
                for _ in range(count):
                    cid = oci.new_container_id()
                    self._held[cid] = None  # tracked before it exists, so never missed
                    pid_file = self._workdir / f"{cid}.pid"
                    # Detached: runc exits once the container runs; stdio goes to a file
                    # (a pipe would be held open by the container).
                    done = subprocess.run(
                        [*self._command, "run", "--detach", "--pid-file", str(pid_file),
                         "--bundle", str(bundle), cid],
                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                        timeout=SETUP_SECONDS * 3)
                    if done.returncode != 0:
                        err.flush()
                        raise LabkitError(f"{self.kind} could not start live container "
                                          f"{len(self._held)} of {count}: "
                                          f"{log.read_text().strip()[-300:]}")
                    self._held[cid] = int(pid_file.read_text())
            yield list(self._held)
        finally:
            self._release()

    def _release(self) -> None:
        """Delete every held container, several at a time."""
        names = list(self._held)
        for start in range(0, len(names), 16):
            batch = [subprocess.Popen([*self._command, "delete", "--force", cid],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                     for cid in names[start:start + 16]]
            for proc in batch:
                proc.wait()
        self._held.clear()

    def footprint(self) -> Memory:
        """PSS of the held containers' processes plus the kernel memory their cgroups pay."""
        return containers_memory(pid for pid in self._held.values() if pid)

    def max_live(self) -> int:
        # Each live container costs about a megabyte and two pids; keep far from the edge.
        room = psutil.virtual_memory().available // (8 * 2**20)
        return int(max(1, min(1000, room)))

    def versions(self) -> dict:
        found = oci.run_quiet([getattr(self, "_binary", None) or self.binary, "--version"])
        version = found.stdout.splitlines()[0] if found.stdout else "unknown"
        rootfs = getattr(self, "_rootfs", None)
        return {self.binary: version, "rootfs": rootfs.source if rootfs else "not built"}


# Per-container monitor processes that managers keep next to each container's init.
MONITORS = ("conmon", "containerd-shim", "containerd-shim-runc-v2")


def containers_memory(pids) -> Memory:
    """Memory of containers given their init pids: processes' PSS + cgroup kernel memory.

    A per-container monitor (Podman's conmon, containerd's shim) is counted with its
    container: it exists only because the container does.
    """
    total = Memory()
    for pid in pids:
        try:
            init = psutil.Process(pid)
            procs = [init, *init.children(recursive=True)]
            parent = init.parent()
            if parent is not None and parent.name() in MONITORS:
                procs.append(parent)
        except psutil.NoSuchProcess:
            continue
        kernel = oci.cgroup_kernel_memory(pid)
        total += processes_memory(procs) + Memory(kernel, kernel, kernel, 0)
    return total


class RuncSandbox(OciSandbox):
    """runc, the reference OCI runtime (Docker's and Kubernetes' default)."""

    kind = "runc"
    binary = "runc"
    state_root = "/run/runc"
    install = "sudo apt-get install runc busybox-static"


class CrunSandbox(OciSandbox):
    """crun, a small OCI runtime in C (Podman's default on Fedora).

    crun 1.8 refuses a cgroup v1 host that also mounts cgroup v2 at
    /sys/fs/cgroup/unified ("hybrid" mode). labkit then runs it inside a private mount
    namespace where that one mount is gone: the host's mounts are untouched. A small holder
    process keeps the namespace alive for the sandbox's lifetime and dies with the kernel.
    """

    kind = "crun"
    binary = "crun"
    state_root = "/run/crun"
    install = "sudo apt-get install crun busybox-static"
    _holder: subprocess.Popen | None = None

    def _runtime_command(self, binary: str) -> list[str]:
        if not Path("/sys/fs/cgroup/unified").is_dir() or \
                Path("/sys/fs/cgroup/cgroup.controllers").exists():
            return [binary]
        unshare, nsenter = shutil.which("unshare"), shutil.which("nsenter")
        if not unshare or not nsenter:
            raise Unavailable(self.kind, "crun needs a private mount namespace on this "
                              "hybrid-cgroup host, and unshare/nsenter are missing",
                              "sudo apt-get install util-linux")
        self._holder = subprocess.Popen(
            [unshare, "--mount", "--propagation", "private", "/bin/sh", "-c",
             "umount /sys/fs/cgroup/unified && echo ready && exec sleep infinity"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, preexec_fn=_die_with_parent)
        if self._holder.stdout.readline().strip() != "ready":
            error = self._holder.stderr.read() if self._holder.poll() is not None else ""
            self._stop_holder()
            raise Unavailable(self.kind, f"could not prepare a private mount namespace for "
                              f"crun on this hybrid-cgroup host: {error.strip()[:200]}",
                              "use runc instead")
        return [nsenter, f"--mount=/proc/{self._holder.pid}/ns/mnt", "--", binary]

    def _stop_holder(self) -> None:
        if self._holder is not None:
            self._holder.kill()
            self._holder.wait()
            for stream in (self._holder.stdout, self._holder.stderr):
                stream.close()
            self._holder = None

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._stop_holder()


class CliSandbox(ContainerSandbox):
    """A container manager driven through its CLI (Docker, Podman) on a local image.

    The image is imported from the same busybox root filesystem (`import`, never `pull`:
    no registry is needed), and every container gets --network none, a read-only root,
    no capabilities, no new privileges and the same memory and pids caps.
    """

    binary: ClassVar[str]
    global_args: ClassVar[list[str]] = []
    run_args: ClassVar[list[str]] = []
    # How `rm --force` kills at once (a sleeping pid 1 ignores SIGTERM: no waiting for it).
    rm_args: ClassVar[list[str]] = []
    install: ClassVar[str]
    image = "labkit-busybox:1"
    default_live = 50

    def __init__(self, limits: Limits | None = None):
        super().__init__(limits)
        self._workdir: Path | None = None
        self._held: dict[str, int | None] = {}

    @classmethod
    def runtime_binary(cls) -> str | None:
        return shutil.which(cls.binary)

    @classmethod
    def _cli(cls) -> list[str]:
        return [cls.runtime_binary() or cls.binary, *cls.global_args]

    @classmethod
    def check(cls) -> Availability:
        if disabled(cls.kind):
            return Availability(cls.kind, False, f"switched off by {DISABLE_ENV}",
                                f"unset {DISABLE_ENV}")
        if cls.runtime_binary() is None:
            return Availability(cls.kind, False, f"{cls.binary} is not installed",
                                f"{cls.install}; " + NOT_HERE_FIX)
        info = oci.run_quiet([*cls._cli(), "info"], timeout=20)
        if info.returncode != 0:
            return cls._not_answering(info.stderr.strip().splitlines()[-1:] or [""])
        return Availability(cls.kind, True)

    @classmethod
    def _not_answering(cls, last_error: list[str]) -> Availability:
        return Availability(cls.kind, False, f"`{cls.binary} info` failed: {last_error[0]}",
                            cls.install)

    def open(self) -> None:
        try:
            self.remove_leftovers()
            self._workdir = oci.make_workdir()
            if oci.run_quiet([*self._cli(), "image", "inspect", self.image]).returncode:
                self._import_image()
        except BaseException:
            self.close()
            raise

    def _import_image(self) -> None:
        rootfs = oci.build_rootfs(self._workdir / "rootfs")
        if rootfs.source != "busybox-static":
            raise Unavailable(self.kind, "building a local image needs a static busybox",
                              "sudo apt-get install busybox-static")
        tarball = self._workdir / "rootfs.tar"
        with tarfile.open(tarball, "w") as tar:
            tar.add(rootfs.path, arcname=".")
        done = oci.run_quiet([*self._cli(), "import", str(tarball), self.image], timeout=120)
        if done.returncode != 0:
            raise LabkitError(f"{self.kind}: could not import the local image: "
                              f"{done.stderr.strip()[-300:]}")

    def close(self) -> None:
        self._release()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def list_containers(self) -> list[str]:
        """Names of every labkit container the manager knows of right now (any owner)."""
        listing = oci.run_quiet([*self._cli(), "ps", "-a", "--filter", f"name={oci.PREFIX}",
                                 "--format", "{{.Names}}"])
        return [name for name in listing.stdout.split() if name.startswith(oci.PREFIX)]

    def remove_leftovers(self) -> list[str]:
        """Delete containers and bundle folders left by a kernel that was killed."""
        stale = [name for name in self.list_containers() if oci.is_leftover(name)]
        if stale:
            oci.run_quiet([*self._cli(), "rm", "--force", *self.rm_args, *stale], timeout=60)
        oci.remove_leftover_folders()
        return stale

    def _container_args(self, name: str) -> list[str]:
        cpu = max(1, int(self.limits.cpu_seconds + 0.999))
        return ["--name", name, "--network", "none", "--read-only", "--cap-drop", "ALL",
                "--security-opt", "no-new-privileges", "--hostname", oci.HOSTNAME,
                "--memory", f"{int(self.limits.memory_mb)}m",
                "--memory-swap", f"{int(self.limits.memory_mb)}m",
                "--pids-limit", str(int(self.limits.pids)), "--ulimit", f"cpu={cpu}:{cpu + 1}",
                "--tmpfs", "/tmp:size=8m", *self.run_args]

    def _run(self, args: list[str]) -> ContainerRun:
        name = oci.new_container_id()
        timeout = self.limits.cpu_seconds * 2 + SETUP_SECONDS * 3
        try:
            # In the sandbox's own folder: conmon drops an "oom" file in its working
            # directory when a container is OOM-killed; it goes away with the folder.
            returncode, out, err = run_capped(
                [*self._cli(), "run", "--rm", *self._container_args(name), self.image, *args],
                timeout, cwd=self._workdir)
        except subprocess.TimeoutExpired:
            oci.run_quiet([*self._cli(), "rm", "--force", *self.rm_args, name])
            raise LimitExceeded(self.kind, "time", f"{timeout:g} s wall clock") from None
        except OutputOverflow as exc:
            oci.run_quiet([*self._cli(), "rm", "--force", *self.rm_args, name])
            raise LimitExceeded(self.kind, "output", f"more than {MAX_OUTPUT_BYTES:,} bytes "
                                f"written to {exc.stream}; the container was stopped") from None
        except BaseException:
            oci.run_quiet([*self._cli(), "rm", "--force", *self.rm_args, name])
            raise
        return ContainerRun(out, err, returncode)

    @contextlib.contextmanager
    def hold(self, count: int):
        check_count("count", count, maximum=self.max_live())
        try:
            for _ in range(count):
                name = oci.new_container_id()
                self._held[name] = None
                done = oci.run_quiet([*self._cli(), "run", "--detach",
                                      *self._container_args(name), self.image,
                                      "/bin/sleep", str(HOLD_SECONDS)], timeout=60,
                                     cwd=self._workdir)
                if done.returncode != 0:
                    raise LabkitError(f"{self.kind} could not start a live container: "
                                      f"{done.stderr.strip()[-300:]}")
                pid = oci.run_quiet([*self._cli(), "inspect", "--format",
                                     "{{.State.Pid}}", name]).stdout.strip()
                self._held[name] = int(pid) if pid.isdigit() else None
            yield list(self._held)
        finally:
            self._release()

    def _release(self) -> None:
        names = list(self._held)
        for start in range(0, len(names), 50):
            oci.run_quiet([*self._cli(), "rm", "--force", *self.rm_args,
                           *names[start:start + 50]], timeout=120)
        self._held.clear()

    def footprint(self) -> Memory:
        return containers_memory(pid for pid in self._held.values() if pid)

    def max_live(self) -> int:
        room = psutil.virtual_memory().available // (16 * 2**20)
        return int(max(1, min(500, room)))

    def versions(self) -> dict:
        found = oci.run_quiet([*self._cli(), "--version"])
        return {self.binary: found.stdout.strip() or "unknown"}


class PodmanSandbox(CliSandbox):
    """Podman: Docker's CLI without a daemon; each container gets a small conmon monitor."""

    kind = "podman"
    binary = "podman"
    # This lab's machine kind needs these (runtime-notes.md): no systemd, no
    # CAP_SYS_RESOURCE to raise ulimits.
    global_args = ["--cgroup-manager", "cgroupfs", "--events-backend", "file",
                   "--runtime", "runc"]
    run_args = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]
    rm_args = ["--time", "0"]
    install = "sudo apt-get install podman"

    @classmethod
    def _not_answering(cls, last_error: list[str]) -> Availability:
        return Availability(cls.kind, False, "podman is installed but `podman info` failed: "
                            f"{last_error[0][:160]}",
                            "run the lab as root, or set up rootless podman for your user "
                            "(subuid/subgid ranges, a writable home); " + NOT_HERE_FIX)


class DockerSandbox(CliSandbox):
    """Docker: a CLI talking to the dockerd daemon, which drives containerd and runc."""

    kind = "docker"
    binary = "docker"
    install = ("install docker.io and start its daemon (sudo systemctl start docker), and "
               "be root or in the docker group")

    @classmethod
    def runtime_binary(cls) -> str | None:
        # Debian's client matches Debian's daemon; a newer client on PATH may not.
        return "/usr/bin/docker" if os.access("/usr/bin/docker", os.X_OK) else \
            shutil.which("docker")

    @classmethod
    def _not_answering(cls, last_error: list[str]) -> Availability:
        return Availability(cls.kind, False, "the docker CLI is installed but no daemon "
                            f"answers (`docker info` failed: {last_error[0][:160]})",
                            "start dockerd (sudo systemctl start docker) and run as root or "
                            "a member of the docker group; " + NOT_HERE_FIX)
