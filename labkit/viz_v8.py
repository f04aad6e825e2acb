"""Figures for V8 isolates (notebook 03, Part 2), one function per figure.

Colours are from the Okabe-Ito palette, which stays distinct for colour-blind readers.
Every figure takes plain numbers, so live and recorded measurements draw the same way.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

# Okabe-Ito: blue, vermillion, bluish green, orange, reddish purple, sky blue.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9"]


def _layout(figure: go.Figure, title: str, height: int = 380) -> go.Figure:
    figure.update_layout(title=title, height=height, margin=dict(t=60, b=50),
                         legend=dict(orientation="h", y=-0.2))
    return figure


def call_times(series: dict[str, np.ndarray], title: str) -> go.Figure:
    """Share of calls done within each time (ECDF), one line per series, log time axis.

    A log axis puts a 30-microsecond call and a 5-millisecond call on one readable chart.
    """
    figure = go.Figure()
    for colour, (name, ms) in zip(PALETTE, series.items(), strict=False):
        x = np.sort(np.asarray(ms, dtype=float))
        y = np.arange(1, x.size + 1) / x.size
        figure.add_trace(go.Scatter(x=x, y=y, mode="lines", name=name,
                                    line=dict(color=colour, width=3)))
    figure.update_xaxes(type="log", title="time for one call, caller's view (ms, log scale)")
    figure.update_yaxes(title="share of calls this fast or faster", range=[0, 1.02])
    return _layout(figure, title)


def memory_growth(held, megabytes, per_isolate_mb: float, title: str) -> go.Figure:
    """workerd's memory against the number of live isolates, with the fitted line."""
    held, megabytes = np.asarray(held, dtype=float), np.asarray(megabytes, dtype=float)
    slope, intercept = np.polyfit(held, megabytes, 1)
    figure = go.Figure([
        go.Scatter(x=held, y=megabytes, mode="markers", name="measured",
                   marker=dict(color=PALETTE[0], size=11)),
        go.Scatter(x=held, y=intercept + slope * held, mode="lines",
                   name=f"fit: {per_isolate_mb:.2f} MB per isolate",
                   line=dict(color=PALETTE[1], dash="dash")),
    ])
    figure.update_xaxes(title="isolates alive at once")
    figure.update_yaxes(title="workerd memory (PSS, MB)", rangemode="tozero")
    return _layout(figure, title)


def side_by_side(rows: list[dict], title: str) -> go.Figure:
    """Start time and memory per instance, one bar per sandbox, on log axes.

    Each row: {"name", "start_ms", "mb_per_instance"} (a missing figure may be None).
    """
    figure = make_subplots(rows=1, cols=2, subplot_titles=(
        "one cold call (median, ms)", "memory per live instance (MB)"))
    names = [row["name"] for row in rows]
    colours = PALETTE[:len(rows)]
    for col, key in ((1, "start_ms"), (2, "mb_per_instance")):
        values = [row.get(key) for row in rows]
        figure.add_trace(go.Bar(x=names, y=values, marker_color=colours, showlegend=False,
                                text=[f"{v:.3g}" if v else "n/a" for v in values],
                                textposition="outside"), row=1, col=col)
        figure.update_yaxes(type="log", row=1, col=col)
    figure.update_yaxes(title="ms (log scale)", row=1, col=1)
    figure.update_yaxes(title="MB (log scale)", row=1, col=2)
    return _layout(figure, title, height=420)
