"""What every benchmark shares: labkit's own statistics printed one way, a baseline from the
same run, and targets judged in one vocabulary ("met", "MISSED", "not judged").

The scripts measure with labkit.measure (`time_calls`, `Stats`) and weigh with the
sandbox's own `memory_per_instance`, so a benchmark checks the numbers the lab shows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from labkit.measure import Stats

MET, MISSED, NOT_JUDGED = "met", "MISSED", "not judged"


def stats_line(name: str, stats: Stats, baseline: Stats | None = None, unit: str = "ms",
               width: int = 36) -> str:
    """'name  median  p99  per second  (n)  [x baseline]' for one set of timings."""
    scale = {"ms": 1.0, "us": 1e3}[unit]
    ratio = f"   {stats.median_ms / baseline.median_ms:6.2f}x baseline" if baseline else ""
    return (f"{name:<{width}} median {stats.median_ms * scale:8.3f} {unit}   "
            f"p99 {stats.p99_ms * scale:8.3f} {unit}   {stats.per_second:10,.0f}/s   "
            f"(n={stats.n:,}){ratio}")


def tight_loop_seconds(fn: Callable[[], object], calls: int) -> float:
    """Seconds for `calls` calls back to back with no clock read between them: the bare
    baseline a per-call timer is compared with."""
    start = time.perf_counter_ns()
    for _ in range(calls):
        fn()
    return (time.perf_counter_ns() - start) / 1e9


@dataclass(frozen=True)
class Target:
    """A figure against its goal: at most (or at least) `limit`; None means not measured."""

    name: str
    value: float | None
    limit: float
    unit: str = ""
    at_most: bool = True

    @property
    def verdict(self) -> str:
        if self.value is None:
            return NOT_JUDGED
        met = self.value <= self.limit if self.at_most else self.value >= self.limit
        return MET if met else MISSED

    def line(self) -> str:
        goal = f"{'<=' if self.at_most else '>='} {_number(self.limit)} {self.unit}".rstrip()
        value = "-" if self.value is None else f"{_number(self.value)} {self.unit}".rstrip()
        return f"  {self.name:<44} {value:>14}   goal {goal:<16} {self.verdict}"


def _number(value: float) -> str:
    """1,234 for large figures, four significant digits for small ones."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def judge(targets: list[Target]) -> int:
    """Print each target's line; exit status 0 when none was MISSED, else 2."""
    print("\ntargets")
    for target in targets:
        print(target.line())
    return 2 if any(t.verdict == MISSED for t in targets) else 0
