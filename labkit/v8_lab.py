"""What notebook 03 (Part 2) measures about V8 isolates: live from workerd, or recorded.

`measure` times cold calls (a new isolate each) and warm calls (one isolate reused) and
reads workerd's memory with more and more isolates held alive; `recorded` finds the
newest saved run of `labkit bench` that measured v8, for machines without workerd. Both
give a `V8Figures`, labelled with where its numbers came from.

Home notebook: notebooks/03_isolates_up_close.ipynb (Part 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import bench, paths
from .measure import time_calls

# Isolates held at once for the memory curve: enough points for a straight-line fit.
MEMORY_COUNTS = (0, 10, 50, 100, 200)


@dataclass
class V8Figures:
    """Timings (ms) and memory of V8 isolates, with where they came from."""

    source: str
    recorded: bool
    cold_ms: np.ndarray
    warm_ms: np.ndarray | None = None
    held: np.ndarray | None = None  # isolates alive at once ...
    workerd_mb: np.ndarray | None = None  # ... and workerd's PSS then (MB)
    mb_per_isolate: float = float("nan")
    live_instances: int = 0  # for a recorded run: how many were held to get mb_per_isolate
    recorded_warm_p50: float = float("nan")  # a recorded run keeps the warm median only

    @property
    def cold_p50(self) -> float:
        return float(np.median(self.cold_ms))

    @property
    def cold_p99(self) -> float:
        return float(np.percentile(self.cold_ms, 99))

    @property
    def warm_p50(self) -> float:
        return float(np.median(self.warm_ms)) if self.warm_ms is not None else \
            self.recorded_warm_p50

    @property
    def isolate_ms(self) -> float:
        """What the isolate itself costs: cold minus warm median (NaN if warm is unknown)."""
        return self.cold_p50 - self.warm_p50

    def density_rows(self) -> list[dict]:
        """Memory added by N live isolates, as rows of {n, total_mb, kb_per_instance}."""
        if self.held is None:  # a recorded run keeps only its one average
            n = self.live_instances or 1
            return [{"n": n, "total_mb": self.mb_per_isolate * n,
                     "kb_per_instance": self.mb_per_isolate * 1e3}]
        base = self.workerd_mb[0]
        return [{"n": int(n), "total_mb": float(mb - base),
                 "kb_per_instance": float((mb - base) / n * 1e3)}
                for n, mb in zip(self.held, self.workerd_mb, strict=True) if n > 0]

    @property
    def per_second(self) -> float:
        """New isolates per second, one after another: calls over their summed time."""
        return float(1000 * self.cold_ms.size / self.cold_ms.sum())


def memory_curve(box, counts=MEMORY_COUNTS) -> tuple[np.ndarray, np.ndarray, float]:
    """workerd's PSS (MB) with each count of isolates alive, and the fitted MB per isolate.

    Every point starts from a freshly started workerd (hold restarts it afterwards, and
    the curve restarts it first), so garbage left by earlier calls does not skew the base.
    """
    box.restart()
    held, megabytes = [], []
    for count in counts:
        if count == 0:
            megabytes.append(box.footprint().pss / 1e6)
        else:
            with box.hold(count):
                megabytes.append(box.footprint().pss / 1e6)
        held.append(count)
    slope = np.polyfit(held, megabytes, 1)[0]
    return np.asarray(held), np.asarray(megabytes), float(slope)


def measure(box, n: int = 500, counts=MEMORY_COUNTS) -> V8Figures:
    """Cold calls, warm calls and the memory curve, on an open V8Sandbox."""
    cold = time_calls(box.run_standard, n, warmup=20)
    warm = time_calls(box.warm_call, n, warmup=20)
    held, megabytes, per_isolate = memory_curve(box, counts)
    return V8Figures("measured now, on this machine", False, cold.ms, warm.ms, held,
                     megabytes, per_isolate)


def recorded(kind: str = "v8", folder: Path | None = None) -> V8Figures | None:
    """The newest recorded bench run in data/recorded/ that measured `kind`, if any."""
    for path in sorted(Path(folder or paths.RECORDED_DIR).glob("bench-*.json"), reverse=True):
        try:
            results = bench.load_recorded(path)
        except (OSError, ValueError, KeyError):
            continue
        for result in results:
            if result.get("kind") == kind and result.get("available") and \
                    result.get("samples_ms"):
                machine = result.get("machine", {})
                source = (f"RECORDED on {machine.get('cpu', 'an unknown CPU')} "
                          f"({machine.get('cores', '?')} cores), file data/recorded/{path.name}")
                return V8Figures(source, True, np.asarray(result["samples_ms"], dtype=float),
                                 mb_per_isolate=float(result["mem_mb_per_instance"]),
                                 live_instances=int(result.get("live_instances", 0)),
                                 recorded_warm_p50=float(result.get("warm_ms_p50", "nan")))
    return None
