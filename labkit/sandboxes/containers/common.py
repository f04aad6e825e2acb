"""What every container kind shares: output caps, exit statuses read as caps, memory.

Also the switch (LABKIT_NO_CONTAINERS) that makes container kinds report themselves missing,
and `ContainerSandbox`, the base the runtimes (runtime.py) and managers (managers.py) fill in.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from ...errors import GuestError, LabkitError, LimitExceeded
from ...measure import Memory, processes_memory
from ...workload import (
    STANDARD_N,
    WORKLOAD_LANGUAGES,
    check_n,
    check_workload,
    tool_input,
    tool_source,
)
from .. import _tools
from ..base import Capabilities, Limits, Sandbox
from .bundle import GUEST_PATH

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


@dataclass(frozen=True)
class ContainerRun:
    """What a script printed inside a fresh container, and how it exited.

    `stderr` is the guest's alone; what the runtime itself reported (from its own log, which
    the guest cannot write) is `runtime_error`. `name` is the container's, as the kernel's
    cgroup messages spell it ("" where it does not: Podman's and Docker's cgroups carry
    their own ids).
    """

    stdout: str
    stderr: str
    returncode: int
    runtime_error: str = ""
    name: str = ""
    init_pid: int | None = None  # the guest's host pid, where the runtime tells it


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


class KernelLog:
    """Kernel log records written from now on (/dev/kmsg, readable by root only).

    The kernel logs, naming the cgroup, each OOM kill in a memory cgroup and the first fork
    a pids cgroup refuses: evidence of a cap that no guest output can fake.
    """

    def __init__(self):
        self._fd: int | None = None
        with contextlib.suppress(OSError):
            fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            try:
                os.lseek(fd, 0, os.SEEK_END)
            except OSError:
                os.close(fd)
                raise
            self._fd = fd
        self._seen: list[str] = []

    def messages(self) -> list[str] | None:
        """The messages logged since this object was made; None if the log is unreadable."""
        if self._fd is None:
            return None
        while True:
            try:
                record = os.read(self._fd, 8192)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EPIPE:  # older records overwritten meanwhile
                    continue
                break
            if not record:
                break
            self._seen.append(record.decode(errors="replace").partition(";")[2].split("\n")[0])
        return self._seen

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


# Below this share of its RLIMIT_CPU, a container cannot have been stopped by it. (The
# kernel enforces the limit on a finer clock than getrusage reports: a process it killed
# at 2 s shows 1.8 s here, on a busy VM.)
CPU_EVIDENCE = 0.75
# Guest words that send labkit to look for the kernel's own record of a refused fork.
FORK_FAILED = ("can't fork", "Resource temporarily unavailable")


@dataclass
class CallEvidence:
    """What the host saw around one call, to judge an exit status: the kernel's log, its
    OOM kill count, and the CPU time finished children used. Use it in a `with` block."""

    oom_before: int
    cpu_before: float
    kernel_log: KernelLog | None = None

    @classmethod
    def now(cls) -> CallEvidence:
        return cls(oom_kills(), children_cpu_seconds(), KernelLog())

    def __enter__(self) -> CallEvidence:
        return self

    def __exit__(self, *exc) -> None:
        if self.kernel_log is not None:
            self.kernel_log.close()

    def _logged(self, marker: str, name: str) -> bool | None:
        messages = self.kernel_log.messages() if self.kernel_log else None
        if messages is None:
            return None
        return any(marker in m and name in m for m in messages)

    def oom_killed(self, name: str = "", pid: int | None = None) -> bool:
        """The kernel logged an OOM kill in this container's cgroup, or of its init (the
        cgroup summary line is rate-limited, the kill line is not). Without a name or a
        readable log: the kernel counted an OOM kill anywhere during the call."""
        if name and self._logged("oom_memcg=", name):
            return True
        if pid is not None and self._logged(f"Killed process {pid} (", ""):
            return True
        if name and self.kernel_log is not None and self.kernel_log.messages() is not None:
            return False
        return self.oom_before >= 0 and oom_kills() > self.oom_before

    def fork_refused(self, name: str = "") -> bool:
        """The kernel logged a fork refused by this container's pids cgroup (False when the
        log cannot be read: then nothing proves it)."""
        return bool(self._logged("fork rejected by pids controller", name))

    def cpu_used(self) -> float:
        return children_cpu_seconds() - self.cpu_before


def run_capped(command: list[str], timeout: float, cwd: Path | None = None,
               limit: int = MAX_OUTPUT_BYTES, stdin=None) -> tuple[int, str, str]:
    """Run a command, reading its stdout and stderr as they come, each up to `limit` bytes.

    Raises OutputOverflow past the cap and subprocess.TimeoutExpired past the timeout; the
    command is killed either way (the caller removes its container). A guest that floods
    its output costs the host at most `limit` bytes per stream. `stdin`: a file to read
    (a tool call's input), else nothing.
    """
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL if stdin is None else stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd)
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


def _check_limits_exit(kind: str, result: ContainerRun, limits: Limits,
                       evidence: CallEvidence) -> None:
    """Turn the ways the kernel stops a capped container into LimitExceeded.

    Only on evidence the guest cannot forge: an exit code (`exit 137`) and words on stderr
    ("Resource temporarily unavailable") are the guest's to choose. SIGKILL counts as the
    memory cap when the kernel logged an OOM kill in the container's cgroup or of its init
    (where the log cannot be read, or for Podman and Docker, whose cgroups carry their own
    ids: when the kernel counted an OOM kill during the call); a refused fork as the pids
    cap when the kernel logged one for the container's cgroup (for Podman and Docker: any
    during the call). SIGKILL or SIGXCPU counts as the CPU cap when the container's
    processes used at least CPU_EVIDENCE of its RLIMIT_CPU (it is its pid namespace's init,
    so SIGXCPU is ignored and the hard limit's SIGKILL stops it): a guest can only fake
    that by burning most of its CPU time first. Otherwise the exit status is the guest's.
    """
    code = result.returncode
    if code == 128 + signal.SIGKILL and evidence.oom_killed(result.name, result.init_pid):
        raise LimitExceeded(kind, "memory", f"killed by the kernel's OOM killer at its "
                                            f"cgroup cap of {limits.memory_mb} MB")
    if code in (128 + signal.SIGKILL, 128 + signal.SIGXCPU) and \
            evidence.cpu_used() >= CPU_EVIDENCE * limits.cpu_rlimit:
        raise LimitExceeded(kind, "CPU time", f"RLIMIT_CPU of {limits.cpu_seconds} s; "
                                              "killed at the limit")
    if (code != 0 or any(words in result.stderr for words in FORK_FAILED)) and \
            evidence.fork_refused(result.name):
        raise LimitExceeded(kind, "process", f"the cgroup's pids cap of {limits.pids} "
                                             "refused another fork")


class ContainerSandbox(Sandbox):
    """What every container kind shares: a guest script run by busybox sh in a fresh
    container per call. Subclasses say how one container runs (`_run`)."""

    capabilities = Capabilities(family="container", cpu_cap="cpu-time",
                                memory_cap="the container's memory cgroup (memory + swap)",
                                guest_languages=("sh",), scripts=True, pids_cap=True,
                                precreated=True)
    precreated_how = ("a container made ahead (`create`, off the clock), started on the "
                      "call (`start`), removed after (off the clock)")
    _precreated_workload: str | None = None  # what the container made ahead runs

    # --- the pre-created path: create ahead, start on the call -----------------------------
    def precreate(self, workload: str = "fib") -> None:
        """Make the container of one standard call of `workload` and leave it waiting, not
        started (a pool's container): what `start_precreated` then starts. The one made
        before, started or not, is removed first; close() removes the last."""
        self._require_open()
        check_workload(workload)
        self._precreated_workload = None
        self._drop_precreated()
        if workload == "fib":
            argv, given = ["/bin/sh", GUEST_PATH, str(STANDARD_N)], None
        else:
            language = WORKLOAD_LANGUAGES[workload]
            argv, given = _tools.tool_argv(language, tool_source(language)), tool_input(0)
        self._create_ahead(argv, given)  # a failure leaves nothing made, nothing to start
        self._precreated_workload = workload

    def start_precreated(self):
        """Start the container `precreate` made, wait for its end and return its answer:
        fib's number, or a tool's JSON text (checked by the caller, as a cold call's). Caps
        are read from the same evidence as a cold call's."""
        self._require_open()
        workload = self._precreated_workload
        if workload is None:
            raise LabkitError(f"{self.kind}: no container made ahead; call precreate() "
                              "first (each one starts once)")
        self._precreated_workload = None
        with CallEvidence.now() as evidence:
            result = self._start_ahead()
            _check_limits_exit(self.kind, result, self.limits, evidence)
        if result.runtime_error:
            raise LabkitError(f"{self.kind} failed to start the container made ahead: "
                              f"{result.runtime_error[-300:]}")
        if workload != "fib":
            return _tools.tool_answer(self.kind, result.returncode, result.stdout,
                                      result.stderr)
        return self._fib_answer(result)

    def _create_ahead(self, argv: list[str], input_json: str | None) -> None:
        """What a kind with `precreated` implements: create (not start) a container running
        argv, its stdin `input_json` if given."""
        raise NotImplementedError

    def _start_ahead(self) -> ContainerRun:
        """Start the container `_create_ahead` made and wait for it."""
        raise NotImplementedError

    def _drop_precreated(self) -> None:
        """Remove the container made ahead, if any (started or not)."""

    def _run(self, args: list[str], **options) -> ContainerRun:
        raise NotImplementedError

    def _judge(self, args: list[str], **options) -> ContainerRun:
        """Run args in a fresh container; raise if a cap stopped it or the runtime failed.
        `options` go to `_run` (a tool call's own bundle folder and stdin)."""
        with CallEvidence.now() as evidence:
            result = self._run(args, **options)
            _check_limits_exit(self.kind, result, self.limits, evidence)
        if result.runtime_error:
            raise LabkitError(f"{self.kind} failed to run the container: "
                              f"{result.runtime_error[-300:]}")
        return result

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
        return self._judge(argv)

    def cold_call(self, n: int = STANDARD_N) -> int:
        check_n(n)
        return self._fib_answer(self._judge(["/bin/sh", GUEST_PATH, str(n)]))

    def _fib_answer(self, result: ContainerRun) -> int:
        """The number the guest script printed, or GuestError saying what went wrong."""
        if result.returncode != 0:
            raise GuestError(self.kind, f"the container exited with {result.returncode}: "
                                        f"{result.stderr.strip()[-300:]}")
        try:
            return int(result.stdout.strip())
        except ValueError:
            raise GuestError(self.kind, f"unexpected output {result.stdout[:80]!r}") from None


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
        kernel = cgroup_kernel_memory(pid)
        total += processes_memory(procs) + Memory(kernel, kernel, kernel, 0)
    return total




def cgroup_memory_path(pid: int) -> Path | None:
    """The memory cgroup folder of a process (cgroup v1 or v2), if it can be found."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            folder = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
            return folder if folder.is_dir() else None
    for line in lines:
        if line.startswith("0::"):
            folder = Path("/sys/fs/cgroup") / line[3:].lstrip("/")
            if (folder / "memory.current").exists():
                return folder
    return None


def cgroup_kernel_memory(pid: int) -> int:
    """Bytes the kernel charged to a process's memory cgroup for its own structures.

    Process PSS counts the pages a process maps; the cgroup also pays for kernel memory
    (page tables, task and namespace structures, socket buffers) that PSS never sees.
    """
    folder = cgroup_memory_path(pid)
    if folder is None:
        return 0
    kmem = folder / "memory.kmem.usage_in_bytes"  # cgroup v1
    with contextlib.suppress(OSError, ValueError):
        if kmem.exists():
            return int(kmem.read_text())
        lines = (folder / "memory.stat").read_text().splitlines()  # cgroup v2
        stat = {key: int(value) for key, value in (line.split() for line in lines)}
        if "kernel" in stat:
            return stat["kernel"]
        return sum(stat.get(k, 0) for k in ("kernel_stack", "pagetables", "sock", "slab"))
    return 0


def run_quiet(command: list[str], timeout: float = 10,
              cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run a runtime housekeeping command, capturing its output, never raising on failure."""
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              cwd=cwd)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(command, -1, "", str(exc))
