"""Notebook 05's "where the time goes": each kind's cold call as stacked intervals, with the
published figures placed on the interval they actually measured.

A bench row carries `extras["phases_ms"]` (labkit.bench.phases_ms: the median of each named
interval over a few cold calls, in order, "other" for the rest). One bar per kind, each on
its own linear scale (a wasm call is microseconds, a container's tens of milliseconds: one
shared axis would hide the small ones, a log axis would hide the proportions), each interval
a colour of the lab's palette. A published figure rarely covers a whole cold call: Cloudflare's
5 ms is an isolate's load without the HTTP hop, wasmtime's 5 µs is instantiation alone, a
runtime's "start+run+exit" is the whole of create, start, run and delete. PLACEMENTS says which
intervals each covers, so a reader compares like with like.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .. import published
from . import style


@dataclass(frozen=True)
class Placement:
    """One published start figure, the kind it is about and the intervals it covers.

    Defined in notebook 05 § Start latency, beside the published figures
    """

    name: str                # labkit.published.PUBLISHED's name for the figure
    kind: str                # the lab's kind it is set beside
    covers: tuple[str, ...]  # the kind's interval names the figure measured
    note: str                # why those intervals, in a few words

    @property
    def figure(self) -> published.Published:
        """The published point itself (its value, source and what it measured)."""
        for point in published.PUBLISHED:
            if point.name == self.name and point.measure == "start_ms":
                return point
        raise LookupError(f"no published start figure named {self.name!r}")


PLACEMENTS = (
    Placement("V8 isolate, Cloudflare 2018", "v8", ("load",),
              "an isolate started inside a running workerd: no HTTP hop, no call"),
    Placement("wasmtime instance, before pooling (SpiderMonkey.wasm)", "wasm",
              ("instantiate",), "instantiation of a far larger module, a JavaScript engine"),
    Placement("wasmtime instance, pooled (SpiderMonkey.wasm)", "wasm", ("instantiate",),
              "instantiation from a pool with copy-on-write memory: a warm path"),
    Placement("Lucet instance (Fastly)", "wasm", ("instantiate",),
              "instantiation from instances set up ahead of time: a warm path"),
    Placement("crun, 100 x /bin/true", "crun", ("create", "start", "run", "delete"),
              "`crun run` of /bin/true: the whole cold call"),
    Placement("runc, 100 x /bin/true", "runc", ("create", "start", "run", "delete"),
              "`runc run` of /bin/true: the whole cold call"),
)


def phase_rows(rows: Iterable) -> dict[str, dict[str, float]]:
    """{kind: phases_ms} for the measured rows that split their cold call, in run order
    (bench results or their dicts; a recorded row's kind is marked "(recorded)", a tool
    call's carries its workload: "runc tool-py"), so no row hides another.

    Defined in notebook 05 § Start latency, beside the published figures
    """
    found = {}
    for row in rows:
        phases = row.get("phases_ms") if row.get("available") else None
        if phases:
            workload = row.get("workload", "fib")
            label = row["kind"] + ("" if workload == "fib" else f" {workload}") + \
                (" (recorded)" if row.get("recorded") else "")
            found[label] = dict(phases)
    return found


def covered_span(phases: dict[str, float], covers: Iterable[str]) -> tuple[float, float]:
    """Where the covered intervals lie on a kind's bar (start and end in ms); the bar's
    intervals are laid end to end in their order, negative remainders drawn as nothing.

    Defined in notebook 05 § Start latency, beside the published figures
    """
    wanted = list(covers)
    missing = [name for name in wanted if name not in phases]
    if missing:
        raise ValueError(f"no interval named {', '.join(missing)}; this kind has: "
                         f"{', '.join(phases)}")
    start, spans = 0.0, {}
    for name, ms in phases.items():
        spans[name] = (start, start + max(ms, 0.0))
        start += max(ms, 0.0)
    return min(spans[n][0] for n in wanted), max(spans[n][1] for n in wanted)


def placement_notes(kinds: Iterable[str]) -> list[str]:
    """One sentence per published figure about one of `kinds`: its value and the intervals
    it covers (for the text beside the chart).

    Defined in notebook 05 § Start latency, beside the published figures
    """
    wanted = set(kinds)
    notes = []
    for place in PLACEMENTS:
        if place.kind in wanted:
            point = place.figure
            notes.append(f"{point.name}: {point.value:g} ms covers {place.kind}'s "
                         f"{' + '.join(place.covers)} ({place.note})")
    return notes


def _fmt(ms: float) -> str:
    return f"{ms * 1000:.1f} µs" if ms < 0.1 else f"{ms:.3g} ms"


def time_split_figure(rows: Iterable, title: str = "Where a cold call's time goes") -> go.Figure:
    """One stacked horizontal bar per kind, each on its own linear scale, an interval per
    colour ("other" in grey); under each bar, a line over the intervals each published
    figure about that kind covers, labelled with its value.

    Defined in notebook 05 § Start latency, beside the published figures
    """
    kinds = phase_rows(rows)
    if not kinds:
        raise ValueError("no row has phases_ms: measure with labkit.bench (every kind "
                         "splits a cold call of fib; bench records it as phases_ms)")
    height = max(260, 150 * len(kinds))
    # about 60 px between bars: room for one bar's tick labels and the next bar's title
    fig = make_subplots(rows=len(kinds), cols=1,
                        vertical_spacing=min(0.3, 60 / height) if len(kinds) > 1 else 0,
                        subplot_titles=[f"{kind}: {_fmt(sum(max(v, 0) for v in p.values()))}"
                                        for kind, p in kinds.items()])
    for row, (kind, phases) in enumerate(kinds.items(), start=1):
        for index, (name, ms) in enumerate(phases.items()):
            colour = style.PALETTE["grey"] if name == "other" else style.colour(index)
            fig.add_trace(go.Bar(
                x=[max(ms, 0.0)], y=[0], orientation="h", name=name, marker_color=colour,
                text=[name], textposition="inside", insidetextanchor="middle",
                hovertemplate=f"{kind} · {name}: {_fmt(ms)}<extra></extra>",
                showlegend=False), row=row, col=1)
        placed = 0
        for place in PLACEMENTS:
            # published figures are of a kind's smallest program: never over a tool call
            if place.kind != kind.removesuffix(" (recorded)") or \
                    not set(place.covers) <= set(phases):
                continue
            start, end = covered_span(phases, place.covers)
            point = place.figure
            level = -0.55 - 0.4 * placed  # one line under another, labels apart
            placed += 1
            fig.add_trace(go.Scatter(
                x=[start, end], y=[level, level], mode="lines+markers+text",
                line=dict(color=style.ESSAY, width=2), marker=dict(symbol="line-ns-open"),
                text=[f"{point.name}: {point.value:g} ms", ""], textposition="bottom right",
                textfont=dict(size=10),
                hovertemplate=f"{point.name}: {point.value:g} ms<br>{place.note}<extra></extra>",
                showlegend=False), row=row, col=1)
        # room under the bar for each published figure's line and its label, no more
        fig.update_yaxes(showticklabels=False, range=[-0.5 - 0.4 * placed - 0.15 * bool(placed),
                                                     0.5], row=row, col=1)
        fig.update_xaxes(rangemode="tozero", row=row, col=1)
    # one axis title, under the last bar: each bar's own scale is in ms
    fig.update_xaxes(title_text="ms (each bar on its own scale)", row=len(kinds), col=1)
    style.layout(fig, title, barmode="stack", height=height + 40 * sum(
        1 for kind in kinds for place in PLACEMENTS
        if place.kind == kind.removesuffix(" (recorded)")), showlegend=False)
    return fig
