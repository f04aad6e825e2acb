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
import time

import numpy as np

from labkit import scaling
from labkit.lab import restaurant_vs_chef, scaling_math


def _timings(fn, repeats: int) -> np.ndarray:
    fn()  # warm-up: imports, caches, first allocation
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return np.array(out)


def _row(name: str, seconds: np.ndarray, baseline: float | None, target: float) -> str:
    median, p99 = np.median(seconds), np.percentile(seconds, 99)
    ratio = f"{median / baseline:8.1f}x" if baseline else " " * 9
    verdict = "ok" if median < target else "SLOWER THAN TARGET"
    return (f"{name:<42} {median * 1e3:9.2f} {p99 * 1e3:9.2f} {ratio}   "
            f"< {target * 1e3:.0f} ms: {verdict}")


def _slider_sweep(explorer, control, values):
    """Each update the explorer runs when `control` moves through `values`."""
    def step(state={"i": 0}):  # noqa: B006 - a tiny cycle counter
        state["i"] += 1
        getattr(explorer, control).value = values[state["i"] % len(values)]
        return explorer.last_update_seconds
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    data = rng.uniform(size=1_000_000)
    base_times = _timings(lambda: np.percentile(data * 2.0, [5, 50, 95]), args.repeats)
    baseline = float(np.median(base_times))
    print(f"{'what':<42} {'median ms':>9} {'p99 ms':>9} {'vs base':>9}")
    print(_row("baseline: numpy percentiles of 1e6 floats", base_times, None, 1.0))
    mc = _timings(lambda: scaling.monte_carlo(samples=1_000_000), max(args.repeats // 4, 3))
    print(_row("Monte Carlo, 1,000,000 samples", mc, baseline, 1.0))

    for label, explorer, control, values in (
        ("ScalingExplorer: concurrency slider", scaling_math.ScalingExplorer(), "concurrency",
         [10, 20, 30]),  # percent
        ("ScalingExplorer: memory per session", _first_principles(), "session_memory",
         [10.0, 100.0, 1000.0]),
        ("DayExplorer: users slider", restaurant_vs_chef.DayExplorer(), "users",
         [10_000, 50_000, 100_000]),
    ):
        step = _slider_sweep(explorer, control, values)
        step()
        updates = np.array([step() for _ in range(args.repeats)])
        print(_row(label + " (update)", updates, None, 0.050))


def _first_principles():
    explorer = scaling_math.ScalingExplorer()
    explorer.mode.value = scaling_math.FIRST_PRINCIPLES
    return explorer


if __name__ == "__main__":
    main()
