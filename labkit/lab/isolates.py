"""Notebook 03 (isolates up close): WebAssembly and V8 isolates, measured and drawn.

Part 1 (WebAssembly) and Part 2 (V8, workerd) measure the same things the same way, through
the sandbox protocol only (`cold_call`, `hold`, `footprint`), and draw the same figures side
by side: each figure takes its data keyed by a label ("wasm", "V8", ...). Notebook 04 reuses
the start-latency histogram and the memory panels for containers. V8's own
pieces (its figures from workerd, live or recorded, and workerd's memory as a line) are at
the end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .. import results
from ..measure import time_calls
from .style import LAYOUT, PALETTE, colour


def _time_label(ms: float) -> str:
    return f"{ms * 1e3:,.0f} µs" if ms < 1 else f"{ms:,.3g} ms"


def start_latency_histogram(samples_ms: Mapping[str, Sequence[float]],
                            title: str = "Start latency of fresh isolates",
                            noun: str = "isolate", teardown: str = "tear down") -> go.Figure:
    """Histogram of per-call cold-call times, log-spaced bins, one trace per label.

    Defined in notebook 03 § Thousands of fresh isolates: the start-latency histogram

    Bins are drawn on log10(ms) with ms tick labels, so microsecond wasm isolates and
    millisecond V8 isolates or containers fit on one axis (plotly's own log axis would put
    annotations in log units). Each label's bars are its share of its own calls, so 50 V8
    calls stand as tall as 5,000 wasm calls; hover shows the count.
    """
    logs = {k: np.log10(np.clip(np.asarray(v, dtype=float), 1e-4, None))
            for k, v in samples_ms.items()}
    every = np.concatenate(list(logs.values()))
    edges = np.linspace(np.floor(every.min() * 10) / 10, np.ceil(every.max() * 10) / 10, 61)
    if edges[-1] - edges[0] < 0.2:  # every sample in one bin: widen to a readable span
        edges = np.linspace(edges[0] - 0.1, edges[0] + 0.2, 61)
    centres, width = (edges[:-1] + edges[1:]) / 2, edges[1] - edges[0]
    fig = go.Figure()
    peak = 0.0
    for i, (label, values) in enumerate(logs.items()):
        counts, _ = np.histogram(values, bins=edges)
        share = 100 * counts / max(len(values), 1)
        peak = max(peak, float(share.max()))
        fig.add_trace(go.Bar(x=centres, y=share, width=width, name=label, opacity=0.75,
                             marker_color=colour(i),
                             customdata=np.stack([[_time_label(10**c) for c in centres],
                                                  counts], axis=-1),
                             hovertemplate=f"%{{customdata[0]}}: %{{customdata[1]}} {noun}s "
                                           "(%{y:.1f}%)<extra></extra>"))
    for i, (label, values) in enumerate(logs.items()):
        median = float(np.median(values))
        fig.add_trace(go.Scatter(x=[median, median], y=[0, peak * 1.05], mode="lines",
                                 line=dict(color=colour(i), dash="dash"),
                                 name=f"{label} median {_time_label(10**median)}"))
    ticks = _log_ticks(edges[0], edges[-1])
    fig.update_layout(title=title, barmode="overlay", bargap=0, **LAYOUT)
    fig.update_xaxes(title=f"time for one {noun}: create, run fib(20), {teardown} (log scale)",
                     range=[edges[0], edges[-1]],
                     tickvals=ticks, ticktext=[_time_label(10**t) for t in ticks])
    fig.update_yaxes(title=f"share of each kind's {noun}s (%)", rangemode="tozero")
    return fig


def _log_ticks(low: float, high: float) -> list[float]:
    """Tick positions (log10 ms) inside [low, high]: decades, else 1-2-5, else every digit."""
    for steps in ((1,), (1, 2, 5), tuple(range(1, 10))):
        ticks = [np.log10(m) + d for d in range(int(np.floor(low)), int(np.ceil(high)) + 1)
                 for m in steps if low <= np.log10(m) + d <= high]
        if len(ticks) >= 3:
            return ticks
    return ticks


def _log_bars(values: Mapping[str, float], title: str, text: str, y_title: str) -> go.Figure:
    """Bars per label on a log axis from 1 (they differ by orders); `text` formats a value."""
    labels = list(values)
    fig = go.Figure(go.Bar(x=labels, y=[values[k] for k in labels],
                           marker_color=[colour(i) for i in range(len(labels))],
                           text=[text.format(values[k]) for k in labels],
                           textposition="outside"))
    fig.update_layout(title=title, showlegend=False, **LAYOUT)
    fig.update_yaxes(type="log", title=y_title, range=_log_range_from_one(values.values()))
    return fig


def rate_bars(per_second: Mapping[str, float],
              title: str = "Fresh isolates per second, one after another") -> go.Figure:
    """Bars of calls per second per label, on a log axis (they differ by orders).

    Defined in notebook 03 § Instances per second
    """
    return _log_bars(per_second, title, "{:,.0f}/s", "per second (log scale)")


def cost_bars(costs_us: Mapping[str, float],
              title: str = "Compile once, instantiate per call") -> go.Figure:
    """Bars of one-off costs in microseconds (e.g. compile vs a cold call).

    Defined in notebook 03 § Compile once, instantiate per call
    """
    return _log_bars(costs_us, title, "{:,.1f} µs", "microseconds (log scale)")


def _log_range_from_one(values) -> list[float]:
    """A log axis from 1 up past the tallest bar, so bar heights compare honestly."""
    top = max([1.0, *[float(v) for v in values]])
    return [0, np.log10(top) + 0.3]


def density_panels(curves: Mapping[str, Sequence[Mapping]], title: str,
                   panel_titles: tuple[str, str], x_title: str) -> go.Figure:
    """Two panels per label against N: total MB added, and KB per live instance.

    Defined in notebook 03 § Memory per live isolate as N grows
    (notebook 04 reuses it for containers; each sets its own axes)
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=panel_titles)
    for i, (label, rows) in enumerate(curves.items()):
        n = [r["n"] for r in rows]
        fig.add_trace(go.Scatter(x=n, y=[max(r["total_mb"], 1e-3) for r in rows],
                                 mode="lines+markers", name=label, legendgroup=label,
                                 line_color=colour(i)), row=1, col=1)
        fig.add_trace(go.Scatter(x=n, y=[max(r["kb_per_instance"], 1e-3) for r in rows],
                                 mode="lines+markers", name=label, legendgroup=label,
                                 showlegend=False, line_color=colour(i)), row=1, col=2)
    fig.update_layout(title=title, **LAYOUT)
    fig.update_xaxes(type="log", title=x_title)
    return fig


def density_figure(curves: Mapping[str, Sequence[Mapping]],
                   title: str = "Memory as live isolates pile up") -> go.Figure:
    """Total MB added (log-log) and KB per live instance (from zero), against N.

    Defined in notebook 03 § Memory per live isolate as N grows
    """
    fig = density_panels(curves, title, ("memory added (MB, PSS)",
                                         "memory per live instance (KB, PSS)"),
                         "live instances N (log scale)")
    fig.update_yaxes(type="log", title="MB (log scale)", row=1, col=1)
    fig.update_yaxes(title="KB per instance", rangemode="tozero", row=1, col=2)
    return fig


# ---------------------------------------------------------------- Part 2: V8 isolates
# Timings come live from workerd (`measure_v8`) or from the newest saved `labkit bench` run
# that measured v8 (`recorded_v8`), for machines without workerd; both give a V8Figures
# labelled with where its numbers came from.

# Isolates held at once for the memory curve: enough points for a straight-line fit.
V8_MEMORY_COUNTS = (0, 10, 50, 100, 200)


@dataclass
class V8Figures:
    """Timings (ms) and memory of V8 isolates, with where they came from.

    Defined in notebook 03 § How long does a new V8 isolate take?
    """

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


def v8_memory_curve(box, counts=V8_MEMORY_COUNTS) -> tuple[np.ndarray, np.ndarray, float]:
    """workerd's PSS (MB) with each count of isolates alive, and the fitted MB per isolate.

    Defined in notebook 03 § How long does a new V8 isolate take?

    The sandbox's own density_curve starts every point from a freshly started workerd, so
    garbage left by earlier calls does not skew the base; a count of 0 is that fresh base.
    """
    rows = box.density_curve([count for count in counts if count])
    held = np.array([0, *(row["n"] for row in rows)])
    megabytes = np.array([rows[0]["before_mb"], *(row["before_mb"] + row["total_mb"]
                                                   for row in rows)])
    slope = np.polyfit(held, megabytes, 1)[0]
    return held, megabytes, float(slope)


def measure_v8(box, calls: int = 500, counts=V8_MEMORY_COUNTS) -> V8Figures:
    """Cold calls, warm calls and the memory curve, on an open V8Sandbox.

    Defined in notebook 03 § How long does a new V8 isolate take?
    """
    cold = time_calls(box.run_standard, calls, warmup=20)
    warm = time_calls(box.warm_call, calls, warmup=20)
    held, megabytes, per_isolate = v8_memory_curve(box, counts)
    return V8Figures("measured now, on this machine", False, cold.ms, warm.ms, held,
                     megabytes, per_isolate)


def recorded_v8(kind: str = "v8", folder: Path | None = None) -> V8Figures | None:
    """The newest recorded bench run in data/recorded/ that measured `kind`, if any.

    Defined in notebook 03 § How long does a new V8 isolate take?
    """
    found = results.newest_recorded(kind, folder, with_samples=True)
    if found is None:
        return None
    machine = found.machine
    source = (f"RECORDED on {machine.get('cpu', 'an unknown CPU')} "
              f"({machine.get('cores', '?')} cores), file data/recorded/{found.source.file}")
    return V8Figures(source, True, np.asarray(found.samples_ms, dtype=float),
                     mb_per_isolate=float(found.mem_mb_per_instance),
                     live_instances=int(found.live_instances or 0),
                     recorded_warm_p50=float(found.extras.get("warm_ms_p50", "nan")))


def shared_and_per_isolate(held, megabytes) -> tuple[float, float]:
    """Straight-line fit of workerd's MB against live isolates: (shared MB, MB per isolate).

    Defined in notebook 03 § Memory per live isolate
    """
    slope, intercept = np.polyfit(np.asarray(held, float), np.asarray(megabytes, float), 1)
    return float(intercept), float(slope)


def workerd_memory(held, megabytes,
                   title: str = "workerd's memory: one shared runtime plus each live isolate"
                   ) -> go.Figure:
    """workerd's PSS against the number of live isolates, with the fitted line.

    Defined in notebook 03 § Memory per live isolate

    V8's own figure: the intercept is the runtime all isolates share, the slope what each
    live isolate adds.
    """
    held, megabytes = np.asarray(held, dtype=float), np.asarray(megabytes, dtype=float)
    shared, per_isolate = shared_and_per_isolate(held, megabytes)
    figure = go.Figure([
        go.Scatter(x=held, y=megabytes, mode="markers", name="measured",
                   marker=dict(color=PALETTE["blue"], size=11)),
        go.Scatter(x=held, y=shared + per_isolate * held, mode="lines",
                   name=f"fit: {shared:.0f} MB shared + {per_isolate:.2f} MB per isolate",
                   line=dict(color=PALETTE["vermillion"], dash="dash")),
    ])
    figure.update_layout(title=title, legend=dict(orientation="h", y=-0.25), **LAYOUT)
    figure.update_xaxes(title="V8 isolates alive at once")
    figure.update_yaxes(title="workerd memory (PSS, MB)", rangemode="tozero")
    return figure
