"""Podman and Docker: container managers driven through their CLI on a local image.

Warm path (`warm_call`): `exec` into a running container started at the first warm call
with the same caps (its ulimits, seccomp and cgroup apply to every exec), removed on close.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import psutil

from ...errors import LIMIT_CPU, GuestError, LabkitError, LimitExceeded, Unavailable
from ...measure import Memory, processes_memory
from ...workload import READY_LINE, STANDARD_N, check_n
from .. import _owned, _tools
from .._warm import precreated_workload_call
from ..base import Availability, Limits, phase_split
from . import bundle, seccomp
from .bundle import GUEST_PATH
from .common import (
    CPU_EVIDENCE,
    DISABLE_ENV,
    HOLD_SECONDS,
    MAX_OUTPUT_BYTES,
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
)

# The long-lived processes all of Docker's containers share (not the per-container shims).
SHARED_DAEMONS = ("dockerd", "containerd")


class CliSandbox(ContainerSandbox):
    """A container manager driven through its CLI (Docker, Podman) on a local image.

    The image is imported from the same busybox root filesystem (`import`, never `pull`:
    no registry is needed), and every container gets --network none, a read-only root,
    no capabilities, no new privileges, the same seccomp allow list and the same memory and
    pids caps.
    """

    binary: ClassVar[str]
    global_args: ClassVar[list[str]] = []
    run_args: ClassVar[list[str]] = []
    # How `rm --force` kills at once (a sleeping pid 1 ignores SIGTERM: no waiting for it).
    rm_args: ClassVar[list[str]] = []
    install: ClassVar[str]
    image = "labkit-busybox:1"
    # A manager's cold call is a few hundred ms, and holding one is slower still: the quick
    # size takes fewer of each so that a whole quick bench stays near a minute.
    live_counts = {"quick": 10, "full": 50}
    bench_calls = {"quick": 20, "full": 200}
    capabilities = replace(ContainerSandbox.capabilities, warm_calls=True,
                           tools=("javascript", "python"), held_tools=("javascript", "python"))
    # Tool calls: node or python3 from the host's /usr, bind-mounted read-only into a second
    # local image made from the same tool root filesystem runc and crun use (links only:
    # /bin -> usr/bin and so on), input on stdin. Imported, never pulled.
    tool_image = "labkit-tools:1"
    warm_how = ("`exec` into a running container (made ahead with the same caps): each "
                "call a new process in it")

    def __init__(self, limits: Limits | None = None):
        super().__init__(limits)
        self._workdir: Path | None = None
        self._held: dict[str, int | None] = {}
        self._tool_binds: list[str] | None = None  # host folders a tool container gets
        # the running warm containers (plain, tool image), each with when it started
        self._warm: dict[bool, tuple[str, float]] = {}
        # the container made ahead: its name and its input file (None for fib)
        self._ahead: tuple[str, object] | None = None

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
        info = run_quiet([*cls._cli(), "info"], timeout=20)
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
            self._workdir = bundle.make_workdir()
            if run_quiet([*self._cli(), "image", "inspect", self.image]).returncode:
                self._import_image()
        except BaseException:
            self.close()
            raise

    def _import_image(self) -> None:
        rootfs = bundle.build_rootfs(self._workdir / "rootfs")
        if rootfs.source != "busybox-static":
            raise Unavailable(self.kind, "building a local image needs a static busybox",
                              "sudo apt-get install busybox-static")
        tarball = self._workdir / "rootfs.tar"
        with tarfile.open(tarball, "w") as tar:
            tar.add(rootfs.path, arcname=".")
        done = run_quiet([*self._cli(), "import", str(tarball), self.image], timeout=120)
        if done.returncode != 0:
            raise LabkitError(f"{self.kind}: could not import the local image: "
                              f"{done.stderr.strip()[-300:]}")

    def close(self) -> None:
        self._stop_warm()
        self._drop_precreated()
        self._release()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def list_containers(self) -> list[str]:
        """Names of every labkit container the manager knows of right now (any owner)."""
        listing = run_quiet([*self._cli(), "ps", "-a", "--filter", f"name={_owned.PREFIX}",
                                 "--format", "{{.Names}}"])
        return [name for name in listing.stdout.split() if name.startswith(_owned.PREFIX)]

    def remove_leftovers(self) -> list[str]:
        """Delete containers and bundle folders left by a kernel that was killed."""
        stale = [name for name in self.list_containers() if _owned.is_leftover(name)]
        if stale:
            run_quiet([*self._cli(), "rm", "--force", *self.rm_args, *stale], timeout=60)
        _owned.remove_leftover_folders()
        return stale

    def _container_args(self, name: str) -> list[str]:
        cpu = self.limits.cpu_rlimit
        return ["--name", name, "--network", "none", "--read-only", "--cap-drop", "ALL",
                "--security-opt", "no-new-privileges", *self._seccomp_args(),
                "--hostname", bundle.HOSTNAME,
                "--memory", f"{int(self.limits.memory_mb)}m",
                "--memory-swap", f"{int(self.limits.memory_mb)}m",
                "--pids-limit", str(int(self.limits.pids)), "--ulimit", f"cpu={cpu}:{cpu + 1}",
                "--tmpfs", "/tmp:size=8m", *self.run_args]

    def _seccomp_args(self) -> list[str]:
        """The same seccomp allow list as runc and crun get (seccomp.py), from a file in
        the sandbox's folder: Podman's own default still lets a guest `unshare -U`."""
        if self._workdir is None:
            return []
        path = self._workdir / "seccomp.json"
        if not path.exists():
            path.write_text(json.dumps(seccomp.profile()))
        return ["--security-opt", f"seccomp={path}"]

    def _run(self, args: list[str], stdin=None) -> ContainerRun:
        """One container running args, removed after; `stdin` (a tool call's input) makes
        it a tool container (the tool image, the host's /usr read-only)."""
        name = _owned.new_container_id()
        timeout = self.limits.backstop_seconds(SETUP_SECONDS * 3)
        image = [*self._tool_args(), self.tool_image] if stdin is not None else [self.image]
        interactive = ["--interactive"] if stdin is not None else []
        try:
            # In the sandbox's own folder: conmon drops an "oom" file in its working
            # directory when a container is OOM-killed; it goes away with the folder.
            returncode, out, err = run_capped(
                [*self._cli(), "run", "--rm", *interactive, *self._container_args(name),
                 *image, *args], timeout, cwd=self._workdir, stdin=stdin)
        except subprocess.TimeoutExpired:
            run_quiet([*self._cli(), "rm", "--force", *self.rm_args, name])
            raise LimitExceeded(self.kind, "time", f"{timeout:g} s wall clock") from None
        except OutputOverflow as exc:
            run_quiet([*self._cli(), "rm", "--force", *self.rm_args, name])
            raise LimitExceeded(self.kind, "output", f"more than {MAX_OUTPUT_BYTES:,} bytes "
                                f"written to {exc.stream}; the container was stopped") from None
        except BaseException:
            run_quiet([*self._cli(), "rm", "--force", *self.rm_args, name])
            raise
        return ContainerRun(out, err, returncode)

    # --- tool calls ----------------------------------------------------------------------
    def _tool_args(self) -> list[str]:
        """Read-only binds of the host's /usr (and any real /lib-style folder) and the tool
        environment; the tool image is imported at the first tool call."""
        if self._tool_binds is None:
            rootfs = bundle.build_rootfs(self._workdir / "rootfs-tools", use_host=True)
            if run_quiet([*self._cli(), "image", "inspect", self.tool_image]).returncode:
                self._import(rootfs.path, self.tool_image)
            self._tool_binds = rootfs.host_binds
        binds = [f"--mount=type=bind,source={d},target={d},readonly" for d in self._tool_binds]
        env = [f"--env={key}={value}" for key, value in _tools.TOOL_ENV.items()]
        return [*binds, *env]

    def _import(self, folder: Path, image: str) -> None:
        tarball = self._workdir / f"{image.replace(':', '-')}.tar"
        with tarfile.open(tarball, "w") as tar:
            tar.add(folder, arcname=".")
        done = run_quiet([*self._cli(), "import", str(tarball), image], timeout=120)
        tarball.unlink(missing_ok=True)
        if done.returncode != 0:
            raise LabkitError(f"{self.kind}: could not import the local image {image}: "
                              f"{done.stderr.strip()[-300:]}")

    def _run_tool(self, language: str, source: str, input_json: str) -> str:
        """node or python3 from the host's /usr in a fresh container; input on stdin."""
        _tools.checked_tool_call(self.kind, language, source, input_json, "a container")
        argv = _tools.tool_argv(language, source)  # the memory cgroup caps node's heap
        with _tools.input_file(input_json, self._workdir) as stdin:
            result = self._judge(argv, stdin=stdin)
        return _tools.tool_answer(self.kind, result.returncode, result.stdout, result.stderr)

    @contextlib.contextmanager
    def hold(self, count: int, workload: str = "fib"):
        self.check_live_count(count)
        language = self.held_language(workload)
        # a held tool: its runtime, the tool run once, idle (the memory cgroup caps it)
        program = ([self.image, "/bin/sleep", str(HOLD_SECONDS)] if language is None else
                   [*self._tool_args(), self.tool_image, *_tools.held_tool_argv(workload)])
        try:
            for _ in range(count):
                name = _owned.new_container_id()
                self._held[name] = None
                done = run_quiet([*self._cli(), "run", "--detach",
                                      *self._container_args(name), *program], timeout=60,
                                     cwd=self._workdir)
                if done.returncode != 0:
                    raise LabkitError(f"{self.kind} could not start a live container: "
                                      f"{done.stderr.strip()[-300:]}")
                if language is not None:
                    self._wait_ready(name)
                pid = run_quiet([*self._cli(), "inspect", "--format",
                                     "{{.State.Pid}}", name]).stdout.strip()
                self._held[name] = int(pid) if pid.isdigit() else None
            yield list(self._held)
        finally:
            self._release()

    def _wait_ready(self, name: str) -> None:
        """Block until a held tool container printed READY_LINE (its `logs` say so)."""
        deadline = time.monotonic() + _tools.HELD_TOOL_SECONDS
        while time.monotonic() < deadline:
            logs = run_quiet([*self._cli(), "logs", name], timeout=30)
            if READY_LINE in logs.stdout.split():
                return
            time.sleep(0.05)
        raise LabkitError(f"{self.kind}: held tool container {name} was not ready within "
                          f"{_tools.HELD_TOOL_SECONDS} s")

    def _release(self) -> None:
        names = list(self._held)
        for start in range(0, len(names), 50):
            run_quiet([*self._cli(), "rm", "--force", *self.rm_args,
                           *names[start:start + 50]], timeout=120)
        self._held.clear()

    def footprint(self) -> Memory:
        return containers_memory(pid for pid in self._held.values() if pid)

    def max_live(self) -> int:
        room = psutil.virtual_memory().available // (16 * 2**20)
        return int(max(1, min(500, room)))

    def versions(self) -> dict:
        found = run_quiet([*self._cli(), "--version"])
        return {self.binary: found.stdout.strip() or "unknown"}


    # --- the pre-created path: `create` ahead, `start --attach` on the call -----------------
    def _create_ahead(self, argv: list[str], input_json: str | None) -> None:
        """`create` (not run) a container of argv with the caps of a cold call's: the tool
        image, interactive, when it has an input."""
        name = _owned.new_container_id()
        tool = input_json is not None
        image = [*self._tool_args(), self.tool_image] if tool else [self.image]
        given = None
        if tool:
            given = tempfile.TemporaryFile(dir=self._workdir)
            given.write(input_json.encode())
            given.seek(0)
        self._ahead = (name, given)  # tracked before it exists: close() removes it
        done = run_quiet([*self._cli(), "create", *(["--interactive"] if tool else []),
                          *self._container_args(name), *image, *argv], timeout=60,
                         cwd=self._workdir)
        if done.returncode != 0:
            self._drop_precreated()
            raise LabkitError(f"{self.kind} could not create a container ahead: "
                              f"{done.stderr.strip()[-300:]}")

    def _start_ahead(self) -> ContainerRun:
        """`start --attach` the made container (its input on stdin): the manager waits for
        it and exits with its code."""
        name, given = self._ahead
        interactive = ["--interactive"] if given is not None else []
        timeout = self.limits.backstop_seconds(SETUP_SECONDS * 3)
        try:
            returncode, out, err = run_capped(
                [*self._cli(), "start", "--attach", *interactive, name], timeout,
                cwd=self._workdir, stdin=given)
        except subprocess.TimeoutExpired:
            self._drop_precreated()
            raise LimitExceeded(self.kind, "time", f"{timeout:g} s wall clock") from None
        except OutputOverflow as exc:
            self._drop_precreated()
            raise LimitExceeded(self.kind, "output", f"more than {MAX_OUTPUT_BYTES:,} bytes "
                                f"written to {exc.stream}; the container was stopped") from None
        except BaseException:
            self._drop_precreated()
            raise
        return ContainerRun(out, err, returncode)

    def _drop_precreated(self) -> None:
        """Remove the container made ahead (started or not) and close its input."""
        found, self._ahead = self._ahead, None
        if found is not None:
            try:
                run_quiet([*self._cli(), "rm", "--force", *self.rm_args, found[0]],
                          timeout=60)
            finally:
                if found[1] is not None:
                    found[1].close()

    # --- where the time goes ----------------------------------------------------------------
    def _phases(self, workload: str) -> dict[str, float]:
        """One cold call of `workload` as the manager's own commands: `create` (the container
        recorded: its layer, its config, its cgroup parent), `start` (`start --attach`: the
        runtime makes namespaces and cgroup, the guest runs, the manager waits for its exit
        and relays its output), `remove` (`rm`); "other" is labkit's own time between them.
        Three CLI calls where a cold call's `run --rm` is one, so the split costs two more
        start-ups of the CLI (each about its floor). Uses, and so replaces, the container
        made ahead by `precreate`."""
        prepare, call = precreated_workload_call(self, workload)
        clock = time.monotonic_ns
        start = clock()
        t0 = clock()
        prepare()
        t1 = clock()
        try:
            call()
            t2 = clock()
        finally:
            t3 = clock()
            self._drop_precreated()
            t4 = clock()
        return phase_split([("create", t0, t1), ("start", t1, t2), ("remove", t3, t4)],
                           start, clock())

    # --- the warm path: exec into a running container -------------------------------------
    def warm_call(self, n: int = STANDARD_N) -> int:
        """fib(n) by the same guest script, `exec`'d into a running container."""
        check_n(n)
        with CallEvidence.now() as evidence:
            result = self._warm_exec(["/bin/sh", GUEST_PATH, str(n)])
            _check_limits_exit(self.kind, result, self.limits, evidence)
        if result.returncode != 0:
            raise GuestError(self.kind, f"the exec exited with {result.returncode}: "
                                        f"{result.stderr.strip()[-300:]}")
        try:
            return int(result.stdout.strip())
        except ValueError:
            raise GuestError(self.kind, f"unexpected output {result.stdout[:80]!r}") from None

    def warm_tool(self, language: str, source: str, input_json: str) -> str:
        """The tool's unchanged program, node or python3 `exec`'d (with the input on stdin)
        into a running container of the tool image (host /usr read-only); caps as
        `run_tool`'s, from the container."""
        self._require_open()
        _tools.checked_tool_call(self.kind, language, source, input_json, "a container")
        argv = _tools.tool_argv(language, source)
        with _tools.input_file(input_json, self._workdir) as stdin:
            with CallEvidence.now() as evidence:
                result = self._warm_exec(argv, stdin)
                _check_limits_exit(self.kind, result, self.limits, evidence)
        return _tools.tool_answer(self.kind, result.returncode, result.stdout, result.stderr)

    def _warm_exec(self, argv: list[str], stdin=None) -> ContainerRun:
        """argv exec'd into the warm container (the tool image's when `stdin` carries a
        tool's input); a container that misbehaved is removed, to start afresh."""
        tool = stdin is not None
        name = self._warm_container(tool)
        timeout = self.limits.backstop_seconds(SETUP_SECONDS * 3)
        interactive = ["--interactive"] if tool else []
        try:
            returncode, out, err = run_capped([*self._cli(), "exec", *interactive, name, *argv],
                                              timeout, cwd=self._workdir, stdin=stdin)
        except subprocess.TimeoutExpired:
            self._stop_warm(tool)
            raise LimitExceeded(self.kind, "time", f"{timeout:g} s wall clock") from None
        except OutputOverflow as exc:
            self._stop_warm(tool)
            raise LimitExceeded(self.kind, "output", f"more than {MAX_OUTPUT_BYTES:,} bytes "
                                f"written to {exc.stream}; the container was stopped") from None
        except BaseException:
            self._stop_warm(tool)
            raise
        if returncode != 0 and run_quiet([*self._cli(), "exec", name, "true"]).returncode:
            self._stop_warm(tool)  # its init is gone (an OOM kill?): start afresh next call
        return ContainerRun(out, err, returncode)

    def _warm_container(self, tool: bool = False) -> str:
        """The running container of the warm path (of the tool image if `tool`), started
        (sleeping) if needed."""
        self._require_open()
        found = self._warm.get(tool)
        if found is not None and time.monotonic() - found[1] < HOLD_SECONDS - 60:
            return found[0]
        self._stop_warm(tool)
        name = _owned.new_container_id()
        self._warm[tool] = (name, time.monotonic())  # tracked before it exists
        image = [*self._tool_args(), self.tool_image] if tool else [self.image]
        done = run_quiet([*self._cli(), "run", "--detach", *self._container_args(name),
                          *image, "/bin/sleep", str(HOLD_SECONDS)], timeout=60,
                         cwd=self._workdir)
        if done.returncode != 0:
            self._stop_warm(tool)
            raise LabkitError(f"{self.kind} could not start its warm container: "
                              f"{done.stderr.strip()[-300:]}")
        return name

    def _stop_warm(self, tool: bool | None = None) -> None:
        """Remove the warm container (of the tool image, of the plain one, or both)."""
        for which in ((False, True) if tool is None else (tool,)):
            found = self._warm.pop(which, None)
            if found is not None:
                run_quiet([*self._cli(), "rm", "--force", *self.rm_args, found[0]],
                          timeout=60)
                _end_monitors(found[0])


def _end_monitors(name: str, seconds: float = 5.0) -> None:
    """Wait briefly for the monitors of a removed container (Podman's conmon, one per
    container and one per `exec` session) to exit, then kill any still there: an exec
    session's conmon can outlive `rm --force` by a moment."""
    def monitors():
        found = []
        for proc in psutil.process_iter(["name", "cmdline"]):
            if proc.info["name"] == "conmon" and name in (proc.info["cmdline"] or []):
                found.append(proc)
        return found

    left = monitors()
    if left:
        _, alive = psutil.wait_procs(left, timeout=seconds)
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(alive, timeout=seconds)


class PodmanSandbox(CliSandbox):
    """Podman: Docker's CLI without a daemon; each container gets a small conmon monitor."""

    kind = "podman"
    binary = "podman"
    # Needed where podman runs without systemd (as in containers and small VMs) and
    # without CAP_SYS_RESOURCE to raise ulimits: cgroups managed directly, events to a
    # file, runc (the runtime the other kinds also use).
    global_args = ["--cgroup-manager", "cgroupfs", "--events-backend", "file",
                   "--runtime", "runc"]
    run_args = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]
    rm_args = ["--time", "0"]
    install = "sudo apt-get install podman"

    def _shared_footprint(self) -> tuple[Memory, str]:
        """Podman runs no daemon: its CLI exits once a container runs, and each container's
        conmon monitor exists for that container alone (counted with it, per instance)."""
        return Memory(), ("nothing: podman runs no daemon; each container's own conmon "
                          "monitor is counted per instance")

    def floor_call(self) -> None:
        """`podman version` through the same CLI and capped reader: Podman's own start-up
        (its configuration, its storage opened), no container."""
        returncode, _, err = run_capped([*self._cli(), "version", "--format",
                                         "{{.Client.Version}}"], SETUP_SECONDS)
        if returncode != 0:
            raise GuestError(self.kind, f"podman version failed: {err.strip()[:200]}")

    @classmethod
    def _not_answering(cls, last_error: list[str]) -> Availability:
        return Availability(cls.kind, False, "podman is installed but `podman info` failed: "
                            f"{last_error[0][:160]}",
                            "run the lab as root, or set up rootless podman for your user "
                            "(subuid/subgid ranges, a writable home); " + NOT_HERE_FIX)


class DockerSandbox(CliSandbox):
    """Docker: a CLI talking to the dockerd daemon, which drives containerd and runc.

    Two things set it apart from Podman here:
    - Where dockerd uses the cgroupfs driver, each container goes under a cgroup parent named
      after it (`/labkit-<owner>-<n>`), which labkit removes after the call. The kernel's
      OOM and refused-fork messages then name the container, and the parent keeps the CPU
      time its container used after the container is gone: the evidence that a SIGKILL was
      the CPU cap (the container is dockerd's child, never ours, so RUSAGE_CHILDREN cannot
      tell). With the systemd driver (a laptop's usual dockerd) that evidence is missing and
      a CPU-cap kill reads as the guest's own exit 137.
    - Tool calls: node or python3 from the host's /usr, bind-mounted read-only into a
      second local image made from the same tool root filesystem runc and crun use (links
      only: /bin -> usr/bin and so on), input on stdin. Imported, never pulled.
    """

    kind = "docker"
    binary = "docker"
    install = ("install docker.io and start its daemon (sudo systemctl start docker), and "
               "be root or in the docker group")

    def __init__(self, limits: Limits | None = None):
        super().__init__(limits)
        self._cgroupfs = False  # dockerd's cgroup driver, read when opened

    @classmethod
    def runtime_binary(cls) -> str | None:
        # Debian's client matches Debian's daemon; a newer client on PATH may not.
        return "/usr/bin/docker" if os.access("/usr/bin/docker", os.X_OK) else \
            shutil.which("docker")

    def _shared_footprint(self) -> tuple[Memory, str]:
        """The daemons every container of this host's Docker shares: dockerd and the
        containerd it drives (each container's containerd-shim is counted per instance)."""
        daemons = [proc for proc in psutil.process_iter(["name"])
                   if proc.info["name"] in SHARED_DAEMONS]
        return processes_memory(daemons), "the daemons dockerd and containerd"

    @classmethod
    def check(cls) -> Availability:
        if disabled(cls.kind) or cls.runtime_binary() is None:
            return super().check()
        info = run_quiet([*cls._cli(), "info"], timeout=20)
        if info.returncode != 0:
            # The client's own error line ("ERROR: ...", on stdout for `info`), not its
            # trailing "errors pretty printing info" on stderr.
            lines = [line.strip() for line in (info.stdout + "\n" + info.stderr).splitlines()
                     if line.strip()]
            said = next((line for line in lines if line.startswith("ERROR")), None)
            said = said or (lines[-1] if lines else "no message")
            return cls._not_answering([said.removeprefix("ERROR: ")])
        return Availability(cls.kind, True)

    @classmethod
    def _not_answering(cls, last_error: list[str]) -> Availability:
        said = last_error[0]
        if "permission denied" in said.lower():
            socket = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
            return Availability(cls.kind, False, f"dockerd runs, but this user (uid "
                                f"{os.geteuid()}) may not use its socket {socket}: "
                                "permission denied (not root, not in the docker group)",
                                "run the lab as root, or add the user to the docker group "
                                "(sudo usermod -aG docker $USER, then log in again; that "
                                "group is as strong as root); " + NOT_HERE_FIX)
        return Availability(cls.kind, False, "the docker CLI is installed but no daemon "
                            f"answers (`docker info` failed: {said[:160]})",
                            "start dockerd (sudo systemctl start docker) and run as root or "
                            "a member of the docker group; " + NOT_HERE_FIX)

    def open(self) -> None:
        driver = run_quiet([*self._cli(), "info", "--format", "{{.CgroupDriver}}"], timeout=20)
        self._cgroupfs = driver.stdout.strip() == "cgroupfs"
        super().open()

    # --- one container per call ------------------------------------------------------
    def _container_args(self, name: str) -> list[str]:
        # Docker mounts a --tmpfs noexec unless told: /tmp as runc's and Podman's (exec,
        # still nosuid and nodev).
        args = [f"{arg},exec" if arg == "/tmp:size=8m" else arg
                for arg in super()._container_args(name)]
        return [*args, "--cgroup-parent", f"/{name}"] if self._cgroupfs else args

    def _run(self, args: list[str], stdin=None) -> ContainerRun:
        """One container, as Podman's, plus its cgroup parent's CPU time read and the parent
        removed; `stdin` (a tool call's input) makes it a tool container."""
        name = _owned.new_container_id()
        timeout = self.limits.backstop_seconds(SETUP_SECONDS * 3)
        image = [*self._tool_args(), self.tool_image] if stdin is not None else [self.image]
        interactive = ["--interactive"] if stdin is not None else []
        command = [*self._cli(), "run", "--rm", *interactive, *self._container_args(name),
                   *image, *args]
        try:
            returncode, out, err = run_capped(command, timeout, cwd=self._workdir,
                                              stdin=stdin)
        except subprocess.TimeoutExpired:
            self._remove(name)
            raise LimitExceeded(self.kind, "time", f"{timeout:g} s wall clock") from None
        except OutputOverflow as exc:
            self._remove(name)
            raise LimitExceeded(self.kind, "output", f"more than {MAX_OUTPUT_BYTES:,} bytes "
                                f"written to {exc.stream}; the container was stopped") from None
        except BaseException:
            self._remove(name)
            raise
        used = self._parent_cpu_seconds(name)
        self._remove_parent(name)
        self._check_cpu_cap(returncode, used)
        return ContainerRun(out, err, returncode, name=name if self._cgroupfs else "")

    def _check_cpu_cap(self, returncode: int, used: float) -> None:
        """LimitExceeded(CPU) for a container killed at its RLIMIT_CPU, read from the CPU
        time its cgroup parent counted (`used`, s): the evidence the guest cannot forge."""
        if returncode in (128 + signal.SIGKILL, 128 + signal.SIGXCPU) and \
                used >= CPU_EVIDENCE * self.limits.cpu_rlimit:
            raise LimitExceeded(self.kind, LIMIT_CPU, f"RLIMIT_CPU of "
                                f"{self.limits.cpu_seconds} s; killed at the limit")

    def _start_ahead(self) -> ContainerRun:
        """As Podman's, plus the CPU cap read from the container's cgroup parent."""
        name = self._ahead[0]
        result = super()._start_ahead()
        self._check_cpu_cap(result.returncode, self._parent_cpu_seconds(name))
        return replace(result, name=name if self._cgroupfs else "")

    def _drop_precreated(self) -> None:
        name = self._ahead[0] if self._ahead is not None else None
        super()._drop_precreated()
        if name is not None:
            self._remove_parent(name)

    def _remove(self, name: str) -> None:
        run_quiet([*self._cli(), "rm", "--force", *self.rm_args, name])
        self._remove_parent(name)

    # --- cgroup parents ----------------------------------------------------------------
    def _parent_cpu_seconds(self, name: str) -> float:
        """CPU time the container's processes used, from its cgroup parent (0 if unknown)."""
        if not self._cgroupfs:
            return 0.0
        for top in cgroup_tops():
            with contextlib.suppress(OSError, ValueError):
                usage = top / name / "cpuacct.usage"  # cgroup v1: nanoseconds
                if usage.exists():
                    return int(usage.read_text()) / 1e9
                stat = top / name / "cpu.stat"  # cgroup v2: usage_usec
                if stat.exists():
                    fields = dict(line.split() for line in stat.read_text().splitlines())
                    if "usage_usec" in fields:  # (v1's cpu controller has a cpu.stat too)
                        return int(fields["usage_usec"]) / 1e6
        return 0.0

    def _remove_parent(self, name: str) -> None:
        """Remove a container's cgroup parent in every hierarchy (an rmdir: the kernel
        refuses while anything is inside, so nothing in use can go). dockerd removes the
        container's own cgroup just after the container exits: wait briefly for it."""
        if not self._cgroupfs:
            return
        deadline = time.monotonic() + 5
        for top in cgroup_tops():
            folder = top / name
            while folder.is_dir():
                try:
                    folder.rmdir()
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.02)

    def _release(self) -> None:
        names = list(self._held)
        super()._release()
        for name in names:
            self._remove_parent(name)

    def _stop_warm(self, tool: bool | None = None) -> None:
        names = [self._warm[w][0] for w in ((False, True) if tool is None else (tool,))
                 if w in self._warm]
        super()._stop_warm(tool)
        for name in names:
            self._remove_parent(name)

    def remove_leftovers(self) -> list[str]:
        """Also the cgroup parents of a killed lab's containers (after those are gone)."""
        stale = super().remove_leftovers()
        for top in cgroup_tops():
            with contextlib.suppress(OSError):
                for folder in top.iterdir():
                    if folder.name.startswith(_owned.PREFIX) and \
                            _owned.is_leftover(folder.name):
                        with contextlib.suppress(OSError):
                            folder.rmdir()
        return stale

    # --- the floor ----------------------------------------------------------------------
    def floor_call(self) -> None:
        """`docker version` through the same CLI and capped reader: one round trip to the
        daemon and back, no container."""
        returncode, _, err = run_capped([*self._cli(), "version", "--format",
                                         "{{.Server.Version}}"], SETUP_SECONDS)
        if returncode != 0:
            raise GuestError(self.kind, f"docker version failed: {err.strip()[:200]}")


def cgroup_tops() -> list[Path]:
    """Mount points of every cgroup (v1) and cgroup2 hierarchy this process sees."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    tops = []
    for line in lines:
        if " - " in line and line.split(" - ", 1)[1].split()[0] in ("cgroup", "cgroup2"):
            tops.append(Path(line.split()[4].replace("\\040", " ")))
    return tops
