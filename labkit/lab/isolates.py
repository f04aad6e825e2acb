"""Figures for notebook 03 (isolates up close), one function per figure.

Each takes its data keyed by a label ("wasm", "V8", ...), so the WebAssembly and V8 halves
of the notebook draw the same figure side by side. Colours are Okabe-Ito (safe for the
common kinds of colour blindness), in a fixed order per label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

# Okabe & Ito, "Color Universal Design" (2008): distinguishable with any common colour
# vision deficiency.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
             "#000000"]
LAYOUT = dict(template="plotly_white", height=380, margin=dict(l=60, r=20, t=60, b=50))


def colour(index: int) -> str:
    return OKABE_ITO[index % len(OKABE_ITO)]


def _time_label(ms: float) -> str:
    return f"{ms * 1e3:,.0f} µs" if ms < 1 else f"{ms:,.3g} ms"


def start_latency_histogram(samples_ms: Mapping[str, Sequence[float]],
                            title: str = "Start latency of fresh isolates",
                            noun: str = "isolate", teardown: str = "tear down") -> go.Figure:
    """Histogram of per-call cold-call times, log-spaced bins, one trace per label.

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
    """Bars of calls per second per label, on a log axis (they differ by orders)."""
    return _log_bars(per_second, title, "{:,.0f}/s", "per second (log scale)")


def cost_bars(costs_us: Mapping[str, float],
              title: str = "Compile once, instantiate per call") -> go.Figure:
    """Bars of one-off costs in microseconds (e.g. compile vs a cold call)."""
    return _log_bars(costs_us, title, "{:,.1f} µs", "microseconds (log scale)")


def _log_range_from_one(values) -> list[float]:
    """A log axis from 1 up past the tallest bar, so bar heights compare honestly."""
    top = max([1.0, *[float(v) for v in values]])
    return [0, np.log10(top) + 0.3]


def density_panels(curves: Mapping[str, Sequence[Mapping]], title: str,
                   panel_titles: tuple[str, str], x_title: str) -> go.Figure:
    """Two panels per label against N: total MB added, and KB per live instance.

    Shared by notebook 03 (isolates) and 04 (containers), which set their own axes.
    """
    from plotly.subplots import make_subplots

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
    """Total MB added (log-log) and KB per live instance (from zero), against N."""
    fig = density_panels(curves, title, ("memory added (MB, PSS)",
                                         "memory per live instance (KB, PSS)"),
                         "live instances N (log scale)")
    fig.update_yaxes(type="log", title="MB (log scale)", row=1, col=1)
    fig.update_yaxes(title="KB per instance", rangemode="tozero", row=1, col=2)
    return fig
