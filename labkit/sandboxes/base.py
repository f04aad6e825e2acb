"""The one small protocol every kind of sandbox follows.

A `Sandbox` is the host side of one kind (a wasmtime engine, a workerd server, a folder of
OCI bundles): opening it prepares what instances share, and every `cold_call` then creates
a fresh instance, runs the standard workload in it and tears it down: spin up, execute,
tear down. `hold(count)` keeps that many instances alive at once, to measure density.
Both are bounded by `Limits`, and nothing outlives the `with` block that opened it.

Nor a signal: SIGINT unwinds the `with` blocks (KeyboardInterrupt); SIGTERM and SIGHUP,
whose default is to end the process at once, are caught while a sandbox is open (unless
the program set its own handler): every open sandbox is closed, then the signal's default
action ends the process as it would have. And the first sandbox opened in a process, of any
kind, first removes what killed labs left (workerd servers, runc and crun containers,
bundles).
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
import weakref
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from typing import ClassVar

from ..errors import GuestError, Unavailable
from ..measure import Memory, check_count
from ..workload import STANDARD_N, check_n, expected

# Every sandbox inside its `with` block, so a SIGTERM can close them all.
_open_boxes: weakref.WeakSet = weakref.WeakSet()
_reaped = False
TERMINATING_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP")
                            if hasattr(signal, name))


def _close_all_and_die(signum, frame) -> None:
    """A SIGTERM/SIGHUP handler: close every open sandbox, then die of the signal."""
    for box in list(_open_boxes):
        with contextlib.suppress(BaseException):
            box.close()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _catch_terminating_signals() -> None:
    """Install the handler for signals whose default would skip all cleanup; only on the
    main thread and only where nobody (a notebook kernel, the program) set one already."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in TERMINATING_SIGNALS:
        if signal.getsignal(signum) is signal.SIG_DFL:
            signal.signal(signum, _close_all_and_die)


def reap_leftovers() -> None:
    """Remove what labs killed with SIGKILL left behind, whatever kind they ran: workerd
    servers, runc and crun containers and bundle folders whose owner is gone. Once per
    process, at the first open of any kind (runc/crun need root; else nothing to reap)."""
    global _reaped
    if _reaped:
        return
    _reaped = True
    from .v8 import workerd
    with contextlib.suppress(Exception):
        workerd.stop_leftovers()
    from .containers import CrunSandbox, RuncSandbox
    for cls in (RuncSandbox, CrunSandbox):
        with contextlib.suppress(Exception):
            if cls.check().available:
                box = cls()
                try:  # crun may need its private mount namespace, even to delete
                    box._command = box._runtime_command(cls.runtime_binary())
                    box.remove_leftovers()
                finally:
                    box.close()


@dataclass(frozen=True)
class Availability:
    """Whether a kind runs here; if not, why not and the exact fix."""

    kind: str
    available: bool
    reason: str = ""
    fix: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def raise_if_missing(self) -> None:
        if not self.available:
            raise Unavailable(self.kind, self.reason, self.fix)


@dataclass(frozen=True)
class Limits:
    """Caps on one guest: time for one call, memory, processes (where the kind has them)."""

    cpu_seconds: float = 2.0
    memory_mb: int = 64
    pids: int = 16

    def __post_init__(self):
        for name in ("cpu_seconds", "memory_mb", "pids"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"Limits.{name} must be a number, got {value!r}")
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"Limits.{name} must be a positive number, got {value!r}")
        # Runtimes read a cap of 0 as "no cap": a fraction must never round down to it.
        if self.memory_mb < 1:
            raise ValueError(f"Limits.memory_mb must be at least 1 (MB), got {self.memory_mb!r}")
        if not isinstance(self.pids, int) and not float(self.pids).is_integer():
            raise ValueError(f"Limits.pids must be a whole number, got {self.pids!r}")
        if self.memory_mb > 64 * 1024:
            raise ValueError(f"Limits.memory_mb is absurd: {self.memory_mb} MB (at most 65536)")


class Sandbox(ABC):
    """Base class of every kind; subclasses fill in the abstract methods."""

    kind: ClassVar[str]
    # How many live instances `bench` holds by default to measure memory per instance.
    default_live: ClassVar[int] = 50

    def __init__(self, limits: Limits | None = None):
        self.limits = limits or Limits()
        self._open = False

    # --- availability -------------------------------------------------------------
    @classmethod
    @abstractmethod
    def check(cls) -> Availability:
        """Cheap check: is the runtime installed and permitted? (No instance started.)"""

    @classmethod
    def available(cls) -> Availability:
        """The truth, by a real trial: start one instance, run the workload, check it."""
        found = cls.check()
        if not found.available:
            return found
        try:
            with cls() as box:
                box.run_standard()
        except Exception as exc:  # any failure of the trial means "not available here"
            return Availability(cls.kind, False, f"a trial run failed: {exc}", found.fix)
        return found

    # --- life cycle ---------------------------------------------------------------
    def __enter__(self):
        self.check().raise_if_missing()
        reap_leftovers()
        _catch_terminating_signals()
        self.open()
        self._open = True
        _open_boxes.add(self)
        return self

    def __exit__(self, *exc_info):
        self._open = False
        _open_boxes.discard(self)
        self.close()
        return False

    def open(self) -> None:  # noqa: B027 (an optional hook)
        """Prepare what all instances share (engine, server, root filesystem)."""

    def close(self) -> None:  # noqa: B027 (an optional hook)
        """Release it all; must be safe to call twice and after a failed open."""

    # --- the work -----------------------------------------------------------------
    @abstractmethod
    def cold_call(self, n: int = STANDARD_N) -> int:
        """A fresh instance: create it, run fib(n) in it, tear it down; return the answer."""

    def run_standard(self, n: int = STANDARD_N) -> int:
        """cold_call with its answer checked against the host's own computation."""
        check_n(n)
        answer = self.cold_call(n)
        if answer != expected(n):
            raise GuestError(self.kind, f"wrong answer for fib({n}): {answer!r}, "
                                        f"expected {expected(n)}")
        return answer

    @abstractmethod
    def hold(self, count: int) -> AbstractContextManager[list]:
        """Keep `count` idle instances alive inside the `with` block; release them after."""

    @abstractmethod
    def footprint(self) -> Memory:
        """Memory this kind is using right now (the processes or process it lives in)."""

    def memory_per_instance(self, count: int | None = None) -> float:
        """Bytes of PSS each live instance adds, measured over `count` held at once."""
        count = check_count("count", count or self.default_live, maximum=self.max_live())
        before = self.footprint()
        with self.hold(count):
            during = self.footprint()
        return max((during - before).pss, 0) / count

    def max_live(self) -> int:
        """The most instances `hold` accepts on this machine (subclasses know their limits)."""
        return 10_000

    def versions(self) -> dict:
        """Versions of the runtime pieces, recorded with every measurement."""
        return {}
