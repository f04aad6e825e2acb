"""Notebook 05 (head to head): measured vs published figures, the fleet, FleetExplorer.

Each figure function takes bench results (dicts, as `python -m labkit bench --json` gives
them) or fleet fits, and returns a go.Figure; FleetExplorer refits every measured kind as
its sliders move.
"""

from __future__ import annotations

import math

import ipywidgets as w
import plotly.graph_objects as go

from .. import bench, fleet, results
from ..measure import machine_info
from ..sandboxes import KINDS
from .explorer import Explorer, slider
from .style import PALETTE, colour, layout

# The tool calls as the notebook runs them live: a few calls each and two instances held
# (a tool row's memory is the idle kind's anyway: its `mem_of` says so), and without
# WebAssembly's CPython (hundreds of milliseconds a start), so Run All stays under two minutes.
# `python -m labkit bench --workload fib,tool-js,tool-py` measures everything, at full size.
TOOL_WORKLOADS = ("tool-js", "tool-py")
TOOL_LIVE = {"calls": 5, "warmup": 1, "live": 2}
TOOL_LEFT_OUT = {("wasm", "tool-py"): (
    "left out of this notebook's live run: one CPython-on-WebAssembly start takes "
    "hundreds of milliseconds")}
TOOL_LEFT_OUT_FIX = "python -m labkit bench --kinds wasm --workload tool-py"

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


def live_tool_rows(show_progress: bool = False) -> list:
    """The tool workloads measured here, briefly (TOOL_LIVE), every kind reported: a kind
    that cannot host one says why, a kind left out of this quick run (TOOL_LEFT_OUT) says
    so, and a recording can stand in for it.

    Defined in notebook 05 § One run, every kind
    """
    rows = []
    machine = machine_info()
    for workload in TOOL_WORKLOADS:
        chosen = [k for k in KINDS if (k, workload) not in TOOL_LEFT_OUT]
        ran = {r.kind: r for r in bench.run_bench(chosen, workload=workload,
                                                  show_progress=show_progress, **TOOL_LIVE)}
        rows.extend(ran.get(kind) or results.unavailable(
            kind, TOOL_LEFT_OUT[(kind, workload)], TOOL_LEFT_OUT_FIX, machine, workload)
            for kind in KINDS)
    return rows


def _dash(value, spec: str, width: int) -> str:
    return f"{value:>{width}{spec}}" if value is not None else f"{'-':>{width}}"


def workload_table(results, workload: str) -> str:
    """One workload's rows as a text table: every kind, a kind that did not run it with its
    reason (it cannot host the workload, or cannot run here), a recorded one marked so.

    Columns: cold-call median and p99, the kind's harness floor (the same path with no
    sandbox work, same run), cold minus floor, memory per live instance, start as a
    multiple of wasm's on the same workload and run.

    Defined in notebook 05 § One table per workload
    """
    rows = [r for r in results if r.get("workload", "fib") == workload]
    lines = [f"workload: {workload}",
             f"{'kind':<20}{'p50 ms':>10}{'p99 ms':>10}{'floor ms':>10}{'p50-floor':>11}"
             f"{'MB/inst':>9}{'start x wasm':>14}"]
    for r in rows:
        label = r["kind"] + (" (recorded)" if r.get("recorded") else "")
        if not r.get("available"):
            lines.append(f"{label:<20}not run: {r['reason']}")
            continue
        floor = r.get("floor_ms")
        net = r["start_ms_p50"] - floor if floor is not None else None
        ratio = (r.get("ratio_to_wasm") or {}).get("start_ms_p50")
        lines.append(f"{label:<20}{r['start_ms_p50']:>10.3f}{r['start_ms_p99']:>10.3f}"
                     f"{_dash(floor, '.3f', 10)}{_dash(net, '.3f', 11)}"
                     f"{r['mem_mb_per_instance']:>9.3f}{_dash(ratio, ',.0f', 14)}")
    return "\n".join(lines)


def start_by_workload(results, workloads) -> go.Figure:
    """Cold-call medians, one bar per kind and workload on one log axis; a kind that did
    not run a workload is an open marker at the axis's left edge, its reason on hover.

    Defined in notebook 05 § One table per workload
    """
    fig = go.Figure()
    order = list(dict.fromkeys(r["kind"] for r in results))
    ran = [r for r in results if r.get("available")]
    values = [r["start_ms_p50"] for r in ran if r["start_ms_p50"] > 0] or [1.0]
    left = 10 ** (math.floor(math.log10(min(values))) - 0.5)
    for index, workload in enumerate(workloads):
        rows = [r for r in results if r.get("workload", "fib") == workload]
        done = [r for r in rows if r.get("available")]
        fig.add_trace(go.Bar(
            y=[r["kind"] for r in done], x=[r["start_ms_p50"] for r in done],
            orientation="h", name=workload, marker_color=colour(index),
            marker_pattern_shape=["/" if r.get("recorded") else "" for r in done],
            text=[f"{r['start_ms_p50']:,.3g}" for r in done], textposition="outside",
            cliponaxis=False, customdata=["recorded" if r.get("recorded") else "live"
                                          for r in done],
            hovertemplate="%{y}, " + workload + ": %{x:,.4g} ms (%{customdata})<extra></extra>"))
        absent = [r for r in rows if not r.get("available")]
        fig.add_trace(go.Scatter(
            y=[r["kind"] for r in absent], x=[left] * len(absent), mode="markers",
            marker=dict(symbol="x-open", size=9, color=colour(index)),
            name=f"{workload}: not run", hovertext=[r["reason"] for r in absent],
            hovertemplate="%{y}: " + workload + " not run: %{hovertext}<extra></extra>",
            showlegend=bool(absent)))
    fig.update_yaxes(categoryorder="array", categoryarray=order[::-1])
    fig.update_xaxes(type="log", range=[math.log10(left) - 0.2,
                                        math.log10(max(values)) + 0.8])
    return layout(fig, "Cold call by workload (hatched: recorded; x: not run, hover for why)",
                  "cold call, median (ms)", "", barmode="group",
                  height=160 + 24 * len(order) * max(1, len(workloads)))


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
    for binding, binding_colour in BINDING_COLOURS.items():
        chosen = [f for f in fits if f.binding == binding]
        fig.add_trace(go.Bar(x=[f.kind for f in chosen],
                             y=[f.sessions_per_server for f in chosen],
                             name=f"{binding} binds", marker_color=binding_colour))
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
