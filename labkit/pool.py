"""The room's results: many attendees' bench runs pooled into one figure of the class's spread.

Thirty laptops measuring the same sandboxes disagree, sometimes by a factor of ten: that
spread is the workshop's best lesson in "measure, don't believe". Each attendee runs
`python -m labkit bench --save` (or `bench --json > NAME.json`) and hands in the file; the
facilitator puts the files in one folder and runs `python -m labkit pool FOLDER`.
Each file's name (without .json) labels its machine, so ask attendees to name theirs.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from . import results
from .lab.style import PALETTE
from .sandboxes import KINDS

# The figures pooled, with their axis titles; both span orders of magnitude across kinds,
# so both use a log axis.
METRICS = {
    "start_ms_p50": "cold start, median (ms)",
    "mem_mb_per_instance": "memory per live instance (MB)",
}
# Machines cycle through the colour-blind-safe colours and through marker shapes, so two
# machines never share both.
COLOURS = [c for name, c in PALETTE.items() if name not in ("black", "grey")]


class PoolError(results.ResultsFileError):
    """A file or folder that cannot be pooled; the message names the file and the problem."""


@dataclass(frozen=True)
class Run:
    """One attendee's run: its label, the machine it came from, its measured rows by kind."""

    label: str
    machine: dict
    measured: dict  # kind -> its labkit.results.KindResult
    unavailable: dict = field(default_factory=dict)  # kind -> reason

    def describe(self) -> str:
        """'alice: AMD EPYC, 2 cores, Debian GNU/Linux 12': who measured on what."""
        m = self.machine
        parts = [m.get("cpu"), f"{m['cores']} cores" if m.get("cores") else None,
                 m.get("distro") or m.get("os")]
        return f"{self.label}: " + (", ".join(p for p in parts if p) or "machine unknown")


@dataclass(frozen=True)
class KindSpread:
    """One kind across the room: how many machines measured it and the spread of a figure."""

    kind: str
    metric: str
    values: dict  # run label -> value

    @property
    def median(self) -> float:
        return statistics.median(self.values.values())

    @property
    def low(self) -> float:
        return min(self.values.values())

    @property
    def high(self) -> float:
        return max(self.values.values())


def load_run(path: Path) -> Run:
    """One file as a Run; a file that is not a bench run raises PoolError naming it.

    The file is read by labkit.results (format checked, every measured row validated);
    rows the file already held as recorded measured nothing on its machine: left out.
    """
    path = Path(path)
    try:
        run = results.load_run(path)
    except results.ResultsFileError as exc:
        raise PoolError(str(exc)) from None
    kept = [r for r in run if not r.source.copied and results.is_headline(r)]
    measured = {r.kind: r for r in kept if r.available}
    unavailable = {r.kind: r.reason or "no reason given" for r in kept if not r.available}
    if not measured:
        why = "; ".join(f"{k}: {v}" for k, v in unavailable.items()) or "no rows measured"
        raise PoolError(f"{path.name}: no kind was measured in this run ({why})")
    machine = next((r.machine for r in run if r.machine), {})
    return Run(path.stem, dict(machine), measured, unavailable)


def load_folder(folder: Path) -> list[Run]:
    """Every *.json in a folder as Runs, sorted by label; an empty folder is an error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PoolError(f"{folder}: not a folder (give the folder that holds the runs)")
    files = sorted(folder.glob("*.json"))
    if not files:
        raise PoolError(f"{folder}: no bench runs (*.json) in it; ask each attendee for the "
                        "file `python -m labkit bench --save` wrote, named after them")
    return [load_run(path) for path in files]


def _kind_order(kinds) -> list[str]:
    """The lab's usual order (wasm, v8, process, containers), unknown kinds after, by name."""
    known = [k for k in KINDS if k in kinds]
    return known + sorted(set(kinds) - set(known))


def spreads(runs: list[Run], metric: str = "start_ms_p50") -> list[KindSpread]:
    """Per kind, each machine's value of one figure (kinds no machine measured are left out)."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; valid ones are: {', '.join(METRICS)}")
    kinds = _kind_order({kind for run in runs for kind in run.measured})
    return [KindSpread(kind, metric, {run.label: run.measured[kind][metric]
                                      for run in runs if kind in run.measured})
            for kind in kinds]


def summary(runs: list[Run]) -> str:
    """A plain-text table: per kind, machines measured, median, lowest and highest; then
    which machines could not run which kinds (left out of the figure, never guessed)."""
    lines = [f"{len(runs)} machine{'s' if len(runs) != 1 else ''} pooled:"]
    lines += [f"  {run.describe()}" for run in runs]
    for metric, title in METRICS.items():
        lines += ["", title, f"  {'kind':<8} {'machines':>8} {'median':>10} {'lowest':>10} "
                             f"{'highest':>10} {'high/low':>9}"]
        for s in spreads(runs, metric):
            ratio = f"{s.high / s.low:,.1f}x" if s.low > 0 else "n/a"
            lines.append(f"  {s.kind:<8} {len(s.values):>8} {s.median:>10.4g} {s.low:>10.4g} "
                         f"{s.high:>10.4g} {ratio:>9}")
    missing: dict[str, list[str]] = {}
    for run in runs:
        for kind in run.unavailable:
            missing.setdefault(kind, []).append(run.label)
    if missing:
        lines += ["", "not measured (left out of the figure):"]
        lines += [f"  {kind} on {len(labels)} machine{'s' if len(labels) != 1 else ''}: "
                  f"{', '.join(labels)}" for kind, labels in
                  sorted(missing.items(), key=lambda item: _kind_order(missing).index(item[0]))]
    return "\n".join(lines)


def figure(runs: list[Run]) -> go.Figure:
    """One point per machine and kind (named in the legend and on hover), a bar per class
    median; start time and memory side by side, each on a log axis."""
    fig = make_subplots(rows=1, cols=len(METRICS), subplot_titles=list(METRICS.values()),
                        horizontal_spacing=0.12)
    kinds = _kind_order({kind for run in runs for kind in run.measured})
    position = {kind: i for i, kind in enumerate(kinds)}
    # Spread machines sideways within each kind's slot so their points do not overlap.
    width = 0.5
    offsets = [0.0] if len(runs) == 1 else [
        -width / 2 + width * i / (len(runs) - 1) for i in range(len(runs))]
    for col, metric in enumerate(METRICS, start=1):
        for s in spreads(runs, metric):
            x = position[s.kind]
            fig.add_trace(go.Scatter(
                x=[x - 0.35, x + 0.35], y=[s.median, s.median], mode="lines",
                line=dict(color="#000000", width=3), name="class median",
                legendgroup="median", showlegend=col == 1 and s.kind == kinds[0],
                hovertemplate=f"{s.kind}: class median %{{y:.4g}} "
                              f"({len(s.values)} machines)<extra></extra>"), row=1, col=col)
        for i, run in enumerate(runs):
            shown = [k for k in kinds if k in run.measured]
            fig.add_trace(go.Scatter(
                x=[position[k] + offsets[i] for k in shown],
                y=[run.measured[k][metric] for k in shown], mode="markers",
                marker=dict(size=9, symbol=i % 24, color=COLOURS[i % len(COLOURS)],
                            line=dict(width=1, color="#333333")),
                name=run.label, legendgroup=run.label, showlegend=col == 1,
                customdata=[[k, run.describe()] for k in shown],
                hovertemplate="%{customdata[1]}<br>%{customdata[0]}: %{y:.4g}<extra></extra>"),
                row=1, col=col)
        fig.update_yaxes(type="log", title_text=METRICS[metric], row=1, col=col)
        fig.update_xaxes(tickvals=list(range(len(kinds))), ticktext=kinds,
                         range=[-0.6, len(kinds) - 0.4], row=1, col=col)
    fig.update_layout(title=f"The room's results: {len(runs)} machines, one point each",
                      template="plotly_white", height=480,
                      legend=dict(title="machine", font=dict(size=11)),
                      margin=dict(l=70, r=20, t=80, b=50))
    return fig


def write_html(fig: go.Figure, path: Path) -> Path:
    """A self-contained page (plotly's JavaScript inside), so it opens with no network."""
    path = Path(path)
    fig.write_html(path, include_plotlyjs=True, full_html=True)
    return path
