"""Notebook 05 (head to head): measured vs published figures, the fleet, FleetExplorer.

Each figure function takes bench results (dicts, as `python -m labkit bench --json` gives
them) or fleet fits, and returns a go.Figure; FleetExplorer refits every measured kind as
its sliders move.
"""

from __future__ import annotations

import math

import ipywidgets as w
import plotly.graph_objects as go

from .. import fleet
from .explorer import Explorer, slider
from .style import PALETTE, layout

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
    """Measured kinds as bars, published figures as grey diamonds, on one log axis.

    Defined in notebook 05 § Start latency, beside the published figures
    """
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
    return layout(fig, title, axis, "", height=140 + 28 * (len(measured) + len(points)))


def instances_per_gb(results: list[dict]) -> go.Figure:
    """How many idle instances one GB of memory holds, per kind (log axis).

    Defined in notebook 05 § Memory per live instance
    """
    measured = [r for r in results if r.get("available") and r["mem_mb_per_instance"] > 0]
    measured.sort(key=lambda r: -r["mem_mb_per_instance"])
    per_gb = [1024 / r["mem_mb_per_instance"] for r in measured]
    fig = go.Figure(go.Bar(y=[_kind_label(r) for r in measured], x=per_gb, orientation="h",
                           marker_color=PALETTE["green"], text=[f"{v:,.0f}" for v in per_gb],
                           textposition="outside", cliponaxis=False))
    # From 1, so bar lengths compare honestly, with room past the longest bar for its label.
    fig.update_xaxes(type="log", range=[0, math.log10(max(per_gb, default=1)) + 0.6])
    return layout(fig, "Live instances that fit in 1 GB of memory", "instances per GB", "",
                  height=140 + 32 * len(measured))


def sessions_per_server(fits) -> go.Figure:
    """Sessions one server carries per kind, coloured by the constraint that binds.

    Defined in notebook 05 § Explore: which constraint binds?
    """
    fig = go.Figure()
    for binding, colour in BINDING_COLOURS.items():
        chosen = [f for f in fits if f.binding == binding]
        fig.add_trace(go.Bar(x=[f.kind for f in chosen],
                             y=[f.sessions_per_server for f in chosen],
                             name=f"{binding} binds", marker_color=colour))
    fig.update_xaxes(categoryorder="array", categoryarray=[f.kind for f in fits])
    return layout(fig, "Agent sessions one server carries, by sandbox", "",
                  "sessions per server", barmode="stack")


class FleetExplorer(Explorer):
    """Server size, a session's working set, CPU share and tool calls -> sessions per server
    for each measured kind, which constraint binds, and the US fleet and its rent.

    Defined in notebook 05 § Explore: which constraint binds?
    """

    def __init__(self, results: list[dict], sessions: float = 15e6):
        self.results = [r for r in results if r.get("available")]
        if not self.results:
            raise ValueError("FleetExplorer needs at least one measured (available) kind")
        self.sessions = sessions
        self.cores = slider(w.IntSlider, "server cores", value=2, min=1, max=64)
        self.memory_gb = slider(w.FloatLogSlider, "server memory (GB)", value=8, base=2,
                                min=0, max=9, step=1, readout_format=",.0f")
        self.working_set = slider(w.FloatLogSlider, "working set per session (MB)",
                                  value=10, base=10, min=-1, max=3.5, step=0.05,
                                  readout_format=",.1f")
        self.cpu_share = slider(w.FloatSlider, "CPU per active session (%)", value=4.0,
                                min=0.5, max=50, step=0.5)
        self.tool_calls = slider(w.FloatSlider, "tool calls per minute", value=6, min=0,
                                 max=120, step=1)
        self.numbers = w.HTML()
        self.figure = go.FigureWidget(sessions_per_server(self.fits()))
        self._label_bars(self.fits())
        controls = [self.cores, self.memory_gb, self.working_set, self.cpu_share,
                    self.tool_calls]
        super().__init__(children=[*controls, self.numbers, self.figure])
        self._bind(controls)
        self.last_update_seconds = 0.0
        self._show(self.numbers_text())

    def session(self):
        return fleet.Session(cpu_share=self.cpu_share.value / 100,
                             working_set_mb=self.working_set.value,
                             tool_calls_per_minute=self.tool_calls.value)

    def server(self):
        return fleet.Server(cores=self.cores.value, memory_gb=self.memory_gb.value)

    def fits(self):
        return [fleet.fit_kind(r, self.session(), self.server()) for r in self.results]

    def numbers_text(self) -> str:
        lines = [f"{'kind':<17}{'per server':>11}  {'binds':<9}{'US servers':>12}"
                 f"{'$ per hour':>14}{'$ per agent-hour':>18}"]
        for fit in self.fits():
            us = fleet.fleet(fit, self.sessions, self.server())
            lines.append(f"{fit.label:<17}{fit.sessions_per_server:>11,.0f}  {fit.binding:<9}"
                         f"{us.servers:>12,.0f}{us.dollars_per_hour:>14,.0f}"
                         f"{us.dollars_per_agent_hour:>18.5f}")
        lines.append(f"(US: {self.sessions:,.0f} sessions at once; a server rents as many EC2 "
                     "m7g.large, 2 vCPU and 8 GiB each, as its cores or memory need)")
        return "\n".join(lines)

    def _label_bars(self, fits) -> None:
        """One bar per kind, coloured by what binds; recorded kinds say RECORDED."""
        with self.figure.batch_update():
            for trace, (binding, _) in zip(self.figure.data, BINDING_COLOURS.items(),
                                           strict=True):
                chosen = [f for f in fits if f.binding == binding]
                trace.x = [f.label for f in chosen]
                trace.y = [f.sessions_per_server for f in chosen]

    def _redraw(self) -> None:
        self._label_bars(self.fits())
        self._show(self.numbers_text())

    def __repr__(self) -> str:
        kinds = ", ".join(r["kind"] for r in self.results)
        return f"FleetExplorer(kinds=[{kinds}], sessions={self.sessions:,.0f})"
