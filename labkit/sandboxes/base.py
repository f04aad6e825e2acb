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
import functools
import math
import os
import signal
import threading
import time
import traceback
import weakref
from abc import ABC, abstractmethod
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from ..errors import (
    LIMIT_CPU,
    LIMIT_TIME,
    GuestError,
    LabkitError,
    NotOpen,
    NotSupported,
    Unavailable,
)
from ..measure import Memory, check_count
from ..workload import STANDARD_N, WORKLOAD_LANGUAGES, check_n, check_workload, expected

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
    """Remove what labs killed with SIGKILL left behind, whatever kind they ran: each kind
    sweeps its own (`sweep_leftovers`: workerd servers, runc and crun containers, bundle
    folders whose owner is gone). Once per process, at the first open of any kind."""
    global _reaped
    if _reaped:
        return
    _reaped = True
    from . import KINDS, sandbox_class
    for kind in KINDS:
        with contextlib.suppress(Exception):  # a kind that cannot run here has nothing left
            sandbox_class(kind).sweep_leftovers()


@dataclass(frozen=True)
class Availability:
    """Whether a kind runs here; if not, why not and the exact fix.

    `traceback` is kept only when the reason is a bug in labkit (not a state of this
    machine), for the report; it is not part of `to_dict`.
    """

    kind: str
    available: bool
    reason: str = ""
    fix: str = ""
    traceback: str = field(default="", repr=False, compare=False)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "available": self.available, "reason": self.reason,
                "fix": self.fix}

    def raise_if_missing(self) -> None:
        if not self.available:
            raise Unavailable(self.kind, self.reason, self.fix)


# A guest that sleeps uses no CPU time: kinds whose cap counts CPU time also stop a call
# after this wall-clock backstop, 2 x cpu_seconds + the runtime's own set-up allowance.
BACKSTOP_FACTOR = 2


@dataclass(frozen=True)
class Limits:
    """Caps on one guest, each with one meaning in every kind.

    cpu_seconds: the CPU time one call may use. Kinds that count CPU time
        (`capabilities.cpu_cap == "cpu-time"`: process, containers) cap it with RLIMIT_CPU,
        which the kernel counts in whole seconds (so 0.5 becomes 1), plus a wall-clock
        backstop (`backstop_seconds`) for a guest that sleeps; the cap reads as
        LimitExceeded("CPU time"), the backstop as "time". Kinds that cannot count a
        guest's CPU time (`"wall-clock"`: wasm, V8, whose guests run on threads they share)
        stop the call when this much wall-clock time has passed, which is stricter (a
        call's CPU time never exceeds its wall time); it reads as LimitExceeded("time").
    memory_mb: the memory one guest may use, in MB (what is counted differs by kind and is
        stated in `capabilities.memory_cap`).
    pids: the processes one guest may run at once; only kinds whose
        `capabilities.pids_cap` is True enforce it (containers, through their pids cgroup).
    """

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
        if self.pids < 1:
            raise ValueError(f"Limits.pids must be at least 1, got {self.pids!r}")
        if self.memory_mb > 64 * 1024:
            raise ValueError(f"Limits.memory_mb is absurd: {self.memory_mb} MB (at most 65536)")

    @property
    def cpu_rlimit(self) -> int:
        """cpu_seconds as RLIMIT_CPU takes it: whole seconds, rounded up, at least 1."""
        return max(1, math.ceil(self.cpu_seconds))

    def backstop_seconds(self, setup_seconds: float = 0.0) -> float:
        """The wall-clock backstop of a CPU-time cap: BACKSTOP_FACTOR x cpu_seconds plus
        what the runtime itself needs to set up and tear down."""
        return BACKSTOP_FACTOR * self.cpu_seconds + setup_seconds


# The wall around each guest, weakest to strongest for the same host (issue-by-issue kinds
# join one of these): a language runtime's isolate, a plain process, namespaces alone
# (bubblewrap), a container (namespaces + cgroups), a user-space kernel (gVisor), a VM.
FAMILIES = ("isolate", "process", "namespaces", "container", "user-space kernel", "micro-VM")


@dataclass(frozen=True)
class Capabilities:
    """What a kind can do, as data: callers read it instead of probing with hasattr.

    family: one of FAMILIES: "isolate" (many guests inside one host process), "process"
        (a plain OS process per guest), "namespaces" (namespaces without cgroups: bwrap),
        "container" (namespaces and cgroups per guest), "user-space kernel" (gVisor: the
        guest's system calls served by a kernel in user space), "micro-VM" (a VM per guest).
    guest_languages: what guest code a reader may hand it: ("wat",) for `call_export` in
        wasm, ("javascript",) in V8, ("sh",) for `run_script` in containers; () when it
        runs only labkit's own workload.
    exports: `call_export(source, export, *args)` runs one function of the reader's code.
    scripts: `run_script(script, *args)` runs a shell script in a fresh guest.
    warm_calls: `warm_call(n)` reuses one guest (the baseline without creating one).
    precreated: `precreate(workload)` makes a fresh guest ahead, off the clock, and
        `start_precreated()` starts it: what a call from a pool of made-ahead containers
        pays (containers: `create` ahead, `start` on the call).
    restart: `fresh_runtime()` replaces a runtime all guests share (V8's workerd), so a
        density point does not start from another's garbage.
    cpu_cap: how Limits.cpu_seconds is enforced: "cpu-time" or "wall-clock".
    memory_cap: what Limits.memory_mb counts in this kind, in a few words.
    pids_cap: whether Limits.pids is enforced.
    tools: the languages `run_tool(language, source, input_json)` hosts ("javascript",
        "python"): the same agent-written program, unchanged, in every kind that has it.
    held_tools: the tool languages `hold(count, workload)` can keep live, each instance the
        tool's runtime after one run of the tool (what bench weighs for a tool workload).
    """

    family: Literal["isolate", "process", "namespaces", "container", "user-space kernel",
                    "micro-VM"]
    cpu_cap: Literal["cpu-time", "wall-clock"]
    memory_cap: str
    guest_languages: tuple[str, ...] = ()
    exports: bool = False
    scripts: bool = False
    warm_calls: bool = False
    precreated: bool = False
    restart: bool = False
    pids_cap: bool = False
    tools: tuple[str, ...] = ()
    held_tools: tuple[str, ...] = ()

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {', '.join(FAMILIES)}, "
                             f"got {self.family!r}")
        if self.cpu_cap not in ("cpu-time", "wall-clock"):
            raise ValueError(f"cpu_cap must be 'cpu-time' or 'wall-clock', got {self.cpu_cap!r}")

    @property
    def cpu_limit_name(self) -> str:
        """What LimitExceeded.limit says when this kind's CPU cap stops a guest."""
        return LIMIT_CPU if self.cpu_cap == "cpu-time" else LIMIT_TIME


# Optional operations: the capability that promises each, and the method it names.
OPTIONAL = {"exports": "call_export", "scripts": "run_script", "warm_calls": "warm_call",
            "precreated": "precreate", "restart": "fresh_runtime"}
# Every public operation that needs an open sandbox: a kind's own definition of any of
# these is wrapped (in __init_subclass__) by the one check that raises NotOpen.
NEEDS_OPEN = ("cold_call", "run_standard", "warm_call", "hold", "footprint",
              "memory_per_instance", "density_curve", "call_export", "run_script", "run_js",
              "run_wasi", "compile", "fresh_runtime", "extra_figures", "bundle_for",
              "floor_call", "precreate", "start_precreated")


def _needs_open(method):
    """The one not-open check, around one public operation."""
    @functools.wraps(method)
    def checked(self, *args, **kwargs):
        if not self._open:
            raise NotOpen(self.kind)
        return method(self, *args, **kwargs)

    checked.needs_open = True
    return checked


def kinds_that_can(capability: str) -> list[str]:
    """Registered kinds whose capabilities promise `capability` (for NotSupported's text)."""
    return _kinds_where(lambda cls: getattr(cls.capabilities, capability))


def kinds_with_floor() -> list[str]:
    """Registered kinds that measure a harness floor (for NotSupported's text)."""
    return _kinds_where(lambda cls: cls.floor_call is not Sandbox.floor_call)


def kinds_with_phases() -> list[str]:
    """Registered kinds that split a cold call into named intervals (for NotSupported)."""
    return _kinds_where(lambda cls: cls._phases is not Sandbox._phases)


def _kinds_where(test) -> list[str]:
    """Registered kinds whose class passes `test` (a kind that cannot load is left out)."""
    from . import KINDS, sandbox_class
    found = []
    for kind in KINDS:
        with contextlib.suppress(Unavailable):
            if test(sandbox_class(kind)):
                found.append(kind)
    return found


def phase_split(spans: list[tuple[str, int, int]], start_ns: int, end_ns: int) -> dict:
    """Named intervals of one call, in ms and in order, from (name, t0_ns, t1_ns) spans on
    one monotonic clock, plus "other": the call's wall time (start_ns to end_ns) the spans
    leave out, so the whole adds up to the call."""
    found = {name: (t1 - t0) / 1e6 for name, t0, t1 in spans}
    # in whole nanoseconds: spans that cover the call exactly leave 0, not -3e-15
    found["other"] = ((end_ns - start_ns) - sum(t1 - t0 for _, t0, t1 in spans)) / 1e6
    return found


# What a kind whose every instance runs in processes of its own shares with the others.
NOTHING_SHARED = ("nothing: each instance runs in processes of its own, all counted per "
                  "instance")


def _kinds_hosting(language: str) -> list[str]:
    """Registered kinds whose run_tool hosts `language` (for NotSupported's text)."""
    from . import KINDS, sandbox_class
    found = []
    for kind in KINDS:
        with contextlib.suppress(Unavailable):
            if language in sandbox_class(kind).capabilities.tools:
                found.append(kind)
    return found


class Sandbox(ABC):
    """Base class of every kind; subclasses fill in the abstract methods.

    A kind states `kind`, `capabilities` and `live_counts`, creates all its state in
    `__init__`, prepares shared parts in `open()` and releases them in `close()`. Using
    any operation outside the `with` block raises NotOpen, the same for every kind.
    """

    kind: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    # The most live instances `bench` holds of this kind, per size ("quick" is also the
    # default count of memory_per_instance): bench holds the same number of every kind
    # (bench.MEMORY_N) unless this is fewer (a VM boots in seconds), and then says so.
    live_counts: ClassVar[dict[str, int]] = {"quick": 50, "full": 50}
    # How many cold calls `bench` times per size when the caller names none: a slow kind
    # (a user-space kernel, a VM) takes fewer, and its row says how many it took.
    bench_calls: ClassVar[dict[str, int]] = {"quick": 100, "full": 1000}

    def __init__(self, limits: Limits | None = None):
        if limits is not None and not isinstance(limits, Limits):
            raise TypeError(f"limits must be a Limits, got {type(limits).__name__}")
        self.limits = limits or Limits()
        self._open = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in NEEDS_OPEN:
            method = cls.__dict__.get(name)
            if callable(method) and not getattr(method, "needs_open", False):
                setattr(cls, name, _needs_open(method))

    @property
    def is_open(self) -> bool:
        """True inside the `with` block."""
        return self._open

    def _require_open(self) -> None:
        """For a kind's own public property or helper that needs the open sandbox."""
        if not self._open:
            raise NotOpen(self.kind)

    # --- availability -------------------------------------------------------------
    @classmethod
    @abstractmethod
    def check(cls) -> Availability:
        """Cheap check: is the runtime installed and permitted? (No instance started.)"""

    @classmethod
    def available(cls) -> Availability:
        """The truth, by a real trial: start one instance, run the workload, check it.

        A labkit error or an OS error in the trial means "not available here, because";
        anything else (TypeError, AttributeError, ...) is a bug in labkit, not a state of
        the machine, and is raised (the registry's `availability` reports it as one).
        """
        found = cls.check()
        if not found.available:
            return found
        try:
            with cls() as box:
                box.run_standard()
        except (LabkitError, OSError) as exc:
            return Availability(cls.kind, False, f"a trial run failed: {exc}", found.fix)
        return found

    @classmethod
    def sweep_leftovers(cls) -> list:
        """Remove what a killed lab of this kind left behind (default: nothing to sweep)."""
        return []

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

    @_needs_open
    def run_standard(self, n: int = STANDARD_N) -> int:
        """cold_call with its answer checked against the host's own computation."""
        check_n(n)
        answer = self.cold_call(n)
        if answer != expected(n):
            raise GuestError(self.kind, f"wrong answer for fib({n}): {answer!r}, "
                                        f"expected {expected(n)}")
        return answer

    @abstractmethod
    def hold(self, count: int, workload: str = "fib") -> AbstractContextManager[list]:
        """Keep `count` idle instances alive inside the `with` block; release them after.

        With a tool workload ("tool-js", "tool-py"), each instance is the tool's runtime
        after one run of the standard tool, idle (a kind whose `held_tools` lack the
        language raises NotSupported). Implementations start with
        `self.check_live_count(count)` and `self.held_language(workload)`."""

    def _prepare_hold(self, workload: str) -> None:
        """Load what every held instance of `workload` shares before memory is weighed (a
        kind with such a part overrides this; most have none)."""
        return None

    def held_language(self, workload: str) -> str | None:
        """The tool language a hold of `workload` keeps running (None for fib: the kind's
        own idle instance), or NotSupported naming the kinds that can hold it."""
        if check_workload(workload) == "fib":
            return None
        language = WORKLOAD_LANGUAGES[workload]
        if language not in self.capabilities.held_tools:
            able = _kinds_where(lambda cls: language in cls.capabilities.held_tools)
            raise NotSupported(self.kind, f"hold(count, {workload!r}) (a live {language} "
                               "tool runtime, weighed for memory)", able)
        return language

    @abstractmethod
    def footprint(self) -> Memory:
        """Memory this kind is using right now (the processes or process it lives in)."""

    def max_live(self) -> int:
        """The most instances `hold` accepts on this machine (subclasses know their limits)."""
        return 10_000

    def check_live_count(self, count) -> int:
        """Refuse a count that is not a whole number from 1 to max_live(), naming it."""
        return check_count("count", count, maximum=self.max_live())

    def versions(self) -> dict:
        """Versions of the runtime pieces, recorded with every measurement."""
        return {}

    # --- density: one method for every kind ------------------------------------------
    @_needs_open
    def density_curve(self, counts: Iterable[int], workload: str = "fib") -> list[dict]:
        """Memory added by `n` live instances (of `workload`, as `hold` keeps them), for
        each n in `counts`.

        Rows: n, total_mb (PSS added), kb_per_instance, seconds_to_start (to start all
        n), processes (added), before_mb (the footprint the point started from). Every
        count is checked before any instance starts; a kind whose capabilities say
        `restart` gets a fresh runtime before each point.
        """
        counts = [self.check_live_count(count) for count in counts]
        self.held_language(workload)
        return [self._density_point(count, workload) for count in counts]

    def _density_point(self, count: int, workload: str = "fib") -> dict:
        if self.capabilities.restart:
            self.fresh_runtime()
        self._prepare_hold(workload)
        before = self.footprint()
        started = time.perf_counter()
        with self.hold(count, workload):
            up = time.perf_counter() - started
            during = self.footprint()
        added = during - before
        return {"n": count, "total_mb": added.pss / 1e6, "kb_per_instance": added.pss / count / 1e3,
                "seconds_to_start": up, "processes": added.processes,
                "before_mb": before.pss / 1e6}

    @_needs_open
    def memory_per_instance(self, count: int | None = None, workload: str = "fib") -> float:
        """Bytes of PSS each live instance (of `workload`) adds, measured over `count` held
        at once (default: live_counts["quick"]); one point of density_curve."""
        count = self.live_counts["quick"] if count is None else count
        (row,) = self.density_curve([count], workload)
        return max(row["total_mb"] * 1e6, 0.0) / row["n"]

    # --- one memory method: the same N for every kind, the shared runtime apart ----------
    def shared_footprint(self) -> tuple[Memory, str]:
        """The runtime every instance of this kind shares, measured now with no instance
        held (workerd itself for V8, wasmtime's library in this process for wasm, the
        daemons for Docker), and what it is, in a few words. Kinds whose instances share
        nothing that outlives them say so, with zero."""
        self._require_open()
        return self._shared_footprint()

    def _shared_footprint(self) -> tuple[Memory, str]:
        """What a kind with a shared runtime measures (called only while open)."""
        return Memory(), NOTHING_SHARED

    def memory_figures(self, count: int, workload: str = "fib") -> dict:
        """Memory per live instance over `count` held at once, the shared runtime apart and
        amortised over the same count: the extras bench writes beside
        mem_mb_per_instance ("mem_n", "shared_mb", "shared_what", "mem_mb_amortised") and,
        under "mem_bytes_per_instance", the per-instance figure itself (PSS bytes).

        The shared part is read first, from a fresh runtime where the kind has one, so it
        holds no instance; then `memory_per_instance(count)`, the one density method."""
        self._require_open()
        count = self.check_live_count(count)
        if self.capabilities.restart:
            self.fresh_runtime()
        self._prepare_hold(workload)  # what every held instance shares is loaded first
        shared, what = self.shared_footprint()
        shared_mb = max(shared.pss, 0) / 1e6
        per_instance = self.memory_per_instance(count, workload)
        return {"mem_n": count, "shared_mb": shared_mb, "shared_what": what,
                "mem_mb_amortised": per_instance / 1e6 + shared_mb / count,
                "mem_bytes_per_instance": per_instance}

    # --- where the time goes -------------------------------------------------------------
    def phases(self, workload: str = "fib") -> dict[str, float]:
        """One cold call of `workload` split into named intervals, in milliseconds, in the
        order they happen ({"create": .., "start": .., ..., "other": ..}); "other" is the
        rest of that call's wall-clock time (the caller's own steps between intervals), so
        the intervals add up to the call (a kind whose intervals are taken by difference
        between whole calls, V8's, has none: they add up by construction). The answer is
        checked like a cold call's. A kind whose runtime does not expose its steps raises
        NotSupported."""
        self._require_open()
        check_workload(workload)
        return self._phases(workload)

    def _phases(self, workload: str) -> dict[str, float]:
        """What a kind that can split a cold call implements (called only while open)."""
        raise NotSupported(self.kind, "phases() (a cold call split into intervals)",
                           kinds_with_phases())

    # --- optional operations: capabilities say which a kind has -------------------------
    def _not_supported(self, capability: str):
        raise NotSupported(self.kind, f"{OPTIONAL[capability]}() ({capability})",
                           kinds_that_can(capability))

    def call_export(self, source, export: str, *args):
        """Run one exported function of the reader's code in a fresh guest (`exports`)."""
        self._not_supported("exports")

    def run_script(self, script: str, *args: str):
        """Run a shell script in a fresh guest (`scripts`)."""
        self._not_supported("scripts")

    def run_tool(self, language: str, source: str, input_json: str) -> str:
        """One agent-written tool call in a fresh guest; returns the JSON text of its result.

        `source` is a program in `language` (one of capabilities.tools) that defines a
        function `tool(input)`: in "javascript", plain script syntax (`function tool(input)
        {...}`, may be async; no import, require or export); in "python", `def tool(input):`
        using the standard library only. The guest parses `input_json`, calls tool on it and
        serialises what it returns. Same caps, same cleanup as cold_call; a language the
        kind cannot host is NotSupported, a guest that raises is a GuestError."""
        if language not in self.capabilities.tools:
            raise NotSupported(self.kind, f"run_tool() in {language!r}",
                               [kind for kind in _kinds_hosting(language)])
        self._require_open()
        return self._run_tool(language, source, input_json)

    def _run_tool(self, language: str, source: str, input_json: str) -> str:
        """What a kind with `tools` implements; called only for a language it hosts."""
        raise NotImplementedError(f"{self.kind} lists tools {self.capabilities.tools} "
                                  "but does not implement _run_tool")

    @_needs_open
    def floor_call(self) -> None:
        """One pass of this kind's harness path with no sandbox work: what a cold call costs
        before any sandbox exists (process: the guest shell's `true` spawned the way guests
        are; runc and crun: `<runtime> --version` through the same command line; wasm: an
        empty call from Python into wasmtime). Timed by the caller in the same run as cold
        calls (bench's `floor_ms`), so "sandbox cost = cold call - floor" can be read. A kind
        without one raises NotSupported."""
        raise NotSupported(self.kind, "floor_call() (a harness floor)", kinds_with_floor())

    def warm_call(self, n: int = STANDARD_N) -> int:
        """fib(n) in one reused guest (`warm_calls`)."""
        self._not_supported("warm_calls")

    def precreate(self, workload: str = "fib") -> None:
        """Make the guest of one standard call of `workload` ahead, not started
        (`precreated`)."""
        self._not_supported("precreated")

    @_needs_open
    def start_precreated(self):
        """Start the guest `precreate` made and return its answer (`precreated`)."""
        self._not_supported("precreated")

    def fresh_runtime(self) -> None:
        """Replace the runtime all guests share (`restart`)."""
        self._not_supported("restart")

    @_needs_open
    def extra_figures(self, calls: int) -> dict:
        """Figures beyond the contract's for `labkit bench` (V8: its warm call)."""
        return {}


def trial_error(kind: str, exc: BaseException) -> Availability:
    """An unexpected exception in a kind's check or trial: a bug in labkit, said to be one
    (in the fix), with its traceback kept, never passed off as a state of this machine."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    text = text if len(text) <= 200 else text[:197] + "..."
    return Availability(kind, False, f"checking {kind} failed: {text}",
                        "this is a bug in labkit, not a state of this machine: please report "
                        "it with its traceback (the result's .traceback)",
                        "".join(traceback.format_exception(exc)))
