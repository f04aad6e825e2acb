"""Notebook 07 (an agent at work): the timeline figure, the many-agents table, the cost
split and the explorer, over labkit.agent."""

from __future__ import annotations

import ipywidgets as w
import plotly.graph_objects as go

from ..agent.cost import agent_hour
from ..agent.load import real_agents_served
from ..agent.model import ModelFigures
from .explorer import Explorer, slider
from .style import PALETTE, layout

PART_COLOURS = {"model thinking": PALETTE["grey"],
                "sandbox create + tear down": PALETTE["vermillion"],
                "tool runs": PALETTE["blue"]}


def timeline_figure(timelines: dict, log_x: bool = False) -> go.Figure:
    """One bar per agent run (label -> timeline rows), its segments in order: the model's
    thinking in grey, each fresh sandbox's create + tear down and its run in colour.

    Defined in notebook 07 § One agent, step by step
    """
    fig = go.Figure()
    shown = set()
    for label, rows in timelines.items():
        for row in rows:
            part = row["part"]
            fig.add_bar(y=[label], x=[row["seconds"]], base=[row["start"]], orientation="h",
                        marker_color=PART_COLOURS[part], name=part, legendgroup=part,
                        showlegend=part not in shown,
                        hovertext=f"step {row['step']} ({row['tool']}): {part}, "
                                  f"{row['seconds'] * 1000:,.1f} ms"
                                  + (f"<br>{row['error']}" if row.get("error") else ""))
            shown.add(part)
    layout(fig, "One task, start to answer: where the time goes", x="seconds", barmode="overlay",
           height=140 + 60 * len(timelines))
    if log_x:
        fig.update_xaxes(type="log")
    return fig


def load_table(results: list[dict]) -> str:
    """The many-agents table as text, one row per load run.

    Defined in notebook 07 § Many agents at once
    """
    lines = [f"{'kind':<14}{'agents':>7}{'agents/min':>11}{'peak live':>10}{'p50 ms':>9}"
             f"{'p99 ms':>9}{'peak MB':>9}{'fail':>6}{'real agents':>13}"]
    for r in results:
        label = r["kind"] + (" (REC)" if r.get("recorded") else "")
        lines.append(f"{label:<14}{r['agents']:>7}{r['agents_per_minute']:>11,.0f}"
                     f"{r['peak_live_sandboxes']:>10}{r['tool_ms_p50']:>9,.1f}"
                     f"{r['tool_ms_p99']:>9,.1f}{r['peak_memory_mb']:>9,.0f}"
                     f"{r['failures']:>6}{real_agents_served(r):>13,.0f}")
    return "\n".join(lines)


def cost_table(hours) -> str:
    """Per agent-hour: the model's tokens against the sandbox's compute, and its share.

    Defined in notebook 07 § What an agent-hour costs
    """
    lines = [f"{'kind':<8}{'style':<11}{'tasks/h':>8}{'calls/h':>9}{'model $':>10}"
             f"{'sandbox $':>11}{'sandbox share':>15}"]
    for h in hours:
        lines.append(f"{h.kind:<8}{h.style:<11}{h.tasks_per_hour:>8,.0f}"
                     f"{h.tool_calls_per_hour:>9,.0f}{h.model_usd:>10.3f}{h.sandbox_usd:>11.5f}"
                     f"{h.sandbox_share:>15.4%}")
    return "\n".join(lines)


class CostExplorer(Explorer):
    """Start time, memory per sandbox and the model's price -> the sandbox's share of an
    agent-hour, for one measured agent run.

    Defined in notebook 07 § Explore: when does the sandbox matter?
    """

    def __init__(self, run, start_ms: float, mem_mb: float):
        self.run = run
        base = ModelFigures.published()
        self.base = base
        self.start_ms = slider(w.FloatLogSlider, "sandbox start (ms)", value=start_ms,
                               base=10, min=-1, max=4, step=0.05, readout_format=",.1f")
        self.mem_mb = slider(w.FloatLogSlider, "memory per sandbox (MB)", value=mem_mb,
                             base=10, min=-1, max=3.5, step=0.05, readout_format=",.1f")
        self.price_factor = slider(w.FloatLogSlider, "model price (x published)", value=1,
                                   base=10, min=-3, max=1, step=0.1, readout_format=",.3f")
        self.numbers = w.HTML()
        controls = [self.start_ms, self.mem_mb, self.price_factor]
        super().__init__(children=[*controls, self.numbers])
        self._bind(controls)
        self.last_update_seconds = 0.0
        self._redraw()

    def hour(self):
        f = self.base
        figures = ModelFigures(f.ttft_s, f.tokens_per_s, f.chars_per_token,
                               f.input_usd_per_mtok * self.price_factor.value,
                               f.output_usd_per_mtok * self.price_factor.value)
        return agent_hour(self.run, self.start_ms.value, self.mem_mb.value, figures)

    def _redraw(self) -> None:
        h = self.hour()
        self._show(f"model ${h.model_usd:,.4f} + sandbox ${h.sandbox_usd:,.5f} per agent-hour: "
                   f"the sandbox is {h.sandbox_share:.2%} of the bill")
