"""gVisor: the guest talks to a kernel written in Go that runs in user space (runsc).

runsc is an OCI runtime, so it runs the same bundles labkit writes for runc
(containers/bundle.py): the same busybox root filesystem, the same guest script. What
differs is the wall. Under runc the guest's system calls reach the host kernel; under
runsc they are intercepted (here by ptrace: Debian 12's 2022 runsc has no `systrap`, and
its `kvm` platform hangs on nested virtualisation) and served by gVisor's own kernel, the
Sentry, which itself may make only a small set of host calls. The guest sees gVisor's
kernel (`uname -r` says 4.4.0, dmesg is gVisor's), not the host's.

Choices, each measured on Debian 12 with runsc 0.0~20221219:
- `--network=none`: the guest has only a loopback interface (the default `sandbox`
  network refuses to start in the host's network namespace).
- a private `--root` under labkit's own state folder, so `runsc list` shows only labkit's
  sandboxes and a killed lab's are found and deleted at the next start (`sweep_leftovers`,
  which also removes the cgroup folders and lock files such a kill leaves).
- root only: as root runsc puts the whole sandbox (Sentry, gofer, guest) in cgroups, and
  the memory cgroup is what caps it. Rootless runsc (`--rootless --ignore-cgroups`) also
  starts here, but then nothing caps the sandbox's memory, so labkit does not offer it.
- no pids cap: the pids cgroup would count the Sentry's own threads, which starts at more
  than 16, so the spec's pids limit is dropped; capabilities say pids_cap False.
- CPU: this runsc does not enforce RLIMIT_CPU (a spinning guest ran past its 1 s for as
  long as it was let), so the cap is the wall clock: the backstop of 2 x cpu_seconds +
  set-up time ends the call (`capabilities.cpu_cap == "wall-clock"`).
- every `runsc run` stays in the foreground, attached: killing the sandbox process then
  lets that `runsc run` reap it and clean up at once, where `runsc delete --force` of a
  detached sandbox waits for the killed process to be reaped by init (1 to 2 s here).

Home notebook: the stronger walls (bubblewrap, gVisor, micro-VMs; notebooks/04b_*).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import psutil

from .. import paths
from ..errors import LIMIT_OUTPUT, LIMIT_TIME, LabkitError, LimitExceeded
from ..measure import Memory, processes_memory
from ..workload import READY_LINE
from . import _owned, _tools
from .base import Availability, Capabilities, Limits
from .containers import ahead, bundle
from .containers.common import (
    DISABLE_ENV,
    HOLD_SECONDS,
    MAX_OUTPUT_BYTES,
    SETUP_SECONDS,
    ContainerRun,
    ContainerSandbox,
    OutputOverflow,
    cgroup_kernel_memory,
    disabled,
    run_capped,
    run_quiet,
    running_as_root,
)

INSTALL = "sudo apt-get install runsc busybox-static"
# Platforms in the order labkit prefers them: systrap (newer runsc) is faster than ptrace.
PLATFORMS = ("systrap", "ptrace")
# How long a held sandbox may take to say it is up, and a killed one to be cleaned.
START_SECONDS = 30
STOP_SECONDS = 10
# What a held guest prints once it runs, before it sleeps.


@functools.cache
def platforms_of(binary: str) -> tuple[str, ...]:
    """The platforms this runsc build offers, from `runsc flags` (never hangs)."""
    found = run_quiet([binary, "flags"], timeout=10)
    for line in found.stdout.splitlines() + found.stderr.splitlines():
        if "which platform to use" in line:
            return tuple(p for p in ("systrap", "ptrace", "kvm") if p in line)
    return ()


def _dies_with_us() -> list[str]:
    """A prefix that makes `runsc run` die with the thread that starts it (and its attached
    sandbox with it): this runsc does not stop a spinning guest by itself, so a killed
    lab's call must not run on until the next lab sweeps it."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


def state_folder() -> Path:
    """runsc's private --root: under this user's labkit state folder, made 0700."""
    return paths.private_dir("runsc")


def gvisor_config(rootfs: bundle.RootFS, args: list[str], limits: Limits) -> dict:
    """runc's config for the same guest, minus what runsc cannot honour as runc does:
    the pids cgroup (it would count the Sentry's own threads)."""
    config = bundle.container_config(rootfs, args, limits)
    config["linux"]["resources"].pop("pids", None)
    return config


class GvisorSandbox(ahead.StartedByShim, ContainerSandbox):
    """gVisor's runsc on labkit's own OCI bundles, ptrace platform, no network."""

    kind = "gvisor"
    binary = "runsc"
    capabilities = Capabilities(
        family="user-space kernel", cpu_cap="wall-clock",
        memory_cap="the sandbox's memory cgroup: the guest AND gVisor's own kernel (Sentry, "
                   "gofer), so the guest gets less than the cap",
        guest_languages=("sh",), scripts=True, pids_cap=False,
        tools=("javascript", "python"), held_tools=("javascript", "python"), precreated=True)
    precreated_how = ("a sandbox made ahead (`runsc create`: Sentry and gofer up, off the "
                      "clock), started on the call (`start`), deleted after (off the clock)")
    # A sandbox costs ~10-15 MB and ~0.1-0.3 s to start: few at once, few calls in a bench.
    live_counts = {"quick": 5, "full": 20}
    bench_calls = {"quick": 20, "full": 200}

    def __init__(self, limits: Limits | None = None):
        super().__init__(limits)
        self._binary: str | None = None
        self._command: list[str] = []
        self._workdir: Path | None = None
        self._rootfs: bundle.RootFS | None = None
        self._tool_rootfs: bundle.RootFS | None = None  # made at the first tool call
        self._bundles: dict[tuple, Path] = {}
        self._numbers = itertools.count()
        self._held: list[tuple[str, subprocess.Popen, Path]] = []
        self._running: tuple[str, Path] | None = None
        self._ahead: tuple[ahead.MadeAhead, str] | None = None  # made ahead: shim, id

    # --- availability -------------------------------------------------------------
    @classmethod
    def runtime_binary(cls) -> str | None:
        return shutil.which("runsc") or next(
            (p for p in ("/usr/sbin/runsc", "/usr/bin/runsc") if os.access(p, os.X_OK)), None)

    @classmethod
    def platform(cls) -> str | None:
        """The platform labkit uses: systrap where this runsc has it, else ptrace."""
        binary = cls.runtime_binary()
        offered = platforms_of(binary) if binary else ()
        return next((p for p in PLATFORMS if p in offered), None)

    @classmethod
    def check(cls) -> Availability:
        if disabled(cls.kind):
            return Availability(cls.kind, False, f"switched off by {DISABLE_ENV}",
                                f"unset {DISABLE_ENV}")
        if not sys.platform.startswith("linux"):
            return Availability(cls.kind, False, f"gVisor runs on Linux only; this is "
                                f"{sys.platform}", "use a Linux machine or VM; or read the "
                                "recorded numbers")
        binary = cls.runtime_binary()
        if binary is None:
            return Availability(cls.kind, False, "runsc (gVisor) is not installed", INSTALL)
        if not running_as_root():
            return Availability(
                cls.kind, False,
                f"gVisor needs root here: rootless runsc runs without cgroups, and then "
                f"nothing caps a sandbox's memory (this lab runs as uid {os.geteuid()})",
                "run the lab as root on a machine or VM you own (sudo make lab); or read "
                "the recorded numbers")
        if not Path("/sys/fs/cgroup").is_dir():
            return Availability(cls.kind, False, "no cgroup filesystem at /sys/fs/cgroup",
                                "mount cgroups (a normal Linux boot does)")
        if cls.platform() is None:
            return Availability(cls.kind, False, f"{binary} offers neither the systrap nor "
                                "the ptrace platform (`runsc flags` names none)", INSTALL)
        return Availability(cls.kind, True)

    @classmethod
    def state_folder(cls) -> Path:
        """Where runsc keeps its state for labkit (its private --root)."""
        return state_folder()

    # --- life cycle ---------------------------------------------------------------
    @classmethod
    def runtime_command(cls) -> list[str]:
        """How labkit calls runsc: its private root, the platform, no network."""
        return [cls.runtime_binary(), "--root", str(state_folder()),
                f"--platform={cls.platform()}", "--network=none"]

    def open(self) -> None:
        try:  # a failed open must not leave the temporary folder
            self._binary = self.runtime_binary()
            self._command = self.runtime_command()
            self.remove_leftovers(self._command)
            self._workdir = bundle.make_workdir()
            self._rootfs = bundle.build_rootfs(self._workdir / "rootfs")
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._drop_precreated()
        if self._running is not None:  # closed mid-call (a SIGTERM): that one goes too
            self._stop(*self._running)
            self._running = None
        self._release()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        self._bundles.clear()
        self._rootfs = self._tool_rootfs = None

    # --- leftovers ------------------------------------------------------------------
    @classmethod
    def remove_leftovers(cls, command: list[str]) -> list[str]:
        """Delete sandboxes, lock files, cgroup folders and bundle folders of dead labs."""
        stale = [cid for cid in _labkit_sandboxes(command) if _owned.is_leftover(cid)]
        for cid in stale:
            run_quiet([*command, "delete", "--force", cid], timeout=STOP_SECONDS * 3)
        root = Path(command[command.index("--root") + 1])
        for entry in root.glob(f"{_owned.PREFIX}*"):  # lock files of never-listed sandboxes
            if _owned.is_leftover(entry.name) and entry.is_file():
                entry.unlink(missing_ok=True)
        remove_leftover_cgroups()
        _owned.remove_leftover_folders()
        return stale

    def list_containers(self) -> list[str]:
        """Names of every labkit sandbox runsc knows of right now (any owner)."""
        self._require_open()
        return _labkit_sandboxes(self._command)

    @classmethod
    def sweep_leftovers(cls) -> list[str]:
        """What killed labs left, removed without opening a sandbox (where it runs here)."""
        if not cls.check().available:
            return []
        return cls.remove_leftovers(cls.runtime_command())

    # --- one sandbox ----------------------------------------------------------------
    def _bundle(self, args: list[str], tool: bool = False) -> Path:
        """The bundle running args: on the busybox root, or (`tool`) on the tool variant
        (the host's /usr, /bin and /lib read-only) with the tools' clean environment."""
        key = (tool, *args)
        if key not in self._bundles:
            if len(self._bundles) > 16:  # run_script's scripts: keep /tmp small
                for old in list(self._bundles)[:8]:
                    shutil.rmtree(self._bundles.pop(old), ignore_errors=True)
            folder = self._workdir / f"bundle-{next(self._numbers)}"
            if tool and self._tool_rootfs is None:
                self._tool_rootfs = bundle.build_rootfs(self._workdir / "rootfs-tools",
                                                        use_host=True)
            config = gvisor_config(self._tool_rootfs if tool else self._rootfs, args,
                                   self.limits)
            if tool:
                config["process"]["env"] = [f"{k}={v}" for k, v in _tools.TOOL_ENV.items()]
            self._bundles[key] = bundle.write_bundle(folder, config)
        return self._bundles[key]

    def _pid_file(self, cid: str) -> Path:
        return self._workdir / f"{cid}.pid"

    def _stop(self, cid: str, pid_file: Path, runner: subprocess.Popen | None = None) -> None:
        """End one sandbox now: kill its Sentry (its attached `runsc run` then reaps it and
        cleans up), then make sure runsc keeps no state of it."""
        _kill_sandbox(cid, pid_file)
        if runner is not None:
            try:
                runner.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                runner.kill()
                runner.wait()
        if any(state_folder().glob(f"{cid}_*")):
            run_quiet([*self._command, "delete", "--force", cid], timeout=STOP_SECONDS * 3)
        pid_file.unlink(missing_ok=True)

    def _run(self, args: list[str], folder: Path | None = None, stdin=None) -> ContainerRun:
        """Create, run, wait for and delete one sandbox running args (all in one `runsc run`);
        `folder` a bundle of its own (a tool call's), `stdin` a file to read."""
        folder = folder or self._bundle(args)
        cid = _owned.new_container_id()
        pid_file = self._pid_file(cid)
        timeout = self.limits.backstop_seconds(SETUP_SECONDS)
        command = [*_dies_with_us(), *self._command, "run", "--pid-file", str(pid_file),
                   "--bundle", str(folder), cid]
        self._running = (cid, pid_file)
        try:
            returncode, out, err = run_capped(command, timeout, stdin=stdin)
        except subprocess.TimeoutExpired:
            self._stop(cid, pid_file)
            raise LimitExceeded(self.kind, LIMIT_TIME, f"{timeout:g} s wall clock (this runsc "
                                "does not enforce RLIMIT_CPU)") from None
        except OutputOverflow as exc:
            self._stop(cid, pid_file)
            raise LimitExceeded(self.kind, LIMIT_OUTPUT, f"more than {MAX_OUTPUT_BYTES:,} "
                                f"bytes written to {exc.stream}; the sandbox was stopped") \
                from None
        except BaseException:  # KeyboardInterrupt too: run_capped killed runsc, not the box
            self._stop(cid, pid_file)
            raise
        finally:
            self._running = None
        if returncode != 0 or pid_file.exists():
            self._stop(cid, pid_file)
        return ContainerRun(out, err, returncode)

    # --- made ahead: `runsc create` off the clock, `start` on the call ------------------
    def _create_ahead(self, argv: list[str], input_json: str | None) -> None:
        """`runsc create` a sandbox running argv (on the tool root when it has an input)
        through a shim that reaps the sandbox and reports its exit (containers/ahead.py):
        without one, the finished sandbox waits 1-2 s for init to reap it."""
        folder = self._bundle(argv, tool=input_json is not None)
        cid = _owned.new_container_id()
        pid_file = self._pid_file(cid)
        create = [*self._command, "create", "--pid-file", str(pid_file), "--bundle",
                  str(folder), cid]
        self._ahead = (ahead.MadeAhead(create, pid_file, input_json, self._workdir,
                                       self.limits.backstop_seconds(SETUP_SECONDS)), cid)
        if not self._ahead[0].created:  # tracked: removed here, or by close() if this fails
            words = self._ahead[0].errors()
            self._drop_precreated()
            raise LabkitError(f"gvisor could not create a sandbox ahead: "
                              f"{words or 'no reason given'}")

    def _delete(self, cid: str) -> None:
        run_quiet([*self._command, "delete", "--force", cid], timeout=STOP_SECONDS * 3)

    # --- where the time goes ----------------------------------------------------------
    def _phases(self, workload: str) -> dict[str, float]:
        """One cold call of `workload` as runsc's own steps: `create` (the sandbox: Sentry,
        gofer, the root filesystem served, the guest's init waiting), `start` (until
        `runsc start` returns), `run` (from there until the sandbox exits with the guest),
        `delete`; "other" is labkit's own time between them. Four runsc commands where a
        cold call's `runsc run` is one."""
        return ahead.shim_phases(self, workload)

    # --- tool calls and the floor ----------------------------------------------------
    def floor_call(self) -> None:
        """`runsc --version` through the command line every call uses, with the same capped
        reader: the path without a sandbox (no Sentry, no gofer)."""
        self._require_open()
        returncode, out, err = run_capped([*self._command, "--version"], SETUP_SECONDS)
        if returncode != 0:
            raise LabkitError(f"runsc --version failed: {err.strip()[:200]}")

    def _run_tool(self, language: str, source: str, input_json: str) -> str:
        """The host's node or python3 in a fresh gVisor sandbox (the host's /usr read-only
        through gVisor's gofer); input on stdin. The memory cgroup caps node as it caps
        the Sentry: no heap flag, as in runc."""
        _tools.checked_tool_call(self.kind, language, source, input_json, "gVisor")
        argv = _tools.tool_argv(language, source)
        folder = self._bundle(argv, tool=True)
        with _tools.input_file(input_json, self._workdir) as stdin:
            result = self._judge(argv, folder=folder, stdin=stdin)
        return _tools.tool_answer(self.kind, result.returncode, result.stdout, result.stderr)

    # --- many at once -------------------------------------------------------------
    @contextlib.contextmanager
    def hold(self, count: int, workload: str = "fib"):
        self.check_live_count(count)
        language = self.held_language(workload)
        if language is None:
            folder = self._bundle(["/bin/sh", "-c",
                                   f"echo {READY_LINE}; exec sleep {HOLD_SECONDS}"])
        else:  # the tool's runtime, its tool run once, idle; the memory cgroup caps it
            folder = self._bundle(_tools.held_tool_argv(workload), tool=True)
        try:
            for _ in range(count):
                cid = _owned.new_container_id()
                pid_file = self._pid_file(cid)
                runner = subprocess.Popen(
                    [*self._command, "run", "--pid-file", str(pid_file), "--bundle",
                     str(folder), cid],
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    preexec_fn=_owned.die_with_parent())
                self._held.append((cid, runner, pid_file))  # tracked before it is up
                self._wait_ready(runner, len(self._held), count)
            yield [cid for cid, _, _ in self._held]
        finally:
            self._release()

    def _wait_ready(self, runner: subprocess.Popen, number: int, count: int) -> None:
        """Block until the held guest printed READY_LINE (it runs), or fail saying why not."""
        if not _tools.wait_ready(runner.stdout, START_SECONDS):
            if runner.poll() is None:
                runner.kill()
            runner.wait()
            error = runner.stderr.read().decode(errors="replace").strip()[-300:]
            raise LabkitError(f"{self.kind} could not start live sandbox {number} of {count}"
                              f": {error or 'no sign of life in ' + str(START_SECONDS) + ' s'}")

    def _release(self) -> None:
        """Stop every held sandbox: kill each Sentry, then let its runsc run clean up."""
        held, self._held = self._held, []
        for cid, _runner, pid_file in held:
            _kill_sandbox(cid, pid_file)
        for cid, runner, pid_file in held:
            self._stop(cid, pid_file, runner)
            for stream in (runner.stdout, runner.stderr):
                stream.close()

    def footprint(self) -> Memory:
        """PSS of every process of the held sandboxes (the attached `runsc run`, Sentry,
        gofer, ptrace stubs) plus the kernel memory their cgroups pay."""
        total = Memory()
        for _, runner, pid_file in self._held:
            try:
                top = psutil.Process(runner.pid)
                procs = [top, *top.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            total += processes_memory(procs)
            with contextlib.suppress(OSError, ValueError):
                kernel = cgroup_kernel_memory(int(pid_file.read_text()))
                total += Memory(kernel, kernel, kernel, 0)
        return total

    def max_live(self) -> int:
        # ~15 MB and 5 processes each; keep far from the edge of memory.
        room = psutil.virtual_memory().available // (64 * 2**20)
        return int(max(1, min(200, room)))

    def versions(self) -> dict:
        found = run_quiet([self._binary or self.binary, "--version"])
        version = found.stdout.splitlines()[0] if found.stdout else "unknown"
        rootfs = self._rootfs
        return {"runsc": version, "platform": self.platform() or "none",
                "network": "none", "cgroups": "yes (root): memory capped by the memory cgroup",
                "rootfs": rootfs.source if rootfs else "not built"}


def _labkit_sandboxes(command: list[str]) -> list[str]:
    """The labkit sandboxes `runsc list` knows of under the root in `command`."""
    listing = run_quiet([*command, "list", "--quiet"])
    return [cid for cid in listing.stdout.split() if cid.startswith(_owned.PREFIX)]


def _kill_sandbox(cid: str, pid_file: Path) -> None:
    """SIGKILL a sandbox's Sentry, by the pid runsc wrote, only if that pid is still this
    sandbox (its command line names the container): never a process that reused the pid."""
    with contextlib.suppress(OSError, ValueError, psutil.Error):
        sentry = psutil.Process(int(pid_file.read_text()))
        if sentry.cmdline()[-1:] == [cid]:
            sentry.send_signal(signal.SIGKILL)


def remove_leftover_cgroups() -> list[Path]:
    """Empty cgroup folders named after a dead lab's sandboxes (runsc leaves them when its
    `runsc run` is killed), at the top of every cgroup hierarchy runsc uses."""
    removed = []
    top = Path("/sys/fs/cgroup")
    for folder in [*top.glob(f"{_owned.PREFIX}*"), *top.glob(f"*/{_owned.PREFIX}*")]:
        if folder.is_dir() and not folder.is_symlink() and _owned.is_leftover(folder.name):
            with contextlib.suppress(OSError):  # not empty: a process still lives there
                folder.rmdir()
                removed.append(folder)
    return removed
