"""runc and crun: the OCI runtimes, run on a bundle labkit writes itself.

Warm path (`warm_call`, `warm_tool`): `exec` into a running container (one per root
filesystem, started at the first warm call, deleted on close), with the container's own
process spec (`exec --process`), since a bare `exec` drops its rlimits.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import psutil

from ...errors import GuestError, LabkitError, LimitExceeded, Unavailable
from ...measure import Memory
from ...workload import STANDARD_N, check_n
from .. import _owned, _tools
from ..base import Availability, Limits
from . import ahead, bundle, cgroups
from .common import (
    DISABLE_ENV,
    HOLD_SECONDS,
    MAX_OUTPUT_BYTES,
    MAX_SCRIPT_BUNDLES,
    NOT_HERE_FIX,
    SETUP_SECONDS,
    CallEvidence,
    ContainerRun,
    ContainerSandbox,
    OutputOverflow,
    _check_limits_exit,
    containers_memory,
    disabled,
    run_capped,
    run_quiet,
    running_as_root,
)


def without_lines(text: str, drop: list[str]) -> str:
    """`text` without the lines that are, stripped, one of `drop`."""
    if not drop:
        return text
    unwanted = set(drop)
    return "".join(line for line in text.splitlines(keepends=True)
                   if line.strip() not in unwanted)


class OciSandbox(ahead.StartedByShim, ContainerSandbox):
    """A low-level OCI runtime (runc, crun) on bundles labkit writes itself.

    Tool calls (`run_tool`) run the host's node or python3 in a container whose root is a
    second, tool-only variant: the host's /usr bind-mounted read-only (with the /lib, /lib64,
    /bin links of a merged-/usr system), no /etc, /tmp in memory; same namespaces, seccomp,
    cgroup caps and rlimits as the busybox containers of the standard workload. What the
    tool can read: the host's /usr (the runtimes and libraries, read-only), nothing else.
    """

    capabilities = replace(ContainerSandbox.capabilities, tools=("javascript", "python"),
                           warm_calls=True, held_tools=("javascript", "python"))
    warm_how = ("exec into a running container (namespaces, cgroup and root made ahead): "
                "each call a new process in it, `exec` on the call")
    binary: ClassVar[str]
    state_root: ClassVar[str]
    install: ClassVar[str]
    live_counts = {"quick": 50, "full": 100}

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
        self._held_pipes: list = []  # held tools' stdout, closed with them
        self._running: str | None = None  # the container of the call under way
        self._binary: str | None = None
        self._command: list[str] = []  # how to reach the runtime (set when opened)
        self._rootfs: bundle.RootFS | None = None
        self._runtime_log: Path | None = None
        self._tool_rootfs: bundle.RootFS | None = None  # made at the first tool call
        self._tool_bundles: OrderedDict[tuple, Path] = OrderedDict()
        # root ("busybox", "tools") -> (its running container, since when, its process spec)
        self._warm: dict[str, tuple[str, float, dict]] = {}
        self._warm_numbers = itertools.count()
        # the container made ahead: its shim (with its stdio files) and its id
        self._ahead: tuple[ahead.MadeAhead, str] | None = None

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
            answer = run_quiet([binary, "--version"])
            if answer.returncode != 0 or "spec" not in answer.stdout:
                raise Unavailable(self.kind, f"{binary} is not an OCI runtime (`{binary} "
                                  "--version` names no OCI spec)", self.install)
        self._binary = binary
        given = bundle.given_rootfs(self._rootfs_arg) if self._rootfs_arg is not None else None
        try:  # a failed open must not leak the namespace holder or the temporary folder
            self._command = self._runtime_command(binary)
            self.remove_leftovers()
            self._workdir = bundle.make_workdir()
            self._rootfs = given or bundle.build_rootfs(self._workdir / "rootfs")
        except BaseException:
            self.close()
            raise

    @property
    def runtime_command(self) -> list[str]:
        """The command line that reaches this runtime (crun's enters its namespace first):
        for comparing labkit's calls with a bare `runc run` (benchmarks/)."""
        self._require_open()
        return list(self._command)

    def _runtime_command(self, binary: str) -> list[str]:
        """The command line prefix that reaches the runtime (crun adds a namespace)."""
        return [binary]

    def close(self) -> None:
        self._stop_warm()
        self._drop_precreated()
        if self._running is not None:  # closed mid-call (a SIGTERM): that one goes too
            self._delete(self._running)
            self._running = None
        self._release()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        self._bundles.clear()
        self._script_bundles.clear()
        self._tool_bundles.clear()
        self._tool_rootfs = None

    def list_containers(self) -> list[str]:
        """Names of every labkit container the runtime knows of right now (any owner)."""
        listing = run_quiet([*self._command, "list", "-q"])
        return [cid for cid in listing.stdout.split() if cid.startswith(_owned.PREFIX)]

    def remove_leftovers(self) -> list[str]:
        """Delete containers and bundle folders left by a kernel that was killed."""
        stale = [cid for cid in self.list_containers() if _owned.is_leftover(cid)]
        for cid in stale:
            self._delete(cid)
        _owned.remove_leftover_folders()
        return stale

    @classmethod
    def sweep_leftovers(cls) -> list[str]:
        """What killed labs left (containers, bundle folders), removed without opening a
        sandbox: only where this runtime runs here (root; else there is nothing to reap)."""
        if not cls.check().available:
            return []
        box = cls()
        try:  # crun may need its private mount namespace, even to delete
            box._command = box._runtime_command(cls.runtime_binary())
            return box.remove_leftovers()
        finally:
            box.close()

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
        config = bundle.container_config(self._rootfs, args, self.limits)
        folder = self._workdir / f"bundle-{next(self._bundle_numbers)}"
        cache[key] = bundle.write_bundle(folder, config)
        if cache is self._script_bundles and len(cache) > MAX_SCRIPT_BUNDLES:
            _, oldest = cache.popitem(last=False)
            shutil.rmtree(oldest, ignore_errors=True)
        return cache[key]

    def bundle_for(self, n: int = STANDARD_N) -> Path:
        """The bundle a cold call with this n runs (for comparing with a bare `runc run`)."""
        return self._bundle(["/bin/sh", bundle.GUEST_PATH, str(check_n(n))])

    def _delete(self, cid: str) -> None:
        run_quiet([*self._command, "delete", "--force", cid])

    def _for_container(self, folder: Path, cid: str) -> Path:
        """The bundle folder to start container `cid` from (crun's names its cgroup)."""
        return folder

    def _run(self, args: list[str], folder: Path | None = None, stdin=None) -> ContainerRun:
        """Create, start, wait for and delete one container running args (from the bundle
        in `folder` if given; `stdin`, a file, is the guest's standard input)."""
        cid = _owned.new_container_id()
        bundle = self._for_container(folder or self._bundle(args), cid)
        timeout = self.limits.backstop_seconds(SETUP_SECONDS)
        # The runtime's own errors go to this log, apart from the guest's stderr, so a
        # guest cannot pass its words off as the runtime's.
        self._runtime_log = self._workdir / "runtime.log"
        self._runtime_log.unlink(missing_ok=True)
        # The init's host pid, which the kernel names in OOM records. One file per call:
        # runc writes it through a temporary `.<name>` that a killed runc leaves behind.
        pid_file = self._workdir / f"{cid}.pid"
        command = [*self._command, "--log", str(self._runtime_log), "--log-format", "json",
                   "run", "--pid-file", str(pid_file), "--bundle", str(bundle), cid]
        self._running = cid
        try:
            returncode, out, err = run_capped(command, timeout, stdin=stdin)
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
        # The runtime prints its errors to stderr too (crun even with --log): they are
        # taken from its log and kept out of the guest's words.
        errors = self._runtime_errors() if returncode != 0 else []
        init_pid = None
        with contextlib.suppress(OSError, ValueError):
            init_pid = int(pid_file.read_text()) if returncode != 0 else None
        for leftover in (pid_file, pid_file.with_name(f".{pid_file.name}")):
            leftover.unlink(missing_ok=True)
        return ContainerRun(out, without_lines(err, errors), returncode, "; ".join(errors), cid,
                            init_pid)

    def _runtime_errors(self) -> list[str]:
        """What the runtime logged as errors during the last call (its --log file)."""
        log = self._runtime_log
        try:
            lines = log.read_bytes()[-65536:].decode(errors="replace").splitlines() if log else []
        except OSError:
            return []
        errors = []
        for line in lines:
            with contextlib.suppress(ValueError, AttributeError):
                entry = json.loads(line)
                if entry.get("level") in ("error", "fatal", "panic"):
                    errors.append(str(entry.get("msg", "")).strip())
        return [e for e in errors if e]

    # --- tool calls and the floor ------------------------------------------------------
    def _tool_bundle(self, argv: list[str]) -> Path:
        """A bundle running argv on the tool root (host /usr read-only), kept for the last
        MAX_SCRIPT_BUNDLES programs."""
        key = tuple(argv)
        if key in self._tool_bundles:
            self._tool_bundles.move_to_end(key)
            return self._tool_bundles[key]
        if self._tool_rootfs is None:
            self._tool_rootfs = bundle.build_rootfs(self._workdir / "rootfs-tools",
                                                    use_host=True)
        config = bundle.container_config(self._tool_rootfs, argv, self.limits)
        config["process"]["env"] = [f"{k}={v}" for k, v in _tools.TOOL_ENV.items()]
        folder = self._workdir / f"bundle-{next(self._bundle_numbers)}"
        self._tool_bundles[key] = bundle.write_bundle(folder, config)
        if len(self._tool_bundles) > MAX_SCRIPT_BUNDLES:
            _, oldest = self._tool_bundles.popitem(last=False)
            shutil.rmtree(oldest, ignore_errors=True)
        return self._tool_bundles[key]

    def _run_tool(self, language: str, source: str, input_json: str) -> str:
        """node or python3 from the host's /usr in a fresh container; input on stdin."""
        _tools.checked_tool_call(self.kind, language, source, input_json, "a container")
        # No heap flag: the container's memory cgroup is node's cap, as it is python's.
        argv = _tools.tool_argv(language, source)
        folder = self._tool_bundle(argv)
        with _tools.input_file(input_json, self._workdir) as stdin:
            result = self._judge(argv, folder=folder, stdin=stdin)
        return _tools.tool_answer(self.kind, result.returncode, result.stdout, result.stderr)

    def floor_call(self) -> None:
        """`<runtime> --version` through the command line every call uses (crun's enters
        its namespace first) and the same capped reader: the path without a container."""
        returncode, out, err = run_capped([*self._command, "--version"], SETUP_SECONDS)
        if returncode != 0:
            raise GuestError(self.kind, f"{self.binary} --version failed: {err.strip()[:200]}")

    # --- the pre-created path: `create` ahead, `start` on the call -------------------------
    def _create_ahead(self, argv: list[str], input_json: str | None) -> None:
        """`create` a container running argv (on the tool root when it has an input)
        through a shim that will report its exit (ahead.py)."""
        folder = self._tool_bundle(argv) if input_json is not None else self._bundle(argv)
        cid = _owned.new_container_id()
        self._for_container(folder, cid)
        self._runtime_log = self._workdir / "runtime.log"
        self._runtime_log.unlink(missing_ok=True)
        pid_file = self._workdir / f"{cid}.pid"
        create = [*self._command, "--log", str(self._runtime_log), "--log-format", "json",
                  "create", "--pid-file", str(pid_file), "--bundle", str(folder), cid]
        self._ahead = (ahead.MadeAhead(create, pid_file, input_json, self._workdir,
                                       self.limits.backstop_seconds(SETUP_SECONDS)), cid)
        if not self._ahead[0].created:  # tracked: removed here, or by close() if this fails
            errors = self._runtime_errors()
            self._drop_precreated()
            raise LabkitError(f"{self.kind} could not create a container ahead: "
                              f"{'; '.join(errors)[-300:] or 'no reason logged'}")

    # --- where the time goes ------------------------------------------------------------
    def _phases(self, workload: str) -> dict[str, float]:
        """One cold call of `workload` as the runtime's own steps, each a command of its
        own: `create` (namespaces, cgroup, mounts; the init waits), `start` (the init execs
        the guest), `run` (from `start` returning until the guest has exited: a guest as
        short as fib may be done before `start` returns, so this reads near zero and its
        time sits in `start`), `delete` (state and cgroup removed); "other" is labkit's own
        time between them (ahead.shim_phases). Same bundle as a cold call's, so the split
        costs a few more process starts than one `run` does."""
        return ahead.shim_phases(self, workload)

    # --- many at once -------------------------------------------------------------
    @contextlib.contextmanager
    def hold(self, count: int, workload: str = "fib"):
        self.check_live_count(count)
        language = self.held_language(workload)
        if language is None:
            bundle = self._bundle(["/bin/sleep", str(HOLD_SECONDS)])
        else:  # the tool's runtime, its tool run once, idle; the memory cgroup caps it
            bundle = self._tool_bundle(_tools.held_tool_argv(workload))
        log = self._workdir / "hold-stderr.log"
        try:
            with open(log, "w") as err:
                for _ in range(count):
                    cid = _owned.new_container_id()
                    self._held[cid] = None  # tracked before it exists, so never missed
                    self._for_container(bundle, cid)
                    pid_file = self._workdir / f"{cid}.pid"
                    # Detached: runc exits once the container runs. A held tool's stdout
                    # is a pipe it keeps (read for READY_LINE); else stdio goes nowhere.
                    runner = subprocess.Popen(
                        [*self._command, "run", "--detach", "--pid-file", str(pid_file),
                         "--bundle", str(bundle), cid],
                        stdin=subprocess.DEVNULL, stderr=err,
                        stdout=subprocess.DEVNULL if language is None else subprocess.PIPE)
                    if runner.stdout is not None:
                        self._held_pipes.append(runner.stdout)
                    try:
                        returncode = runner.wait(timeout=SETUP_SECONDS * 3)
                    except subprocess.TimeoutExpired:
                        runner.kill()
                        runner.wait()
                        raise LabkitError(f"{self.kind} run --detach took over "
                                          f"{SETUP_SECONDS * 3} s") from None
                    if returncode != 0:
                        err.flush()
                        raise LabkitError(f"{self.kind} could not start live container "
                                          f"{len(self._held)} of {count}: "
                                          f"{log.read_text().strip()[-300:]}")
                    self._held[cid] = int(pid_file.read_text())
                    if runner.stdout is not None and not _tools.wait_ready(
                            runner.stdout, _tools.HELD_TOOL_SECONDS):
                        raise LabkitError(f"{self.kind}: held {workload} container "
                                          f"{len(self._held)} of {count} was not ready "
                                          f"within {_tools.HELD_TOOL_SECONDS} s")
            yield list(self._held)
        finally:
            self._release()

    def _release(self) -> None:
        """Delete every held container, several at a time."""
        names = list(self._held)
        while self._held_pipes:
            self._held_pipes.pop().close()
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
        found = run_quiet([self._binary or self.binary, "--version"])
        version = found.stdout.splitlines()[0] if found.stdout else "unknown"
        rootfs = self._rootfs
        return {self.binary: version, "rootfs": rootfs.source if rootfs else "not built"}


    # --- the warm path: exec into a running container ------------------------------------
    def warm_call(self, n: int = STANDARD_N) -> int:
        """fib(n) by the same guest script, exec'd into a running busybox container."""
        check_n(n)
        result = self._warm_judge("busybox", ["/bin/sh", bundle.GUEST_PATH, str(n)])
        if result.returncode != 0:
            raise GuestError(self.kind, f"the exec exited with {result.returncode}: "
                                        f"{result.stderr.strip()[-300:]}")
        try:
            return int(result.stdout.strip())
        except ValueError:
            raise GuestError(self.kind, f"unexpected output {result.stdout[:80]!r}") from None

    def warm_tool(self, language: str, source: str, input_json: str) -> str:
        """The tool's unchanged program, node or python3 exec'd into a running container on
        the tool root (host /usr read-only), the input on stdin; caps as `run_tool`'s."""
        self._require_open()
        _tools.checked_tool_call(self.kind, language, source, input_json, "a container")
        argv = _tools.tool_argv(language, source)
        with _tools.input_file(input_json, self._workdir) as stdin:
            result = self._warm_judge("tools", argv, stdin)
        return _tools.tool_answer(self.kind, result.returncode, result.stdout, result.stderr)

    def _warm_judge(self, root: str, argv: list[str], stdin=None) -> ContainerRun:
        """`_judge` for an exec: the same caps read from the same evidence."""
        self._require_open()
        with CallEvidence.now() as evidence:
            result = self._warm_exec(root, argv, stdin)
            _check_limits_exit(self.kind, result, self.limits, evidence)
        if result.runtime_error:
            raise LabkitError(f"{self.kind} failed to exec in its warm container: "
                              f"{result.runtime_error[-300:]}")
        return result

    def _warm_exec(self, root: str, argv: list[str], stdin=None) -> ContainerRun:
        """Run argv as a new process in the running container of `root` ("busybox" or
        "tools"), started first if there is none (or it is near its HOLD_SECONDS end)."""
        cid, process = self._warm_container(root)
        timeout = self.limits.backstop_seconds(SETUP_SECONDS)
        self._runtime_log = self._workdir / "runtime.log"
        self._runtime_log.unlink(missing_ok=True)
        # The container's own process spec with these args: `exec` alone would drop its
        # rlimits (RLIMIT_CPU among them); seccomp and cgroups come with the container.
        spec = self._workdir / f"exec-{next(self._warm_numbers)}.json"
        spec.write_text(json.dumps({**process, "args": list(argv)}))
        command = [*self._command, "--log", str(self._runtime_log), "--log-format", "json",
                   "exec", "--process", str(spec), cid]
        try:
            returncode, out, err = run_capped(command, timeout, stdin=stdin)
        except subprocess.TimeoutExpired:
            self._drop_warm(root)  # the exec'd process may still run: the container goes
            raise LimitExceeded(self.kind, "time", f"{timeout:g} s wall clock") from None
        except OutputOverflow as exc:
            self._drop_warm(root)
            raise LimitExceeded(self.kind, "output", f"more than {MAX_OUTPUT_BYTES:,} bytes "
                                f"written to {exc.stream}; the container was stopped") from None
        except BaseException:
            self._drop_warm(root)
            raise
        finally:
            spec.unlink(missing_ok=True)
        errors = self._runtime_errors() if returncode != 0 else []
        if returncode != 0 and run_quiet([*self._command, "state", cid]).returncode != 0:
            self._drop_warm(root)  # an OOM kill may have taken its init: start afresh
        return ContainerRun(out, without_lines(err, errors), returncode, "; ".join(errors), cid)

    def _warm_container(self, root: str) -> tuple[str, dict]:
        """The running container for `root`, started detached (sleeping) if needed, and the
        process spec its execs get."""
        found = self._warm.get(root)
        if found is not None and time.monotonic() - found[1] < HOLD_SECONDS - 60:
            return found[0], found[2]
        self._drop_warm(root)
        sleep = ["/bin/sleep", str(HOLD_SECONDS)]
        folder = self._bundle(sleep) if root == "busybox" else self._tool_bundle(sleep)
        cid = _owned.new_container_id()
        process = json.loads((folder / "config.json").read_text())["process"]
        self._warm[root] = (cid, time.monotonic(), process)  # tracked before it exists
        self._for_container(folder, cid)
        log = self._workdir / "warm-stderr.log"
        with open(log, "w") as err:
            done = subprocess.run([*self._command, "run", "--detach", "--bundle", str(folder),
                                   cid], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=err, timeout=SETUP_SECONDS * 3)
        if done.returncode != 0:
            self._drop_warm(root)
            raise LabkitError(f"{self.kind} could not start its warm container: "
                              f"{log.read_text().strip()[-300:]}")
        return cid, process

    def _drop_warm(self, root: str) -> None:
        found = self._warm.pop(root, None)
        if found is not None:
            self._delete(found[0])

    def _stop_warm(self) -> None:
        for root in list(self._warm):
            self._drop_warm(root)


class RuncSandbox(OciSandbox):
    """runc, the reference OCI runtime (Docker's and Kubernetes' default)."""

    kind = "runc"
    binary = "runc"
    state_root = "/run/runc"
    install = "sudo apt-get install runc busybox-static"


class CrunSandbox(OciSandbox):
    """crun, a small OCI runtime in C (Podman's default on Fedora).

    Its cgroups are placed under the lab's own (cgroups.py); crun alone would put them at
    the root of each hierarchy.

    crun 1.8 refuses a cgroup v1 host that also mounts cgroup v2 at
    /sys/fs/cgroup/unified ("hybrid" mode). labkit then runs it inside a private mount
    namespace where that one mount is gone: the host's mounts are untouched. A small holder
    process keeps the namespace alive for the sandbox's lifetime and dies with the kernel.
    """

    kind = "crun"
    binary = "crun"
    state_root = "/run/crun"
    install = "sudo apt-get install crun busybox-static"

    def __init__(self, limits: Limits | None = None, rootfs: str | Path | None = None,
                 runtime: str | Path | None = None):
        super().__init__(limits, rootfs, runtime)
        self._holder: subprocess.Popen | None = None  # keeps the private namespace alive
        self._placement: cgroups.Placement | None = None  # where its cgroups go

    def open(self) -> None:
        self._placement = cgroups.placement()
        super().open()

    def _for_container(self, folder: Path, cid: str) -> Path:
        """Name this container's cgroup under the lab's own (crun would use the root)."""
        if self._placement is not None:
            path = folder / "config.json"
            config = json.loads(path.read_text())
            config["linux"]["cgroupsPath"] = cgroups.container_path(self._placement, cid)
            path.write_text(json.dumps(config))
        return folder

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
            text=True, preexec_fn=_owned.die_with_parent())
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
            cgroups.remove_made(self._placement)
            self._placement = None


