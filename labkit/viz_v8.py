"""The one figure only V8 isolates need (notebook 03, Part 2): workerd's memory as a line.

The side-by-side figures (start latency, rates, memory per instance) come from
labkit.viz_isolates, shared with the WebAssembly half. This one is V8's own: workerd's
whole memory against the number of live isolates, whose straight-line fit splits it into
the runtime all isolates share (the intercept) and what each one adds (the slope).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

# Okabe-Ito blue and vermillion: distinct for the common kinds of colour blindness.
MEASURED, FITTED = "#0072B2", "#D55E00"


def shared_and_per_isolate(held, megabytes) -> tuple[float, float]:
    """Straight-line fit of workerd's MB against live isolates: (shared MB, MB per isolate)."""
    slope, intercept = np.polyfit(np.asarray(held, float), np.asarray(megabytes, float), 1)
    return float(intercept), float(slope)


def workerd_memory(held, megabytes,
                   title: str = "workerd's memory: one shared runtime plus each live isolate"
                   ) -> go.Figure:
    """workerd's PSS against the number of live isolates, with the fitted line."""
    held, megabytes = np.asarray(held, dtype=float), np.asarray(megabytes, dtype=float)
    shared, per_isolate = shared_and_per_isolate(held, megabytes)
    figure = go.Figure([
        go.Scatter(x=held, y=megabytes, mode="markers", name="measured",
                   marker=dict(color=MEASURED, size=11)),
        go.Scatter(x=held, y=shared + per_isolate * held, mode="lines",
                   name=f"fit: {shared:.0f} MB shared + {per_isolate:.2f} MB per isolate",
                   line=dict(color=FITTED, dash="dash")),
    ])
    figure.update_layout(title=title, template="plotly_white", height=380,
                         margin=dict(l=60, r=20, t=60, b=50),
                         legend=dict(orientation="h", y=-0.25))
    figure.update_xaxes(title="V8 isolates alive at once")
    figure.update_yaxes(title="workerd memory (PSS, MB)", rangemode="tozero")
    return figure
