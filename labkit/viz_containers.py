"""Figures for notebook 04 (containers up close), one function per figure.

The same figures as notebook 03 draws for isolates (a start-latency histogram on log-spaced
bins, memory as live instances pile up), in the same style, so the two notebooks can be
read side by side. Colours are Okabe-Ito (safe for the common kinds of colour blindness),
in a fixed order per label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from . import viz_isolates as _isolates

# One palette and layout with notebook 03's figures, so the two notebooks read alike.
from .viz_isolates import LAYOUT, OKABE_ITO, colour, density_panels  # noqa: F401


def start_latency_histogram(samples_ms: Mapping[str, Sequence[float]],
                            title: str = "Start latency of fresh containers") -> go.Figure:
    """Notebook 03's histogram, worded for containers: one axis for microseconds to seconds."""
    return _isolates.start_latency_histogram(samples_ms, title, noun="container",
                                             teardown="delete")


def density_figure(curves: Mapping[str, Sequence[Mapping]],
                   title: str = "Memory as live containers pile up") -> go.Figure:
    """Two panels per label: total MB added and KB per live instance, against N (log-log)."""
    fig = density_panels(curves, title, ("memory added (MB, PSS + cgroup kernel memory)",
                                         "memory per live container (KB)"), "live containers N")
    fig.update_yaxes(type="log")
    return fig
