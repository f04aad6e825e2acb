"""Figures for notebook 04 (containers up close), one function per figure.

The same figures as notebook 03 draws for isolates (a start-latency histogram on log-spaced
bins, memory as live instances pile up), in the same style, so the two notebooks can be
read side by side. Colours are Okabe-Ito (safe for the common kinds of colour blindness),
in a fixed order per label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

# One palette and layout with notebook 03's figures, so the two notebooks read alike.
from .viz_isolates import LAYOUT, OKABE_ITO, colour, density_panels  # noqa: F401


def _median_label(label: str, median_ms: float) -> str:
    if median_ms < 1:
        return f"{label} median {median_ms * 1e3:.0f} µs"
    return f"{label} median {median_ms:.1f} ms"


def start_latency_histogram(samples_ms: Mapping[str, Sequence[float]],
                            title: str = "Start latency of fresh containers") -> go.Figure:
    """Histogram of per-call cold-call times (ms), log-spaced bins, one trace per label."""
    all_ms = np.concatenate([np.asarray(v, dtype=float) for v in samples_ms.values()])
    low, high = np.log10(max(all_ms.min(), 1e-4)), np.log10(all_ms.max())
    bins = np.logspace(low, high + 1e-9, 60)
    fig = go.Figure()
    for i, (label, ms) in enumerate(samples_ms.items()):
        counts, edges = np.histogram(np.asarray(ms, dtype=float), bins=bins)
        centres = np.sqrt(edges[:-1] * edges[1:])
        median = float(np.median(ms))
        fig.add_trace(go.Bar(x=centres, y=counts, width=np.diff(edges), name=label,
                             marker_color=colour(i), opacity=0.75))
        fig.add_vline(x=median, line_dash="dash", line_color=colour(i),
                      annotation_text=_median_label(label, median))
    fig.update_layout(title=title, barmode="overlay", bargap=0, **LAYOUT)
    fig.update_xaxes(type="log",
                     title="time for one container: create, run fib(20), delete (ms)")
    fig.update_yaxes(title="containers")
    return fig


def density_figure(curves: Mapping[str, Sequence[Mapping]],
                   title: str = "Memory as live containers pile up") -> go.Figure:
    """Two panels per label: total MB added and KB per live instance, against N (log-log)."""
    fig = density_panels(curves, title, ("memory added (MB, PSS + cgroup kernel memory)",
                                         "memory per live container (KB)"), "live containers N")
    fig.update_yaxes(type="log")
    return fig
