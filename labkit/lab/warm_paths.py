"""Cold against warm, kind by kind: what a sandbox costs when nothing is kept ready, and
what it costs when something is (a reused isolate, a pooled slot, a running interpreter or
container); between them, for the containers, a fresh container made ahead and only started
on the call ("precreated"). Rows come from `labkit bench --path cold,precreated,warm` (live
or recorded).

Notebook 05 § Cold and warm: what keeping something ready buys (its cells are proposed
for the notebook; until they are pasted, the layout test cannot find that heading).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import plotly.graph_objects as go

from .style import colour, layout

PATH_ORDER = ("cold", "precreated", "warm")


def cold_warm_table(rows: Iterable[Mapping], workload: str = "fib") -> list[dict]:
    """One entry per kind measured on the cold path: its cold, pre-created and warm p50 (ms;
    None where the kind has no such path, with the reason for a missing warm one), the
    warm speed-up, and what its warm and pre-created paths are.

    Defined in notebook 05 § Cold and warm: what keeping something ready buys
    """
    by_kind: dict[str, dict] = {}
    for row in rows:
        if row.get("workload", "fib") != workload:
            continue
        path = row.get("path", "cold")
        entry = by_kind.setdefault(row["kind"], {"kind": row["kind"], "cold_ms": None,
                                                 "precreated_ms": None, "warm_ms": None,
                                                 "warm_how": "", "precreated_how": "",
                                                 "no_warm": ""})
        if not row.get("available", True):
            if path == "warm":
                entry["no_warm"] = row.get("reason", "")
            continue
        entry[f"{path}_ms"] = row["start_ms_p50"]
        if path != "cold":
            entry[f"{path}_how"] = row.get("warm_how", "")
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
    span five orders of magnitude), and the pre-created bar between them where any kind has
    one. A kind without a warm path shows no warm bar and says why in its hover text.

    Defined in notebook 05 § Cold and warm: what keeping something ready buys
    """
    table = cold_warm_table(rows, workload)
    if not table:
        raise ValueError(f"no measured cold rows for the {workload} workload: run "
                         f"`python -m labkit bench --path cold,warm --workload {workload}`")
    kinds = [entry["kind"] for entry in table]
    fig = go.Figure()
    paths = [path for path in PATH_ORDER if path != "precreated"
             or any(entry["precreated_ms"] is not None for entry in table)]
    for i, path in enumerate(paths):
        values = [entry[f"{path}_ms"] for entry in table]
        hover = [(entry[f"{path}_how"] if path != "cold" else "a fresh sandbox per call")
                 if entry[f"{path}_ms"] is not None else
                 ((entry["no_warm"] if path == "warm" else "") or "not measured")
                 for entry in table]
        fig.add_bar(name=path, x=kinds, y=values, marker_color=colour(i),
                    customdata=hover, text=[_ms(v, path) for v in values],
                    textposition="outside",
                    hovertemplate="%{x} " + path + ": %{y:.3g} ms<br>%{customdata}"
                                  "<extra></extra>")
    measured = [v for entry in table for path in paths if (v := entry[f"{path}_ms"])]
    low, high = math.log10(min(measured)), math.log10(max(measured))
    layout(fig, title or f"One call, cold and warm ({workload}, median)", y="ms (log scale)",
           barmode="group")
    fig.update_yaxes(type="log", range=[math.floor(low) - 0.3, high + 0.6])
    return fig


def _ms(value: float | None, path: str = "warm") -> str:
    if value is None:
        return "no warm path" if path == "warm" else ""
    return f"{value:.3g}"
