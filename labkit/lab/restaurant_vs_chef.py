"""Notebook 01 (restaurant vs personal chef): a simulated day, its figures and DayExplorer.

Each figure function takes a computed `daysim.Day` (never computes one) and returns a
go.Figure, so DayExplorer can wrap it in a FigureWidget and update its traces in place.
"""

from __future__ import annotations

import ipywidgets as w
import numpy as np
import plotly.graph_objects as go

from .. import daysim
from .explorer import Explorer, slider
from .style import CHEF, PALETTE, RESTAURANT, layout


def day_instances(day: daysim.Day) -> go.Figure:
    """Instances running over the day: shared restaurant pools vs one personal chef each.

    Defined in notebook 01 § A working day
    """
    fig = go.Figure([
        go.Scatter(x=day.hours, y=day.chef_instances, name="personal chef (one per task)",
                   line=dict(color=CHEF, width=2)),
        go.Scatter(x=day.hours, y=day.restaurant_instances, name="restaurant (shared pool)",
                   line=dict(color=RESTAURANT, width=2, shape="hv")),
    ])
    layout(fig, "Instances needed over one day", "time of day (hours)",
           "instances running (log scale)")
    fig.update_yaxes(type="log")
    fig.update_xaxes(range=[0, 24], dtick=3)
    return fig


def day_utilisation_series(day: daysim.Day) -> list[np.ndarray]:
    """The y values of day_utilisation's traces, in %: DayExplorer updates these in place.

    Defined in notebook 01 § How full is each kitchen?
    """
    peak = max(int(day.active_users.max()), 1)
    return [100 * day.restaurant_utilisation, np.full(day.hours.size, 100.0),
            100 * day.active_users / peak]


def day_utilisation(day: daysim.Day) -> go.Figure:
    """How full the running instances are: restaurant seats in use vs a chef's one seat.

    Defined in notebook 01 § How full is each kitchen?
    """
    restaurant, chef, fixed = day_utilisation_series(day)
    fig = go.Figure([
        go.Scatter(x=day.hours, y=restaurant, name="restaurant: seats in use",
                   line=dict(color=RESTAURANT, width=2)),
        go.Scatter(x=day.hours, y=chef, name="personal chef: its one user",
                   line=dict(color=CHEF, width=2)),
        go.Scatter(x=day.hours, y=fixed, name="a fixed fleet sized for the peak",
                   line=dict(color=PALETTE["grey"], dash="dot")),
    ])
    layout(fig, "Utilisation over the day", "time of day (hours)", "utilisation (%)")
    fig.update_yaxes(range=[0, 105])
    fig.update_xaxes(range=[0, 24], dtick=3)
    return fig


class DayExplorer(Explorer):
    """Users, concurrency, seats per shared instance, peak-to-average -> a simulated day.

    Defined in notebook 01 § Explore
    """

    def __init__(self, users=10_000, concurrency=0.15, capacity=500, peak_to_average=2.5,
                 seed=1):
        self.seed = seed
        self.users = slider(w.IntSlider, "users", value=users, min=1_000, max=100_000,
                            step=1_000, readout_format=",d")
        # Percent sliders hold percent values (15, not 0.15) and show them with ".0f": with a
        # ".0%" readout, typing "15%" into the box was read as 15 and clipped to the maximum.
        self.concurrency = slider(w.FloatSlider, "concurrency, average (%)",
                                  value=100 * concurrency, min=5, max=35, step=1,
                                  readout_format=".0f")
        self.capacity = slider(w.IntSlider, "users per shared instance", value=capacity,
                               min=10, max=2_000, step=10)
        self.peak_to_average = slider(w.FloatSlider, "peak-to-average", value=peak_to_average,
                                      min=1.0, max=2.75, step=0.05)
        self.numbers = w.HTML()
        self.day = self._simulate()
        self.instances_figure = go.FigureWidget(day_instances(self.day))
        self.utilisation_figure = go.FigureWidget(day_utilisation(self.day))
        controls = [self.users, self.concurrency, self.capacity, self.peak_to_average]
        super().__init__(children=[*controls, self.numbers, self.instances_figure,
                                   self.utilisation_figure])
        self._bind(controls)
        self._show(self.day.summary())
        self.last_update_seconds = 0.0

    def _simulate(self) -> daysim.Day:
        return daysim.simulate_day(users=self.users.value,
                                   concurrency=self.concurrency.value / 100,
                                   capacity=self.capacity.value,
                                   peak_to_average=self.peak_to_average.value, seed=self.seed)

    def _redraw(self) -> None:
        self.day = day = self._simulate()
        with self.instances_figure.batch_update():
            self.instances_figure.data[0].y = day.chef_instances
            self.instances_figure.data[1].y = day.restaurant_instances
        series = day_utilisation_series(day)
        with self.utilisation_figure.batch_update():
            for trace, y in zip(self.utilisation_figure.data, series, strict=True):
                trace.y = y
        self._show(day.summary())

    def __repr__(self) -> str:
        return (f"DayExplorer(users={self.users.value:,}, concurrency="
                f"{self.concurrency.value / 100:g},"
                f" capacity={self.capacity.value}, peak_to_average="
                f"{self.peak_to_average.value:g})")
