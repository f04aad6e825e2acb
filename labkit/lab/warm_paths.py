"""Cold against warm, kind by kind: what a sandbox costs when nothing is kept ready, and
what it costs when something is (a reused isolate, a pooled slot, a running interpreter or
container). Rows come from `labkit bench --path cold,warm` (live or recorded).

Notebook 05 § Cold and warm: what keeping something ready buys (its cells are proposed
for the notebook; until they are pasted, the layout test cannot find that heading).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import plotly.graph_objects as go

from .style import colour, layout

PATH_ORDER = ("cold", "warm")


def cold_warm_table(rows: Iterable[Mapping], workload: str = "fib") -> list[dict]:
    """One entry per kind measured on the cold path: its cold and warm p50 (ms; None where
    the kind has no warm path, with the reason), the speed-up, and what its warm path is.

    Defined in notebook 05 § Cold and warm: what keeping something ready buys
    """
    by_kind: dict[str, dict] = {}
    for row in rows:
        if row.get("workload", "fib") != workload:
            continue
        path = row.get("path", "cold")
        entry = by_kind.setdefault(row["kind"], {"kind": row["kind"], "cold_ms": None,
                                                 "warm_ms": None, "warm_how": "",
                                                 "no_warm": ""})
        if not row.get("available", True):
            if path == "warm":
                entry["no_warm"] = row.get("reason", "")
            continue
        entry[f"{path}_ms"] = row["start_ms_p50"]
        if path == "warm":
            entry["warm_how"] = row.get("warm_how", "")
    table = []
    for entry in by_kind.values():
        if entry["cold_ms"] is None:
            continue
        cold, warm = entry["cold_ms"], entry["warm_ms"]
        entry["speedup"] = cold / warm if warm else None
        table.append(entry)
    return table


def cold_vs_warm(rows: Iterable[Mapping], workload: str = "fib",
                 title: str | None = None) -> go.Figure:
    """Grouped bars: p50 of one call per kind, cold beside warm, on a log axis (the kinds
    span five orders of magnitude). A kind without a warm path shows its cold bar alone and
    says so in its hover text.

    Defined in notebook 05 § Cold and warm: what keeping something ready buys
    """
    table = cold_warm_table(rows, workload)
    if not table:
        raise ValueError(f"no measured cold rows for the {workload} workload: run "
                         f"`python -m labkit bench --path cold,warm --workload {workload}`")
    kinds = [entry["kind"] for entry in table]
    fig = go.Figure()
    for i, path in enumerate(PATH_ORDER):
        values = [entry[f"{path}_ms"] for entry in table]
        hover = [(entry["warm_how"] if path == "warm" else "a fresh sandbox per call")
                 if entry[f"{path}_ms"] is not None else (entry["no_warm"] or "not measured")
                 for entry in table]
        fig.add_bar(name=path, x=kinds, y=values, marker_color=colour(i),
                    customdata=hover, text=[_ms(v) for v in values], textposition="outside",
                    hovertemplate="%{x} " + path + ": %{y:.3g} ms<br>%{customdata}"
                                  "<extra></extra>")
    measured = [v for entry in table for v in (entry["cold_ms"], entry["warm_ms"]) if v]
    low, high = math.log10(min(measured)), math.log10(max(measured))
    layout(fig, title or f"One call, cold and warm ({workload}, median)", y="ms (log scale)",
           barmode="group")
    fig.update_yaxes(type="log", range=[math.floor(low) - 0.3, high + 0.6])
    return fig


def _ms(value: float | None) -> str:
    if value is None:
        return "no warm path"
    return f"{value:.3g}"
