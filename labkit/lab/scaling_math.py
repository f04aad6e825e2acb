"""Notebook 02 (the scaling math): the essay's ranges, tornado, Monte Carlo, ScalingExplorer.

Each figure function takes computed results from labkit.scaling (never computes them) and
returns a go.Figure; ScalingExplorer recomputes a Scenario as its sliders move.
"""

from __future__ import annotations

import ipywidgets as w
import numpy as np
import plotly.graph_objects as go

from .. import scaling
from .explorer import STYLE, Explorer, slider
from .style import CHEF, ESSAY, MODEL, PALETTE, RESTAURANT, layout


def _k(value: float) -> str:
    """500000 -> '500k', 1000000 -> '1M': short labels for annotations."""
    if value >= 1e6:
        return f"{value / 1e6:,.3g}M"
    return f"{value / 1e3:,.3g}k"


def essay_cpu_ranges(rows: list[tuple[str, float, float]], title: str) -> go.Figure:
    """Horizontal low..high bars, e.g. CPUs the essay states vs what its inputs give.

    Defined in notebook 02 § Average or peak?
    """
    fig = go.Figure()
    colours = [ESSAY, PALETTE["sky"], MODEL, PALETTE["purple"]]
    for i, (label, low, high) in enumerate(rows):
        fig.add_trace(go.Bar(y=[label], x=[high - low], base=[low], orientation="h",
                             marker_color=colours[i % len(colours)], name=label,
                             hovertemplate=f"{label}: {low:,.0f} to {high:,.0f}<extra></extra>"))
    layout(fig, title, "server CPUs", "", showlegend=False, height=300)
    fig.update_xaxes(rangemode="tozero", tickformat="~s")
    return fig


def cpus_vs_concurrency(concurrency: np.ndarray, cpus: np.ndarray, current: tuple[float, float],
                        essay_range: tuple[float, float]) -> go.Figure:
    """CPUs needed as concurrency varies (others fixed), the current point, the essay's band.

    Defined in notebook 02 § What it would take physically
    """
    low, high = essay_range
    fig = go.Figure([
        go.Scatter(x=100 * concurrency, y=cpus, name="CPUs needed", line=dict(color=MODEL,
                                                                              width=3)),
        go.Scatter(x=[100 * current[0]], y=[current[1]], name="your scenario", mode="markers",
                   marker=dict(color=CHEF, size=12, symbol="diamond")),
    ])
    fig.add_hrect(y0=low, y1=high, fillcolor=ESSAY, opacity=0.2, line_width=0,
                  annotation_text=f"essay: {_k(low)} to {_k(high)}", annotation_position="top left")
    layout(fig, "Server CPUs needed vs concurrency", "concurrency (% of workers active)",
           "server CPUs")
    fig.update_yaxes(tickformat="~s", rangemode="tozero")
    return fig


def tornado(swings, base_value: float, output_label: str = "server CPUs") -> go.Figure:
    """Which assumption moves the result most: one bar per assumption, low end to high end.

    Defined in notebook 02 § Which assumption matters most?
    """
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
    layout(fig, f"Which assumption matters most ({output_label})", output_label, "",
           barmode="overlay", height=320)
    fig.add_vline(x=base_value, line_color=PALETTE["black"], line_width=1)
    fig.update_xaxes(tickformat="~s")
    return fig


def monte_carlo_histogram(mc, essay_range: tuple[float, float],
                          label: str = "server CPUs") -> go.Figure:
    """Histogram of Monte Carlo outcomes with 5/50/95 percentiles and the essay's range.

    Defined in notebook 02 § All the uncertainty at once: Monte Carlo
    """
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
    layout(fig, f"Monte Carlo: {mc.samples.size:,} scenarios", label, "share of samples (%)",
           showlegend=False)
    fig.update_xaxes(tickformat="~s")
    return fig


PRESETS = {"US: 100M knowledge workers": 100.0, "World: 1B knowledge workers": 1000.0}
PER_CPU = "sessions per CPU"
FIRST_PRINCIPLES = "CPU and memory per session"
_CONCURRENCY_AXIS = np.linspace(0.0, 0.5, 101)


def _whole(sessions: float) -> float:
    """Whole sessions, rounded down (with fit_sessions' tolerance for 99.999... = 100)."""
    return float(np.floor(sessions * (1 + 1e-12)))


def _dollars(amount: float) -> str:
    return f"${amount:,.0f}".rjust(16)


class ScalingExplorer(Explorer):
    """Workers, concurrency, agents per worker, and sessions per CPU (or CPU and memory per
    session on an m7g.large-shaped server) -> sessions, CPUs, servers, cost per hour.

    Defined in notebook 02 § What it would take physically
    """

    def __init__(self, workers_millions=100.0, concurrency=0.15, agents_per_worker=1.0,
                 sessions_per_cpu=25.0, cpu_share_percent=4.0, session_memory_mb=100.0):
        self.claim = scaling.essay_claim()
        self.prices = scaling.fargate_prices()
        self.server_price, _ = scaling.ec2_server_price()
        self.preset = w.ToggleButtons(options=list(PRESETS), value=None, description="preset",
                                      style={**STYLE, "button_width": "230px"})
        self.workers = slider(w.FloatSlider, "knowledge workers (millions)",
                              value=workers_millions, min=10, max=1_500, step=10,
                              readout_format=",.0f")
        self.concurrency = slider(w.FloatSlider, "concurrency (%)", value=100 * concurrency,
                                  min=1, max=50, step=1, readout_format=".0f")
        self.agents_per_worker = slider(w.FloatSlider, "agents per worker",
                                        value=agents_per_worker, min=1, max=5, step=0.5)
        self.mode = w.ToggleButtons(options=[PER_CPU, FIRST_PRINCIPLES], value=PER_CPU,
                                    description="density from",
                                    style={**STYLE, "button_width": "230px"})
        self.sessions_per_cpu = slider(w.FloatSlider, "sessions per CPU",
                                       value=sessions_per_cpu, min=1, max=200, step=1)
        self.cpu_share = slider(w.FloatSlider, "CPU per active session (%)",
                                value=cpu_share_percent, min=0.5, max=50, step=0.5)
        self.session_memory = slider(w.FloatLogSlider, "memory per session (MB)",
                                     value=session_memory_mb, base=10, min=0, max=3.5,
                                     step=0.05, readout_format=",.0f")
        self.numbers = w.HTML()
        self.figure = go.FigureWidget(self._figure())
        controls = [self.workers, self.concurrency, self.agents_per_worker, self.mode,
                    self.sessions_per_cpu, self.cpu_share, self.session_memory]
        super().__init__(children=[self.preset, *controls, self.numbers, self.figure])
        self.preset.observe(self._on_preset, names="value")
        self._bind(controls)
        self.last_update_seconds = 0.0
        self._show_density_controls()
        self._show(self.numbers_text())

    def _on_preset(self, change) -> None:
        if change["new"] is not None:
            self.workers.value = PRESETS[change["new"]]

    def scenario(self, concurrency=None) -> scaling.Scenario:
        """The scenario the controls describe (concurrency may be overridden by an array)."""
        c = self.concurrency.value / 100 if concurrency is None else concurrency
        workers = self.workers.value * 1e6
        if self.mode.value == PER_CPU:
            return scaling.Scenario(workers, c, self.agents_per_worker.value,
                                    sessions_per_cpu=self.sessions_per_cpu.value)
        return scaling.Scenario.from_needs(workers, c, self.agents_per_worker.value,
                                           cpu_share=self.cpu_share.value / 100,
                                           session_memory_mb=self.session_memory.value)

    def fit(self) -> scaling.Fit:
        """How sessions fit on one m7g.large-shaped server (2 vCPU, 8 GiB)."""
        return scaling.fit_sessions(self.session_memory.value, self.cpu_share.value / 100)

    def numbers_text(self) -> str:
        s = self.scenario()
        lines = [f"simultaneous sessions: {s.sessions:>15,.0f}",
                 f"server CPUs:           {s.cpus:>15,.0f}   "
                 f"(essay: {self.claim.cpus_stated[0]:,.0f} to {self.claim.cpus_stated[1]:,.0f})",
                 f"m7g.large servers:     {s.servers:>15,.0f}   (2 vCPU, 8 GiB each)",
                 f"cost per hour, Fargate:{_dollars(s.cost_per_hour(self.prices))}   "
                 f"(CPUs + {s.gb_per_cpu:g} GB per CPU)",
                 f"cost per hour, EC2:    {_dollars(s.servers * self.server_price)}   "
                 "(m7g.large on demand)"]
        if self.mode.value == FIRST_PRINCIPLES:
            fit = self.fit()
            # whole sessions, rounded down as fit_sessions does: 26.4 fits 26, never "26 -> 25"
            lines.append(f"per server: CPU allows {_whole(fit.cpu_bound):,.0f}, memory allows "
                         f"{_whole(fit.memory_bound):,.0f} -> {fit.sessions_per_server:,.0f} "
                         "sessions "
                         f"({fit.binding} binds), {fit.sessions_per_cpu:g} per CPU")
        return "\n".join(lines)

    def _figure(self) -> go.Figure:
        s = self.scenario()
        curve = self.scenario(concurrency=_CONCURRENCY_AXIS).cpus
        return cpus_vs_concurrency(_CONCURRENCY_AXIS, curve,
                                       (self.concurrency.value / 100, s.cpus),
                                       self.claim.cpus_stated)

    def _show_density_controls(self) -> None:
        per_cpu = self.mode.value == PER_CPU
        self.sessions_per_cpu.layout.display = None if per_cpu else "none"
        self.cpu_share.layout.display = "none" if per_cpu else None
        self.session_memory.layout.display = "none" if per_cpu else None

    def _redraw(self) -> None:
        self._show_density_controls()
        try:
            s = self.scenario()
            curve = self.scenario(concurrency=_CONCURRENCY_AXIS).cpus
        except ValueError as err:  # e.g. a session bigger than the server
            self._show(f"cannot compute: {err}")
            return
        with self.figure.batch_update():
            self.figure.data[0].y = curve
            self.figure.data[1].x = [self.concurrency.value]
            self.figure.data[1].y = [s.cpus]
        self._show(self.numbers_text())

    def __repr__(self) -> str:
        return (f"ScalingExplorer(workers={self.workers.value:g}M, concurrency="
                f"{self.concurrency.value / 100:g}, "
                f"agents_per_worker={self.agents_per_worker.value:g}, mode={self.mode.value!r})")
