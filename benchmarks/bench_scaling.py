"""How fast the scaling model and its explorers are on this machine.

Prints: the Monte Carlo time for 1,000,000 samples (target < 1 s) and the compute time of
one widget update (target < 50 ms), as median and p99 over repeats, with a baseline
measured in the same run (one plain numpy pass over a million floats) for scale. A widget
update is the Python side only: recompute, then set the FigureWidget's traces and the
numbers panel; the browser's redraw comes on top.

    .venv/bin/python benchmarks/bench_scaling.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from report import Target, judge, stats_line

from labkit import scaling
from labkit.lab import restaurant_vs_chef, scaling_math
from labkit.measure import Stats, time_calls


def _explorer_updates(explorer, control, values, repeats: int) -> Stats:
    """The explorer's own compute time per update while `control` moves through `values`."""
    seconds = []
    for i in range(repeats + 1):  # the first update warms up: left out
        getattr(explorer, control).value = values[(i + 1) % len(values)]
        seconds.append(explorer.last_update_seconds)
    return Stats.from_ns(round(s * 1e9) for s in seconds[1:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    data = rng.uniform(size=1_000_000)
    baseline = time_calls(lambda: np.percentile(data * 2.0, [5, 50, 95]), args.repeats,
                          warmup=1).stats
    print(stats_line("baseline: numpy percentiles of 1e6 floats", baseline, width=44))
    mc = time_calls(lambda: scaling.monte_carlo(samples=1_000_000), max(args.repeats // 4, 3),
                    warmup=1).stats
    print(stats_line("Monte Carlo, 1,000,000 samples", mc, baseline, width=44))
    targets = [Target("Monte Carlo, 1,000,000 samples (median)", mc.median_ms, 1000, "ms")]
    for label, explorer, control, values in (
        ("ScalingExplorer: concurrency slider", scaling_math.ScalingExplorer(), "concurrency",
         [10, 20, 30]),  # percent
        ("ScalingExplorer: memory per session", _first_principles(), "session_memory",
         [10.0, 100.0, 1000.0]),
        ("DayExplorer: users slider", restaurant_vs_chef.DayExplorer(), "users",
         [10_000, 50_000, 100_000]),
    ):
        updates = _explorer_updates(explorer, control, values, args.repeats)
        print(stats_line(label + " (update)", updates, baseline, width=44))
        targets.append(Target(f"{label} (median)", updates.median_ms, 50, "ms"))
    return judge(targets)


def _first_principles():
    explorer = scaling_math.ScalingExplorer()
    explorer.mode.value = scaling_math.FIRST_PRINCIPLES
    return explorer


if __name__ == "__main__":
    sys.exit(main())
