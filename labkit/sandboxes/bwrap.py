"""bubblewrap: namespaces without a container runtime, the wall many coding agents use.

`bwrap` (Flatpak's sandbox tool) puts one process in new namespaces (user, pid, mount,
network, ipc, uts, cgroup) with a root filesystem made only of what it is told to bind.
Here that is the same read-only busybox root filesystem labkit builds for runc
(containers/bundle.py), with a fresh /proc, a minimal /dev and a private 8 MB /tmp in
memory; no network but a loopback of its own; no capabilities; no further user
namespaces inside (--disable-userns); a new session (no typing into the host's terminal);
killed when the host side dies (--die-with-parent). It needs no root: unprivileged user
namespaces are enough.

What it does NOT do: cgroups. bwrap caps nothing, so labkit sets rlimits on it before it
starts (they hold for every process inside): CPU seconds (RLIMIT_CPU) and address space
(RLIMIT_AS), each per process, plus a wall-clock backstop. There is no cap on the number
of processes: RLIMIT_NPROC counts every process of the user (and nothing for root), not
those of one sandbox. Capabilities say both. No seccomp filter either: the guest reaches
the host kernel's whole system-call surface, as a plain process does, minus what
namespaces and dropped capabilities take away.

Home notebook: the stronger walls (bubblewrap, gVisor, micro-VMs; notebooks/04b_*).
"""

from __future__ import annotations

import contextlib
import functools
import os
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import psutil

from ..errors import (
    LIMIT_CPU,
    LIMIT_MEMORY,
    LIMIT_OUTPUT,
    LIMIT_TIME,
    GuestError,
    LabkitError,
    LimitExceeded,
)
from ..measure import Memory, processes_memory
from ..workload import (
    READY_LINE,
    STANDARD_N,
    WORKLOAD_LANGUAGES,
    check_n,
    check_tool_output,
    expected,
    tool_input,
    tool_source,
)
from . import _owned, _tools
from .base import Availability, Capabilities, Limits, Sandbox, phase_split
from .containers import bundle
from .containers.common import (
    HOLD_SECONDS,
    MAX_OUTPUT_BYTES,
    MAX_SCRIPT_BYTES,
    ContainerRun,
)

INSTALL = "sudo apt-get install bubblewrap busybox-static"
# Wall-clock allowance on top of the CPU backstop, for bwrap's own set-up and reaping.
SETUP_SECONDS = 5
# The private /tmp: in memory, so it is capped by size (RLIMIT_AS does not count tmpfs).
TMP_BYTES = 8 * 2**20
# What busybox sh says when RLIMIT_AS refuses it memory.
OUT_OF_MEMORY = ("out of memory", "cannot allocate memory")
# What node and python3 say when their memory cap refuses them (their own words: bwrap has
# no cgroup to ask).
TOOL_OUT_OF_MEMORY = ("heap out of memory", "memoryerror", "failed to reserve virtual memory")
# What a held guest prints once it runs, before it sleeps.
START_SECONDS = 30


def bwrap_binary() -> str | None:
    return shutil.which("bwrap") or next(
        (p for p in ("/usr/bin/bwrap", "/bin/bwrap") if os.access(p, os.X_OK)), None)


def _sysctl(name: str) -> str | None:
    with contextlib.suppress(OSError):
        return Path("/proc/sys", *name.split(".")).read_text().strip()
    return None


def namespaces_fix() -> str:
    """The fix for a bwrap that cannot create namespaces on this machine."""
    if os.geteuid() != 0:
        if _sysctl("user.max_user_namespaces") == "0":
            return "sudo sysctl -w user.max_user_namespaces=15000"
        if _sysctl("kernel.unprivileged_userns_clone") == "0":
            return "sudo sysctl -w kernel.unprivileged_userns_clone=1"
        if _sysctl("kernel.apparmor_restrict_unprivileged_userns") == "1":
            return ("use the distribution's bubblewrap (its AppArmor profile allows user "
                    "namespaces), or: sudo sysctl -w "
                    "kernel.apparmor_restrict_unprivileged_userns=0")
    return ("inside Docker or another locked-down container, namespaces cannot be created: "
            "run the lab on a machine or VM you own; or read the recorded numbers")


@functools.cache
def namespaces_refused(binary: str, euid: int) -> str:
    """Why bwrap cannot make its namespaces here ("" when it can): one tiny real try,
    bounded by a timeout, once per process and user."""
    try:
        done = subprocess.run([binary, "--unshare-all", "--unshare-user", "--disable-userns",
                               "--die-with-parent", "--ro-bind", "/", "/", binary, "--version"],
                              capture_output=True, text=True, timeout=10,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return "a trial bwrap did not finish within 10 s"
    except OSError as exc:
        return f"bwrap could not be started: {exc.strerror}"
    if done.returncode != 0:
        return " ".join(done.stderr.split())[:200] or f"bwrap exited with {done.returncode}"
    return ""


def _confine(limits: Limits):
    """A preexec function: the caps (rlimits, inherited by everything inside) and death
    with the thread that starts it (so a killed kernel's guests end too)."""
    cpu = limits.cpu_rlimit
    memory = int(limits.memory_mb * 2**20)
    die = _owned.die_with_parent()

    def apply():
        die()
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))  # SIGXCPU, then SIGKILL
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def _confine_argv(limits: Limits) -> list[str]:
    """The same caps and death as `_confine`, as a command prefix (util-linux's prlimit,
    then setpriv, each exec'ing the next): with no preexec function Python can start the
    child with vfork, which saves ~10 ms a call (measured). [] where either is missing."""
    prlimit, setpriv = shutil.which("prlimit"), shutil.which("setpriv")
    if not prlimit or not setpriv:
        return []
    cpu, memory = limits.cpu_rlimit, int(limits.memory_mb * 2**20)
    return [prlimit, f"--cpu={cpu}:{cpu + 1}", f"--as={memory}", "--nofile=256", "--core=0",
            setpriv, "--pdeathsig", "KILL", "--"]


def _start(command: list[str], limits: Limits, stdin=None,
           pass_fds: tuple[int, ...] = ()) -> subprocess.Popen:
    """Start a capped sandbox leading its own process group, its output on pipes (its
    input from the `stdin` file, else nothing; `pass_fds` kept open for bwrap)."""
    prefix = _confine_argv(limits)
    return subprocess.Popen([*prefix, *command],
                            stdin=subprocess.DEVNULL if stdin is None else stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=None if prefix else _confine(limits),
                            start_new_session=True, pass_fds=pass_fds)


def _kill_group(pid: int) -> None:
    """SIGKILL the outer bwrap's process group; the guest's pid namespace dies with it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


class BwrapSandbox(Sandbox):
    """One bubblewrap sandbox per call, on labkit's busybox root filesystem."""

    kind = "bwrap"
    capabilities = Capabilities(
        family="namespaces", cpu_cap="cpu-time",
        memory_cap="address space of each process inside (RLIMIT_AS); no total: bwrap sets "
                   "no cgroup",
        guest_languages=("sh",), scripts=True, pids_cap=False,
        tools=("javascript", "python"), held_tools=("javascript", "python"))
    live_counts = {"quick": 50, "full": 200}

    def __init__(self, limits: Limits | None = None):
        super().__init__(limits)
        self._binary: str | None = None
        self._workdir: Path | None = None
        self._rootfs: bundle.RootFS | None = None
        self._tool_rootfs: bundle.RootFS | None = None  # made at the first tool call
        self._held: list[subprocess.Popen] = []

    # --- availability -------------------------------------------------------------
    @classmethod
    def check(cls) -> Availability:
        if not sys.platform.startswith("linux"):
            return Availability(cls.kind, False, f"bubblewrap uses Linux namespaces; this is "
                                f"{sys.platform}", "use a Linux machine or VM; or read the "
                                "recorded numbers")
        binary = bwrap_binary()
        if binary is None:
            return Availability(cls.kind, False, "bubblewrap (bwrap) is not installed", INSTALL)
        refused = namespaces_refused(binary, os.geteuid())
        if refused:
            return Availability(cls.kind, False, f"bwrap cannot create namespaces here "
                                f"(uid {os.geteuid()}): {refused}", namespaces_fix())
        return Availability(cls.kind, True)

    @classmethod
    def sweep_leftovers(cls) -> list:
        """bwraps and root filesystems of dead labs (a guest outlives its lab only if the
        parent-death signal missed it: the lab's thread that started it still ran)."""
        killed = []
        for proc in psutil.process_iter(["name", "cmdline"]):
            cmdline = proc.info["cmdline"] or []
            if proc.info["name"] != "bwrap":
                continue
            for arg in cmdline:
                name = Path(arg).parent.name if arg.endswith("/rootfs") else ""
                if name.startswith(_owned.BUNDLE_PREFIX) and \
                        _owned.is_leftover(name, _owned.BUNDLE_PREFIX):
                    with contextlib.suppress(psutil.Error):
                        proc.kill()
                        killed.append(proc.pid)
                    break
        return [*killed, *_owned.remove_leftover_folders()]

    # --- life cycle ---------------------------------------------------------------
    def open(self) -> None:
        self._binary = bwrap_binary()
        try:  # a failed open must not leave the temporary folder
            self._workdir = bundle.make_workdir()
            self._rootfs = bundle.build_rootfs(self._workdir / "rootfs")
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._release()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        self._rootfs = self._tool_rootfs = None

    def command(self, args: list[str], rootfs: bundle.RootFS | None = None) -> list[str]:
        """The bwrap command line that runs args in a fresh sandbox (every isolation
        choice is here, in one place), on `rootfs` (default: the busybox one)."""
        self._require_open()
        rootfs = rootfs or self._rootfs
        binds = [arg for d in rootfs.host_binds for arg in ("--ro-bind", d, d)]
        return [
            self._binary,
            "--unshare-all", "--unshare-user", "--disable-userns",  # every namespace
            "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--clearenv", "--setenv", "PATH", "/bin:/sbin:/usr/bin:/usr/sbin",
            "--setenv", "HOME", "/tmp", "--setenv", "LANG", "C",
            "--hostname", bundle.HOSTNAME,
            "--ro-bind", str(rootfs.path), "/", *binds,
            "--proc", "/proc", "--dev", "/dev",
            "--size", str(TMP_BYTES), "--tmpfs", "/tmp",
            "--chdir", "/", "--", *args]

    # --- one sandbox ----------------------------------------------------------------
    def _run(self, args: list[str], rootfs: bundle.RootFS | None = None,
             limits: Limits | None = None, stdin=None,
             events: list | None = None) -> tuple[ContainerRun, float]:
        """Run args in a fresh sandbox, reading its output as it comes (capped); returns
        what it printed and how long it took. Everything it started is killed after.
        With `events`, a list, bwrap's status lines (--json-status-fd: the child started,
        the child exited) are appended to it as (monotonic ns when read, line)."""
        limits = limits or self.limits
        timeout = limits.backstop_seconds(SETUP_SECONDS)
        command = self.command(args, rootfs)
        status = os.pipe() if events is not None else None
        if status is not None:
            command[1:1] = ["--json-status-fd", str(status[1])]
        started = time.monotonic()
        try:
            proc = _start(command, limits, stdin, pass_fds=status[1:] if status else ())
        finally:
            if status is not None:
                os.close(status[1])
        names = {proc.stdout.fileno(): "stdout", proc.stderr.fileno(): "stderr"}
        buffers = {fd: bytearray() for fd in names}
        try:
            with selectors.DefaultSelector() as selector:
                for fd in buffers:
                    selector.register(fd, selectors.EVENT_READ)
                if status is not None:
                    selector.register(status[0], selectors.EVENT_READ)
                while selector.get_map():
                    remaining = started + timeout - time.monotonic()
                    if remaining <= 0:
                        raise LimitExceeded(self.kind, LIMIT_TIME, f"{timeout:g} s wall "
                                            "clock, the backstop of its CPU-time cap")
                    for key, _ in selector.select(min(remaining, 1.0)):
                        chunk = os.read(key.fd, 65536)
                        if not chunk:
                            selector.unregister(key.fd)
                            continue
                        if status is not None and key.fd == status[0]:
                            events.extend((time.monotonic_ns(), line) for line in
                                          chunk.decode(errors="replace").splitlines())
                            continue
                        buffers[key.fd] += chunk
                        if len(buffers[key.fd]) > MAX_OUTPUT_BYTES:
                            raise LimitExceeded(self.kind, LIMIT_OUTPUT, f"more than "
                                                f"{MAX_OUTPUT_BYTES:,} bytes written to "
                                                f"{names[key.fd]}; the sandbox was stopped")
            returncode = proc.wait(max(0.1, started + timeout - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise LimitExceeded(self.kind, LIMIT_TIME, f"{timeout:g} s wall clock, the "
                                "backstop of its CPU-time cap") from None
        finally:
            _kill_group(proc.pid)  # whatever is left, also after an interrupt
            proc.wait()
            proc.stdout.close()
            proc.stderr.close()
            if status is not None:
                os.close(status[0])
        out, err = (bytes(buffers[fd]).decode(errors="replace") for fd in names)
        return ContainerRun(out, err, returncode), time.monotonic() - started

    def _check_cpu(self, result: ContainerRun, seconds: float) -> None:
        """SIGXCPU (or the hard limit's SIGKILL) after at least the CPU cap's time: the
        rlimit. (bwrap's helper reaps the guest, so its CPU time never reaches us; a call
        cannot have used N CPU seconds in less than N seconds, so the wall time is the
        evidence that rules out a guest that merely signals itself.)"""
        if result.returncode in (128 + signal.SIGXCPU, 128 + signal.SIGKILL) and \
                seconds >= self.limits.cpu_rlimit:
            raise LimitExceeded(self.kind, LIMIT_CPU, f"RLIMIT_CPU of "
                                f"{self.limits.cpu_rlimit} s")

    def cold_call(self, n: int = STANDARD_N) -> int:
        check_n(n)
        return self._fib_answer(*self._run(["/bin/sh", bundle.GUEST_PATH, str(n)]))

    def _fib_answer(self, result: ContainerRun, seconds: float) -> int:
        """The guest script's number, or the cap, bwrap's failure or GuestError that
        stopped it."""
        self._check_cpu(result, seconds)
        if result.returncode != 0:
            # The guest is labkit's own script, so its shell's words can be trusted here.
            if any(words in result.stderr.lower() for words in OUT_OF_MEMORY):
                raise LimitExceeded(self.kind, LIMIT_MEMORY, f"RLIMIT_AS of "
                                    f"{self.limits.memory_mb:g} MB")
            if result.stderr.startswith("bwrap:"):
                raise LabkitError(f"bwrap could not make the sandbox: "
                                  f"{result.stderr.strip()[:300]}")
            raise GuestError(self.kind, f"the sandbox exited with {result.returncode}: "
                                        f"{result.stderr.strip()[-300:]}")
        try:
            return int(result.stdout.strip())
        except ValueError:
            raise GuestError(self.kind, f"unexpected output {result.stdout[:80]!r}") from None

    # --- tool calls and the floor ----------------------------------------------------
    def _run_tool(self, language: str, source: str, input_json: str) -> str:
        """The host's node or python3 in a fresh sandbox whose root is the tool variant of
        the busybox root (the host's /usr, /bin and /lib read-only, nothing else of the
        host); the input on stdin. node gets room for V8's address-space reservations under
        RLIMIT_AS and its heap capped by --max-old-space-size instead (as a plain process)."""
        _tools.checked_tool_call(self.kind, language, source, input_json, "bubblewrap")
        argv, limits = self._tool_command(
            language, _tools.tool_argv(language, source, self.limits.memory_mb))
        with _tools.input_file(input_json) as stdin:
            return self._tool_answer(*self._run(argv, self._tool_rootfs, limits, stdin))

    def _tool_answer(self, result: ContainerRun, seconds: float) -> str:
        """The tool's JSON text, or the cap, bwrap's failure or GuestError that stopped it."""
        self._check_cpu(result, seconds)
        if result.returncode != 0 and any(
                words in result.stderr.lower() for words in TOOL_OUT_OF_MEMORY):
            raise LimitExceeded(self.kind, LIMIT_MEMORY, f"{self.limits.memory_mb:g} MB")
        if result.returncode != 0 and result.stderr.startswith("bwrap:"):
            raise LabkitError(f"bwrap could not make the sandbox: "
                              f"{result.stderr.strip()[:300]}")
        return _tools.tool_answer(self.kind, result.returncode, result.stdout, result.stderr)

    # --- where the time goes ------------------------------------------------------------
    def _phases(self, workload: str) -> dict[str, float]:
        """One cold call of `workload` split where bwrap reports (--json-status-fd):
        "spawn + namespaces" (labkit's spawn of prlimit, setpriv and bwrap, then the clone
        into new namespaces, until bwrap names its child), "mounts + guest" (the child
        builds its root filesystem, execs the guest, the guest runs and exits), "collect"
        (bwrap's exit, the output read). The answer is checked as a cold call's; the
        status pipe is the only difference from one."""
        if workload == "fib":
            argv, rootfs, limits, given = ["/bin/sh", bundle.GUEST_PATH, str(STANDARD_N)], \
                None, None, None
        else:
            language = WORKLOAD_LANGUAGES[workload]
            argv, limits = self._tool_command(language, _tools.tool_argv(
                language, tool_source(language), self.limits.memory_mb))
            rootfs, given = self._tool_rootfs, tool_input(0)
        events: list[tuple[int, str]] = []
        clock = time.monotonic_ns
        with _tools.input_file(given or "") as stdin:
            start = clock()
            result, seconds = self._run(argv, rootfs, limits,
                                        stdin if given is not None else None, events)
            end = clock()
        if given is None:
            if self._fib_answer(result, seconds) != expected(STANDARD_N):
                raise GuestError(self.kind, f"phases: fib({STANDARD_N}) answered "
                                            f"{result.stdout[:80]!r}")
        else:
            try:
                check_tool_output(given, self._tool_answer(result, seconds))
            except ValueError as exc:
                raise GuestError(self.kind, f"phases: {workload}: {exc}") from None
        said = {key: when for when, line in events for key in ("child-pid", "exit-code")
                if f'"{key}"' in line}
        if len(said) < 2:
            raise LabkitError(f"bwrap reported no child or no exit on its status fd: "
                              f"{[line for _, line in events][:2]}")
        return phase_split([("spawn + namespaces", start, said["child-pid"]),
                            ("mounts + guest", said["child-pid"], said["exit-code"]),
                            ("collect", said["exit-code"], end)], start, end)

    def _tool_command(self, language: str, tool_argv: list[str]) -> tuple[list[str], Limits]:
        """A tool's command line with a clean environment, and the caps it runs under (node
        gets room for V8's address-space reservations), the tool root made if need be."""
        if self._tool_rootfs is None:
            self._tool_rootfs = bundle.build_rootfs(self._workdir / "rootfs-tools",
                                                    use_host=True)
        room = _tools.NODE_RESERVED_MB if language == "javascript" else 0
        limits = replace(self.limits, memory_mb=self.limits.memory_mb + room)
        env = [f"{key}={value}" for key, value in _tools.TOOL_ENV.items()]
        return ["/usr/bin/env", "-i", *env, *tool_argv], limits

    def floor_call(self) -> None:
        """`bwrap --version` started the way every call starts its sandbox (the same caps
        prefix, own process group, pipes): the path without making namespaces."""
        self._require_open()
        proc = _start([self._binary, "--version"], self.limits)
        try:
            out, err = proc.communicate(timeout=SETUP_SECONDS)
        finally:
            _kill_group(proc.pid)
            proc.wait()
        if proc.returncode != 0:
            raise LabkitError(f"bwrap --version exited with {proc.returncode}: "
                              f"{err.decode(errors='replace').strip()[:200]}")

    def run_script(self, script: str, *args: str) -> ContainerRun:
        """Run a shell script in a fresh sandbox (busybox sh); for looking around inside.

        Raises LimitExceeded for the CPU cap, the backstop and the output cap; otherwise
        returns what the script printed and its exit status, whatever it is (a memory
        refusal reaches the guest as a failed allocation: its exit is its own).
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
        result, seconds = self._run(argv)
        self._check_cpu(result, seconds)
        return result

    # --- many at once -------------------------------------------------------------
    @contextlib.contextmanager
    def hold(self, count: int, workload: str = "fib"):
        self.check_live_count(count)
        language = self.held_language(workload)
        if language is None:
            command = self.command(["/bin/sh", "-c",
                                    f"echo {READY_LINE}; exec sleep {HOLD_SECONDS}"])
            limits = self.limits
        else:  # the tool's runtime, its tool run once, idle
            argv, limits = self._tool_command(
                language, _tools.held_tool_argv(workload, self.limits.memory_mb))
            command = self.command(argv, self._tool_rootfs)
        try:
            for number in range(1, count + 1):
                proc = _start(command, limits)
                self._held.append(proc)  # tracked before it is up, so never missed
                self._wait_ready(proc, number, count)
            yield list(self._held)
        finally:
            self._release()

    def _wait_ready(self, proc: subprocess.Popen, number: int, count: int) -> None:
        if not _tools.wait_ready(proc.stdout, START_SECONDS):
            _kill_group(proc.pid)
            proc.wait()
            error = proc.stderr.read().decode(errors="replace").strip()[-300:]
            raise LabkitError(f"bwrap could not start live sandbox {number} of {count}: "
                              f"{error or 'no sign of life in ' + str(START_SECONDS) + ' s'}")

    def _release(self) -> None:
        held, self._held = self._held, []
        for proc in held:
            _kill_group(proc.pid)
        for proc in held:
            proc.wait()
            for stream in (proc.stdout, proc.stderr):
                stream.close()

    def footprint(self) -> Memory:
        """PSS of every process of the held sandboxes (outer bwrap, its pid-1, the guest)."""
        procs = []
        for held in self._held:
            with contextlib.suppress(psutil.NoSuchProcess):
                top = psutil.Process(held.pid)
                procs += [top, *top.children(recursive=True)]
        return processes_memory(procs)

    def max_live(self) -> int:
        # Three processes and ~0.5 MB each; as a user, keep well under RLIMIT_NPROC.
        room = psutil.virtual_memory().available // (8 * 2**20)
        soft, _ = resource.getrlimit(resource.RLIMIT_NPROC)
        if os.geteuid() != 0 and soft != resource.RLIM_INFINITY:
            room = min(room, soft // 12)
        return int(max(1, min(1000, room)))

    def versions(self) -> dict:
        found = subprocess.run([self._binary or bwrap_binary() or "bwrap", "--version"],
                               capture_output=True, text=True, timeout=10)
        rootfs = self._rootfs
        return {"bwrap": found.stdout.strip() or "unknown",
                "caps": "rlimits (CPU, address space); no cgroup",
                "user": "root" if os.geteuid() == 0 else f"uid {os.geteuid()}",
                "rootfs": rootfs.source if rootfs else "not built"}
