"""The base of every explorer (notebooks 01, 02 and 05): controls, numbers, live figures.

An explorer is a VBox of controls, a text panel of numbers and plotly FigureWidgets.
Moving a control recomputes the model and updates the numbers and the figures' traces in
place (no Output widget, no `interact`), so the same object works in JupyterLab and can be
driven headless in tests by setting a control's `.value`.
"""

from __future__ import annotations

import html
import time

import ipywidgets as w

STYLE = {"description_width": "200px"}


def slider(kind, description: str, **kwargs):
    """A control of the given ipywidgets class, labelled and sized like every other one.

    Defined in notebook 01 § Explore
    """
    return kind(description=description, style=STYLE, layout=w.Layout(width="520px"),
                continuous_update=True, **kwargs)


class Explorer(w.VBox):
    """Shared plumbing: observe every control, time each update, show numbers as text.

    Defined in notebook 01 § Explore
    """

    def _bind(self, controls):
        for control in controls:
            control.observe(self._on_change, names="value")

    def _on_change(self, _change=None):
        self.update()

    def update(self) -> float:
        """Recompute and redraw; returns the seconds it took (the benchmark reads this)."""
        start = time.perf_counter()
        self._redraw()
        self.last_update_seconds = time.perf_counter() - start
        return self.last_update_seconds

    def _redraw(self) -> None:
        raise NotImplementedError

    def _show(self, text: str) -> None:
        self.numbers.value = f"<pre style='font-size:14px'>{html.escape(text)}</pre>"
