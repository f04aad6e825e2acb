"""The lab's look: one colour-blind-safe palette and one plotly layout for every figure
(notebooks 01 to 05, and labkit.pool's figure of the room's runs).

Okabe & Ito's palette ("Color Universal Design", 2008) stays distinguishable with the
common forms of colour blindness. Figures that draw several labels in one chart take them
in ORDER, so adjacent traces never share a colour.
"""

from __future__ import annotations

import plotly.graph_objects as go

PALETTE = {
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "black": "#000000",
    "grey": "#999999",
}
# The order labels take in a chart with several of them (grey is kept for reference marks).
ORDER = ("blue", "orange", "green", "vermillion", "purple", "sky", "yellow", "black")
# Roles the essay's story gives colours in notebooks 01 and 02.
RESTAURANT = PALETTE["blue"]
CHEF = PALETTE["vermillion"]
ESSAY = PALETTE["orange"]
MODEL = PALETTE["green"]

LAYOUT = dict(template="plotly_white", height=380, margin=dict(l=70, r=20, t=60, b=50))
# A horizontal legend just above the plot, for figures whose right edge holds data labels.
LEGEND_ON_TOP = dict(orientation="h", yanchor="bottom", y=1.0, x=0)


def colour(index: int) -> str:
    """The colour of the index-th label in a chart: ORDER, round again past the end.

    Defined in notebook 03 § Thousands of fresh isolates: the start-latency histogram
    """
    return PALETTE[ORDER[index % len(ORDER)]]


def layout(fig: go.Figure, title: str, x: str = "", y: str = "", **extra) -> go.Figure:
    """The one layout with a title, axis titles and the legend on top; `extra` overrides.

    Defined in notebook 01 § A working day
    """
    fig.update_layout(**{**LAYOUT, "title": title, "xaxis_title": x, "yaxis_title": y,
                         "legend": LEGEND_ON_TOP, **extra})
    return fig
