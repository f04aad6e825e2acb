"""Notebook 05's load figures: throughput and p99 latency against clients calling at once,
one line per kind, from the rows of `bench --concurrency` (labkit.load_bench)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..load_bench import saturation
from .style import colour, layout


def load_figure(rows: Iterable[Mapping], workload: str = "fib") -> go.Figure:
    """Two panels, clients (C) across: calls per second (log scale: kinds differ by
    thousands) and p99 ms under load; a ring marks where each kind stops growing.

    Defined in notebook 05 § Under load: many clients at once
    """
    found = [s for s in saturation(rows) if s["workload"] == workload]
    if not found:
        raise ValueError(f"no load rows for the {workload} workload: run bench with "
                         f"--concurrency 1,2,4,8 (and --workload {workload})")
    fig = make_subplots(rows=1, cols=2, subplot_titles=("throughput (calls/s)",
                                                        "p99 latency under load (ms)"))
    for i, kind in enumerate(found):
        cs = sorted(kind["per_second"])
        line = dict(color=colour(i))
        fig.add_trace(go.Scatter(x=cs, y=[kind["per_second"][c] for c in cs], name=kind["kind"],
                                 mode="lines+markers", line=line, legendgroup=kind["kind"],
                                 hovertemplate="C=%{x}: %{y:,.0f} calls/s"), row=1, col=1)
        fig.add_trace(go.Scatter(x=cs, y=[kind["p99_ms"][c] for c in cs], name=kind["kind"],
                                 mode="lines+markers", line=line, legendgroup=kind["kind"],
                                 showlegend=False, hovertemplate="C=%{x}: p99 %{y:,.2f} ms"),
                      row=1, col=2)
        at = kind["saturates_at"]
        if at is not None:
            fig.add_trace(go.Scatter(x=[at], y=[kind["per_second"][at]], mode="markers",
                                     marker=dict(size=16, symbol="circle-open", color=colour(i)),
                                     legendgroup=kind["kind"], showlegend=False,
                                     hovertemplate=f"{kind['kind']} stops growing at C={at}: "
                                                   f"{kind['why']}<extra></extra>"),
                          row=1, col=1)
    cores = next((k["cores"] for k in found if k["cores"]), None)
    where = f" on {cores} cores" if cores else ""
    layout(fig, f"C clients calling at once ({workload}){where}; rings: throughput stops growing")
    for col in (1, 2):
        fig.update_xaxes(type="log", tickvals=sorted({c for k in found for c in k["per_second"]}),
                         title_text="clients at once (C)", row=1, col=col)
        fig.update_yaxes(type="log", row=1, col=col)
    return fig
