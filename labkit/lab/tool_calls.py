"""Notebooks 03 and 04: one agent-written tool call, unchanged, in a few kinds side by side.

fib compares sandboxes on the smallest program each can run, which flatters the ones that
start no language runtime. A tool call (parse ~37 KB of JSON, filter, aggregate, answer
JSON; guests/tool.js and guests/tool.py) needs an interpreter inside the sandbox, as an
agent's code does. `compare` runs it live in each kind that can run here, with the kind's
harness floor from the same run (so "what the sandbox adds" = cold call - floor can be
read), and falls back, per kind, to the newest recorded row of the same kind and workload,
labelled as recorded with its machine.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import plotly.graph_objects as go

from .. import bench, results
from ..sandboxes import sandbox_class
from ..workload import WORKLOAD_LANGUAGES, can_host, check_workload
from .style import LAYOUT, LEGEND_ON_TOP, PALETTE

# Enough calls for a median and a rough p99 in a few seconds per kind.
CALLS = 10


@dataclass(frozen=True)
class ToolRow:
    """One kind's tool call: its cold-call median and p99, its harness floor, and where
    the numbers came from (live here, or recorded: the file and the machine).

    Defined in notebook 03 § The same tool call, in an isolate and in a plain process
    """

    kind: str
    workload: str
    p50_ms: float | None
    p99_ms: float | None
    floor_ms: float | None
    source: str  # "measured live on this machine" or "RECORDED in ... on ..."
    reason: str = ""  # why neither a live nor a recorded figure exists

    @property
    def recorded(self) -> bool:
        return self.source.startswith("RECORDED")

    @property
    def sandbox_ms(self) -> float | None:
        """What the sandbox adds over its harness floor (None without a floor)."""
        if self.p50_ms is None or self.floor_ms is None:
            return None
        return max(0.0, self.p50_ms - self.floor_ms)

    def line(self) -> str:
        if self.p50_ms is None:
            return f"{self.kind:<8} {self.workload}: no figure: {self.reason}"
        floor = f"{self.floor_ms:8.2f}" if self.floor_ms is not None else f"{'-':>8}"
        return (f"{self.kind:<8} {self.workload}: p50 {self.p50_ms:8.2f} ms  p99 "
                f"{self.p99_ms:8.2f} ms  floor {floor} ms  ({self.source})")


def _row(result, workload: str) -> ToolRow:
    return ToolRow(result.kind, workload, result.start_ms_p50, result.start_ms_p99,
                   result.extras.get("floor_ms"), result.source_line().split(": ", 1)[1])


def recorded_row(kind: str, workload: str) -> results.KindResult | None:
    """The newest recorded measurement of `kind` running `workload`, if any (cold, one
    client).

    Defined in notebook 03 § The same tool call, in an isolate and in a plain process
    """
    for path in reversed(results.recorded_runs()):
        try:
            run = results.load_run(path)
        except results.ResultsFileError:
            continue
        for result in run:
            if result.kind == kind and result.workload == workload and result.available \
                    and result.get("path", "cold") == "cold" \
                    and result.get("concurrency", 1) == 1:
                return result
    return None


def compare(kinds: Sequence[str], workload: str, calls: int = CALLS) -> list[ToolRow]:
    """The same tool call in each kind: live where it runs here, else recorded.

    Defined in notebook 03 § The same tool call, in an isolate and in a plain process
    """
    workload = check_workload(workload)
    if workload not in WORKLOAD_LANGUAGES:
        raise ValueError(f"{workload!r} is not a tool call; valid ones are: "
                         f"{', '.join(WORKLOAD_LANGUAGES)}")
    calls = bench.check_calls(calls)
    rows = []
    for kind in kinds:
        if not can_host(sandbox_class(kind).capabilities, workload):
            rows.append(ToolRow(kind, workload, None, None, None, "",
                                f"{kind} cannot host {WORKLOAD_LANGUAGES[workload]}"))
            continue
        live = bench.bench_kind(kind, calls, warmup=1, live=1, show_progress=False,
                                workload=workload)
        if live.available:
            rows.append(_row(live, workload))
            continue
        stand_in = recorded_row(kind, workload)
        if stand_in is None:
            rows.append(ToolRow(kind, workload, None, None, None, "",
                                f"not here ({live.reason}) and not in any recording"))
        else:
            rows.append(_row(stand_in, workload))
    return rows


def floor_and_sandbox_bars(rows: Iterable[ToolRow], title: str) -> go.Figure:
    """One bar per kind: its harness floor (grey) and what the sandbox adds on top (blue;
    light blue when recorded). A kind without a floor shows its whole cold call.

    Defined in notebook 03 § The same tool call, in an isolate and in a plain process
    """
    shown = [r for r in rows if r.p50_ms is not None]
    labels = [f"{r.kind} · {r.workload}" + (" (recorded)" if r.recorded else "") for r in shown]
    floors = [r.floor_ms or 0.0 for r in shown]
    on_top = [r.sandbox_ms if r.sandbox_ms is not None else r.p50_ms for r in shown]
    figure = go.Figure([
        go.Bar(name="harness floor (no sandbox work)", x=labels, y=floors,
               marker_color=PALETTE["grey"],
               hovertemplate="%{x}: floor %{y:.2f} ms<extra></extra>"),
        go.Bar(name="the sandbox and the tool call", x=labels, y=on_top,
               marker_color=[PALETTE["sky"] if r.recorded else PALETTE["blue"] for r in shown],
               hovertemplate="%{x}: %{y:.2f} ms over the floor<extra></extra>"),
    ])
    figure.update_layout(**LAYOUT, barmode="stack", title=title, legend=LEGEND_ON_TOP,
                         yaxis_title="median cold call (ms)")
    figure.update_layout(margin=dict(l=70, r=20, t=90, b=50))
    return figure
