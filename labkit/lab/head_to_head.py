"""Plotly figures for the notebooks: one function per figure, one colour-blind-safe palette.

Each function takes computed results (never computes them) and returns a go.Figure, so
widgets can build a FigureWidget from it and update its traces in place. Sections are
grouped by the notebook that shows them; add new sections below.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

# Okabe & Ito's palette: distinguishable with the common forms of colour blindness.
PALETTE = {
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "black": "#000000",
    "grey": "#999999",
}
RESTAURANT = PALETTE["blue"]
CHEF = PALETTE["vermillion"]
ESSAY = PALETTE["orange"]
MODEL = PALETTE["green"]


def _layout(fig: go.Figure, title: str, x: str, y: str, **extra) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, template="plotly_white",
                      height=extra.pop("height", 380), margin=dict(l=70, r=20, t=60, b=50),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0), **extra)
    return fig


def _k(value: float) -> str:
    """500000 -> '500k', 1000000 -> '1M': short labels for annotations."""
    if value >= 1e6:
        return f"{value / 1e6:,.3g}M"
    return f"{value / 1e3:,.3g}k"


# ---------------------------------------------------------------- 01: a day of agents


def day_instances(day) -> go.Figure:
    """Instances running over the day: shared restaurant pools vs one personal chef each."""
    fig = go.Figure([
        go.Scatter(x=day.hours, y=day.chef_instances, name="personal chef (one per task)",
                   line=dict(color=CHEF, width=2)),
        go.Scatter(x=day.hours, y=day.restaurant_instances, name="restaurant (shared pool)",
                   line=dict(color=RESTAURANT, width=2, shape="hv")),
    ])
    _layout(fig, "Instances needed over one day", "time of day (hours)",
            "instances running (log scale)")
    fig.update_yaxes(type="log")
    fig.update_xaxes(range=[0, 24], dtick=3)
    return fig


def day_utilisation_series(day) -> list[np.ndarray]:
    """The y values of day_utilisation's traces, in %: widgets update these in place."""
    peak = max(int(day.active_users.max()), 1)
    return [100 * day.restaurant_utilisation, np.full(day.hours.size, 100.0),
            100 * day.active_users / peak]


def day_utilisation(day) -> go.Figure:
    """How full the running instances are: restaurant seats in use vs a chef's one seat."""
    restaurant, chef, fixed = day_utilisation_series(day)
    fig = go.Figure([
        go.Scatter(x=day.hours, y=restaurant, name="restaurant: seats in use",
                   line=dict(color=RESTAURANT, width=2)),
        go.Scatter(x=day.hours, y=chef, name="personal chef: its one user",
                   line=dict(color=CHEF, width=2)),
        go.Scatter(x=day.hours, y=fixed, name="a fixed fleet sized for the peak",
                   line=dict(color=PALETTE["grey"], dash="dot")),
    ])
    _layout(fig, "Utilisation over the day", "time of day (hours)", "utilisation (%)")
    fig.update_yaxes(range=[0, 105])
    fig.update_xaxes(range=[0, 24], dtick=3)
    return fig


# ---------------------------------------------------------------- 02: the scaling math


def essay_cpu_ranges(rows: list[tuple[str, float, float]], title: str) -> go.Figure:
    """Horizontal low..high bars, e.g. CPUs the essay states vs what its inputs give."""
    fig = go.Figure()
    colours = [ESSAY, PALETTE["sky"], MODEL, PALETTE["purple"]]
    for i, (label, low, high) in enumerate(rows):
        fig.add_trace(go.Bar(y=[label], x=[high - low], base=[low], orientation="h",
                             marker_color=colours[i % len(colours)], name=label,
                             hovertemplate=f"{label}: {low:,.0f} to {high:,.0f}<extra></extra>"))
    _layout(fig, title, "server CPUs", "", showlegend=False, height=300)
    fig.update_xaxes(rangemode="tozero", tickformat="~s")
    return fig


def cpus_vs_concurrency(concurrency: np.ndarray, cpus: np.ndarray, current: tuple[float, float],
                        essay_range: tuple[float, float]) -> go.Figure:
    """CPUs needed as concurrency varies (others fixed), the current point, the essay's band."""
    low, high = essay_range
    fig = go.Figure([
        go.Scatter(x=100 * concurrency, y=cpus, name="CPUs needed", line=dict(color=MODEL,
                                                                              width=3)),
        go.Scatter(x=[100 * current[0]], y=[current[1]], name="your scenario", mode="markers",
                   marker=dict(color=CHEF, size=12, symbol="diamond")),
    ])
    fig.add_hrect(y0=low, y1=high, fillcolor=ESSAY, opacity=0.2, line_width=0,
                  annotation_text=f"essay: {_k(low)} to {_k(high)}", annotation_position="top left")
    _layout(fig, "Server CPUs needed vs concurrency", "concurrency (% of workers active)",
            "server CPUs")
    fig.update_yaxes(tickformat="~s", rangemode="tozero")
    return fig


def tornado(swings, base_value: float, output_label: str = "server CPUs") -> go.Figure:
    """Which assumption moves the result most: one bar per assumption, low end to high end."""
    names = [s.name.replace("_", " ").replace("cpu", "CPU") for s in swings][::-1]  # widest on top
    lows = [min(s.result_at_low, s.result_at_high) for s in swings][::-1]
    highs = [max(s.result_at_low, s.result_at_high) for s in swings][::-1]
    ranges = [f"{s.low:g} to {s.high:g}" for s in swings][::-1]
    fig = go.Figure([
        go.Bar(y=names, x=[lo - base_value for lo in lows], base=base_value, orientation="h",
               name="lower result", marker_color=RESTAURANT, customdata=ranges,
               hovertemplate="%{y} (%{customdata}): %{x:,.0f}<extra></extra>"),
        go.Bar(y=names, x=[hi - base_value for hi in highs], base=base_value, orientation="h",
               name="higher result", marker_color=CHEF, customdata=ranges,
               hovertemplate="%{y} (%{customdata}): +%{x:,.0f}<extra></extra>"),
    ])
    _layout(fig, f"Which assumption matters most ({output_label})", output_label, "",
            barmode="overlay", height=320)
    fig.add_vline(x=base_value, line_color=PALETTE["black"], line_width=1)
    fig.update_xaxes(tickformat="~s")
    return fig


def monte_carlo_histogram(mc, essay_range: tuple[float, float],
                          label: str = "server CPUs") -> go.Figure:
    """Histogram of Monte Carlo outcomes with 5/50/95 percentiles and the essay's range."""
    counts, edges = np.histogram(mc.samples, bins=80)
    centres = (edges[:-1] + edges[1:]) / 2
    fig = go.Figure(go.Bar(x=centres, y=counts / counts.sum() * 100, width=np.diff(edges),
                           marker_color=MODEL, name="simulated outcomes"))
    low, high = essay_range
    fig.add_vrect(x0=low, x1=high, fillcolor=ESSAY, opacity=0.2, line_width=0,
                  annotation_text=f"essay: {_k(low)} to {_k(high)}",
                  annotation_position="top right")
    for name, value in (("p5", mc.p5), ("p50", mc.p50), ("p95", mc.p95)):
        fig.add_vline(x=value, line_dash="dash", line_color=PALETTE["black"],
                      annotation_text=f"{name} {_k(value)}",
                      annotation_position="top")
    _layout(fig, f"Monte Carlo: {mc.samples.size:,} scenarios", label, "share of samples (%)",
            showlegend=False)
    fig.update_xaxes(tickformat="~s")
    return fig


# ---------------------------------------------------------------- 05: head to head

MEASURES = {  # bench key -> (published measure, axis title)
    "start_ms_p50": ("start_ms", "cold start: create, run, tear down (ms, median)"),
    "mem_mb_per_instance": ("mem_mb", "memory per live instance (MB)"),
    "per_second": ("per_second", "new instances per second (one client)"),
}
BINDING_COLOURS = {"cpu": PALETTE["blue"], "memory": PALETTE["vermillion"],
                   "start-up": PALETTE["orange"]}


def _kind_label(result: dict) -> str:
    return f"{result['kind']} (recorded)" if result.get("recorded") else result["kind"]


def measured_vs_published(results: list[dict], key: str, title: str,
                          published_points=()) -> go.Figure:
    """Measured kinds as bars, published figures as grey diamonds, on one log axis."""
    axis = MEASURES[key][1]
    measured = sorted((r for r in results if r.get("available")), key=lambda r: r[key])
    fig = go.Figure()
    fig.add_trace(go.Bar(
        y=[_kind_label(r) for r in measured], x=[r[key] for r in measured], orientation="h",
        name="measured here", marker_color=[PALETTE["sky"] if r.get("recorded")
                                            else PALETTE["blue"] for r in measured],
        text=[f"{r[key]:,.3g}" for r in measured], textposition="outside", cliponaxis=False,
        hovertemplate="%{y}: %{x:,.4g}<extra>measured</extra>"))
    points = sorted(published_points, key=lambda p: p.value)
    if points:
        fig.add_trace(go.Scatter(
            y=[f"{p.label} [published]" for p in points], x=[p.value for p in points],
            mode="markers", marker=dict(symbol="diamond", size=12, color=PALETTE["grey"]),
            name="published", customdata=[p.figure.citation() for p in points],
            hovertemplate="%{y}: %{x:,.4g}<br>%{customdata}<extra></extra>"))
    values = [r[key] for r in measured if r[key] > 0] + [p.value for p in points if p.value > 0]
    if values:  # one decade below the smallest, room past the largest for its label
        fig.update_xaxes(range=[math.log10(min(values)) - 1, math.log10(max(values)) + 0.6])
    fig.update_xaxes(type="log")
    return _layout(fig, title, axis, "", height=140 + 28 * (len(measured) + len(points)))


def instances_per_gb(results: list[dict]) -> go.Figure:
    """How many idle instances one GB of memory holds, per kind (log axis)."""
    measured = [r for r in results if r.get("available") and r["mem_mb_per_instance"] > 0]
    measured.sort(key=lambda r: -r["mem_mb_per_instance"])
    per_gb = [1024 / r["mem_mb_per_instance"] for r in measured]
    fig = go.Figure(go.Bar(y=[_kind_label(r) for r in measured], x=per_gb, orientation="h",
                           marker_color=PALETTE["green"], text=[f"{v:,.0f}" for v in per_gb],
                           textposition="outside", cliponaxis=False))
    # From 1, so bar lengths compare honestly, with room past the longest bar for its label.
    fig.update_xaxes(type="log", range=[0, math.log10(max(per_gb, default=1)) + 0.6])
    return _layout(fig, "Live instances that fit in 1 GB of memory", "instances per GB", "",
                   height=140 + 32 * len(measured))


def sessions_per_server(fits) -> go.Figure:
    """Sessions one server carries per kind, coloured by the constraint that binds."""
    fig = go.Figure()
    for binding, colour in BINDING_COLOURS.items():
        chosen = [f for f in fits if f.binding == binding]
        fig.add_trace(go.Bar(x=[f.kind for f in chosen],
                             y=[f.sessions_per_server for f in chosen],
                             name=f"{binding} binds", marker_color=colour))
    fig.update_xaxes(categoryorder="array", categoryarray=[f.kind for f in fits])
    return _layout(fig, "Agent sessions one server carries, by sandbox", "",
                   "sessions per server", barmode="stack")
