"""A plain OS process: the baseline every sandbox is compared with.

Each call starts a shell (busybox sh when installed, the same binary the containers run,
else /bin/sh) that computes the standard workload and exits. A plain process is NOT
isolated: it shares the host's files, network and process list. It is bounded only by
rlimits (CPU seconds, address space, processes) and a wall-clock timeout, and it runs
nothing but labkit's own guest script, never code a reader or a model supplies.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess

import psutil

from ..errors import GuestError, LimitExceeded
from ..measure import Memory, check_count, processes_memory
from ..workload import STANDARD_N, check_n, guest_source
from .base import Availability, Limits, Sandbox


def shell_command() -> list[str]:
    """The shell that runs the guest script: busybox sh if present, else /bin/sh."""
    busybox = shutil.which("busybox")
    return [busybox, "sh"] if busybox else ["/bin/sh"]


def _rlimits(limits: Limits):
    """A preexec function applying the caps inside the child, before it runs the shell."""
    cpu = max(1, int(limits.cpu_seconds + 0.999))
    memory = limits.memory_mb * 2**20

    def apply():
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))  # SIGXCPU, then SIGKILL
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    return apply


class ProcessSandbox(Sandbox):
    kind = "process"
    default_live = 50

    @classmethod
    def check(cls) -> Availability:
        shell = shell_command()[0]
        if not os.access(shell, os.X_OK):
            return Availability(cls.kind, False, f"no shell at {shell}",
                                "sudo apt-get install busybox-static")
        return Availability(cls.kind, True, "", "")

    def open(self) -> None:
        self._command = [*shell_command(), "-c", guest_source("sh"), "fib"]
        self._held: list[subprocess.Popen] = []

    def cold_call(self, n: int = STANDARD_N) -> int:
        check_n(n)
        try:
            done = subprocess.run(
                [*self._command, str(n)], capture_output=True, text=True,
                timeout=self.limits.cpu_seconds * 2, preexec_fn=_rlimits(self.limits),
            )
        except subprocess.TimeoutExpired:
            raise LimitExceeded(self.kind, "time", f"{self.limits.cpu_seconds} s") from None
        if done.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
            raise LimitExceeded(self.kind, "CPU time", f"{self.limits.cpu_seconds} s")
        if done.returncode != 0:
            raise GuestError(self.kind, f"the shell exited with {done.returncode}: "
                                        f"{done.stderr.strip()[:200]}")
        try:
            return int(done.stdout.strip())
        except ValueError:
            raise GuestError(self.kind, f"unexpected output {done.stdout[:80]!r}") from None

    @contextlib.contextmanager
    def hold(self, count: int):
        check_count("count", count, maximum=self.max_live())
        held = self._held
        try:
            for _ in range(count):
                # An idle shell, blocked reading its stdin until we close it.
                held.append(subprocess.Popen([*shell_command(), "-c", "read _"],
                                             stdin=subprocess.PIPE,
                                             preexec_fn=_rlimits(self.limits)))
            yield list(held)
        finally:
            self._release()

    def _release(self) -> None:
        for proc in self._held:
            proc.kill()
        for proc in self._held:
            proc.wait()
            if proc.stdin:
                proc.stdin.close()
        self._held.clear()

    def footprint(self) -> Memory:
        procs = []
        for proc in getattr(self, "_held", []):
            with contextlib.suppress(psutil.NoSuchProcess):
                procs.append(psutil.Process(proc.pid))
        return processes_memory(procs)

    def max_live(self) -> int:
        # Keep well under the per-user process limit, leaving room for everything else.
        soft, _ = resource.getrlimit(resource.RLIMIT_NPROC)
        room = 2000 if soft == resource.RLIM_INFINITY else max(1, soft // 4)
        return min(room, 2000)

    def close(self) -> None:
        if hasattr(self, "_held"):
            self._release()

    def versions(self) -> dict:
        return {"shell": " ".join(shell_command())}
