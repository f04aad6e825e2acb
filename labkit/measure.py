"""Honest measurement, sized for a notebook: warm-up, repeats, median and p99, memory.

Timings use time.perf_counter_ns around each call. Warm-up calls run first and are thrown
away: they pay for one-off costs (page faults, caches, lazy imports) that a steady state
does not. Memory is read from /proc through psutil as PSS (each shared page split between
the processes that share it) and USS (pages only this process has), which, unlike RSS, do
not count the same shared library once per process.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import psutil
from tqdm.auto import tqdm

# Enough warm-up calls to fault in code and fill caches, few enough to stay quick.
DEFAULT_WARMUP = 5


@dataclass(frozen=True)
class Stats:
    """Summary of repeated timings of one operation (all times in milliseconds)."""

    n: int
    median_ms: float
    p99_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    per_second: float

    @classmethod
    def from_ns(cls, samples_ns: Iterable[int], wall_ns: int | None = None) -> Stats:
        """Summarise samples; per_second is calls / wall time (sum of samples if not given)."""
        ms = np.asarray(list(samples_ns), dtype=float) / 1e6
        if ms.size == 0:
            raise ValueError("no timings to summarise: give at least one sample")
        total_s = (wall_ns if wall_ns is not None else ms.sum() * 1e6) / 1e9
        return cls(
            n=int(ms.size),
            median_ms=float(np.median(ms)),
            p99_ms=float(np.percentile(ms, 99)),
            mean_ms=float(ms.mean()),
            min_ms=float(ms.min()),
            max_ms=float(ms.max()),
            per_second=float(ms.size / total_s) if total_s > 0 else float("inf"),
        )

    def spread_warning(self) -> str | None:
        """A warning when the timings are too noisy to trust at face value."""
        if self.n >= 10 and self.p99_ms > 10 * self.median_ms:
            return (f"p99 is {self.p99_ms / self.median_ms:.0f}x the median: the machine was "
                    "busy or the operation has rare slow paths; run again before comparing")
        return None


@dataclass
class Timing:
    """Raw timings of repeated calls, kept so a histogram can be drawn from them."""

    samples_ns: list[int]
    wall_ns: int

    @property
    def stats(self) -> Stats:
        return Stats.from_ns(self.samples_ns, self.wall_ns)

    @property
    def ms(self) -> np.ndarray:
        return np.asarray(self.samples_ns, dtype=float) / 1e6


def check_count(name: str, value, minimum: int = 1, maximum: int | None = None) -> int:
    """Refuse a count that is not a whole number in range, naming it and the valid range."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a whole number, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum:,}" if maximum is not None else ""
        raise ValueError(f"{name} must be at least {minimum}{upper}, got {value}")
    return int(value)


def time_calls(
    fn: Callable[[], object],
    calls: int,
    warmup: int = DEFAULT_WARMUP,
    progress: str | None = None,
    prepare: Callable[[], object] | None = None,
) -> Timing:
    """Call fn warmup times unmeasured, then `calls` times measured, one call at a time.
    `prepare`, if given, runs before every call (warm-up ones too) off the clock: what a
    call gets made ahead (a pre-created container)."""
    check_count("calls", calls)
    check_count("warmup", warmup, minimum=0)
    for _ in range(warmup):
        if prepare is not None:
            prepare()
        fn()
    samples = []
    record = samples.append
    clock = time.perf_counter_ns
    bar = None if progress is None else tqdm(total=calls, desc=progress, leave=False,
                                              mininterval=0.5)
    try:
        start = clock()
        if prepare is None and bar is None:  # the tight loop: nothing but the clock
            for _ in range(calls):
                t0 = clock()
                fn()
                record(clock() - t0)
        else:
            for _ in range(calls):
                if prepare is not None:
                    prepare()
                t0 = clock()
                fn()
                record(clock() - t0)
                if bar is not None:
                    bar.update()
        # total: the calls' own time when something ran between them off the clock
        total = clock() - start if prepare is None else sum(samples)
        return Timing(samples, total)
    finally:
        if bar is not None:
            bar.close()


@dataclass(frozen=True)
class Memory:
    """Memory of a set of processes, in bytes."""

    rss: int = 0
    pss: int = 0
    uss: int = 0
    processes: int = 0

    def __sub__(self, other: Memory) -> Memory:
        return Memory(self.rss - other.rss, self.pss - other.pss, self.uss - other.uss,
                      self.processes - other.processes)

    def __add__(self, other: Memory) -> Memory:
        return Memory(self.rss + other.rss, self.pss + other.pss, self.uss + other.uss,
                      self.processes + other.processes)


def processes_memory(processes: Iterable[psutil.Process]) -> Memory:
    """Sum RSS/PSS/USS over processes, skipping any that ended meanwhile."""
    total = Memory()
    for proc in processes:
        try:
            info = proc.memory_full_info()
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        except psutil.AccessDenied:
            info = proc.memory_info()
            total += Memory(info.rss, info.rss, info.rss, 1)
            continue
        total += Memory(info.rss, getattr(info, "pss", info.rss), info.uss, 1)
    return total


def tree_memory(pid: int | None = None, include_root: bool = True) -> Memory:
    """Memory of a process and all its descendants (this process by default): what a
    load run holds at its peak, sandboxes included."""
    try:
        root = psutil.Process(pid or os.getpid())
        procs = root.children(recursive=True)
    except psutil.NoSuchProcess:
        return Memory()
    if include_root:
        procs = [root, *procs]
    return processes_memory(procs)


def cpu_model() -> str:
    """The CPU's model name, from /proc/cpuinfo where it exists."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    """What a measurement ran on: enough to judge whether two runs are comparable."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "distro": _os_release(),
        "arch": platform.machine(),
        "python": platform.python_version(),
    }


def _os_release() -> str:
    try:
        return platform.freedesktop_os_release().get("PRETTY_NAME", "")
    except OSError:
        return ""


def timestamp(when: float | None = None, compact: bool = False) -> str:
    """Local time as labkit writes it in every file: ISO 8601 with its UTC offset
    (2026-11-26T18:55:41+0000), or `compact` for file names (20261126-185541)."""
    return time.strftime("%Y%m%d-%H%M%S" if compact else "%Y-%m-%dT%H:%M:%S%z",
                         time.localtime(when))
