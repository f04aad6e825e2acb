"""ipywidgets explorers: sliders bound to labkit.scaling / labkit.daysim and labkit.viz.

Each explorer is a VBox of controls, a text panel of numbers and plotly FigureWidgets.
Moving a control recomputes the model and updates the numbers and the figures' traces in
place (no Output widget, no `interact`), so the same object works in JupyterLab and can be
driven headless in tests by setting a control's `.value`.

Home notebooks: DayExplorer in 01_restaurant_vs_personal_chef, ScalingExplorer in
02_the_scaling_math.
"""

from __future__ import annotations

import html
import time

import ipywidgets as w
import numpy as np
import plotly.graph_objects as go

from . import daysim, scaling, viz

_STYLE = {"description_width": "200px"}


def _slider(kind, description: str, **kwargs):
    return kind(description=description, style=_STYLE, layout=w.Layout(width="520px"),
                continuous_update=True, **kwargs)


class _Explorer(w.VBox):
    """Shared plumbing: observe every control, time each update, show numbers as text."""

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

    def _show(self, text: str) -> None:
        self.numbers.value = f"<pre style='font-size:14px'>{html.escape(text)}</pre>"


# ---------------------------------------------------------------- 01: a day of agents


class DayExplorer(_Explorer):
    """Users, concurrency, seats per shared instance, peak-to-average -> a simulated day."""

    def __init__(self, users=10_000, concurrency=0.15, capacity=500, peak_to_average=2.5,
                 seed=1):
        self.seed = seed
        self.users = _slider(w.IntSlider, "users", value=users, min=1_000, max=100_000,
                             step=1_000, readout_format=",d")
        # Percent sliders hold percent values (15, not 0.15) and show them with ".0f": with a
        # ".0%" readout, typing "15%" into the box was read as 15 and clipped to the maximum.
        self.concurrency = _slider(w.FloatSlider, "concurrency, average (%)",
                                   value=100 * concurrency, min=5, max=35, step=1,
                                   readout_format=".0f")
        self.capacity = _slider(w.IntSlider, "users per shared instance", value=capacity,
                                min=10, max=2_000, step=10)
        self.peak_to_average = _slider(w.FloatSlider, "peak-to-average", value=peak_to_average,
                                       min=1.0, max=2.75, step=0.05)
        self.numbers = w.HTML()
        self.day = self._simulate()
        self.instances_figure = go.FigureWidget(viz.day_instances(self.day))
        self.utilisation_figure = go.FigureWidget(viz.day_utilisation(self.day))
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
        series = viz.day_utilisation_series(day)
        with self.utilisation_figure.batch_update():
            for trace, y in zip(self.utilisation_figure.data, series, strict=True):
                trace.y = y
        self._show(day.summary())

    def __repr__(self) -> str:
        return (f"DayExplorer(users={self.users.value:,}, concurrency="
                f"{self.concurrency.value / 100:g},"
                f" capacity={self.capacity.value}, peak_to_average="
                f"{self.peak_to_average.value:g})")


# ---------------------------------------------------------------- 02: the scaling math

PRESETS = {"US: 100M knowledge workers": 100.0, "World: 1B knowledge workers": 1000.0}
PER_CPU = "sessions per CPU"
FIRST_PRINCIPLES = "CPU and memory per session"
_CONCURRENCY_AXIS = np.linspace(0.0, 0.5, 101)


def _whole(sessions: float) -> float:
    """Whole sessions, rounded down (with fit_sessions' tolerance for 99.999... = 100)."""
    return float(np.floor(sessions * (1 + 1e-12)))


def _dollars(amount: float) -> str:
    return f"${amount:,.0f}".rjust(16)


class ScalingExplorer(_Explorer):
    """Workers, concurrency, agents per worker, and sessions per CPU (or CPU and memory per
    session on an m7g.large-shaped server) -> sessions, CPUs, servers, cost per hour."""

    def __init__(self, workers_millions=100.0, concurrency=0.15, agents_per_worker=1.0,
                 sessions_per_cpu=25.0, cpu_share_percent=4.0, session_memory_mb=100.0):
        self.claim = scaling.essay_claim()
        self.prices = scaling.fargate_prices()
        self.server_price, _ = scaling.ec2_server_price()
        self.preset = w.ToggleButtons(options=list(PRESETS), value=None, description="preset",
                                      style={**_STYLE, "button_width": "230px"})
        self.workers = _slider(w.FloatSlider, "knowledge workers (millions)",
                               value=workers_millions, min=10, max=1_500, step=10,
                               readout_format=",.0f")
        self.concurrency = _slider(w.FloatSlider, "concurrency (%)", value=100 * concurrency,
                                   min=1, max=50, step=1, readout_format=".0f")
        self.agents_per_worker = _slider(w.FloatSlider, "agents per worker",
                                         value=agents_per_worker, min=1, max=5, step=0.5)
        self.mode = w.ToggleButtons(options=[PER_CPU, FIRST_PRINCIPLES], value=PER_CPU,
                                    description="density from",
                                    style={**_STYLE, "button_width": "230px"})
        self.sessions_per_cpu = _slider(w.FloatSlider, "sessions per CPU",
                                        value=sessions_per_cpu, min=1, max=200, step=1)
        self.cpu_share = _slider(w.FloatSlider, "CPU per active session (%)",
                                 value=cpu_share_percent, min=0.5, max=50, step=0.5)
        self.session_memory = _slider(w.FloatLogSlider, "memory per session (MB)",
                                      value=session_memory_mb, base=10, min=0, max=3.5,
                                      step=0.05, readout_format=",.0f")
        self.numbers = w.HTML()
        self.figure = go.FigureWidget(self._figure())
        controls = [self.workers, self.concurrency, self.agents_per_worker, self.mode,
                    self.sessions_per_cpu, self.cpu_share, self.session_memory]
        super().__init__(children=[self.preset, *controls, self.numbers, self.figure])
        self.preset.observe(self._on_preset, names="value")
        self._bind(controls)
        self.last_update_seconds = 0.0
        self._show_density_controls()
        self._show(self.numbers_text())

    def _on_preset(self, change) -> None:
        if change["new"] is not None:
            self.workers.value = PRESETS[change["new"]]

    def scenario(self, concurrency=None) -> scaling.Scenario:
        """The scenario the controls describe (concurrency may be overridden by an array)."""
        c = self.concurrency.value / 100 if concurrency is None else concurrency
        workers = self.workers.value * 1e6
        if self.mode.value == PER_CPU:
            return scaling.Scenario(workers, c, self.agents_per_worker.value,
                                    sessions_per_cpu=self.sessions_per_cpu.value)
        return scaling.Scenario.from_needs(workers, c, self.agents_per_worker.value,
                                           cpu_share=self.cpu_share.value / 100,
                                           session_memory_mb=self.session_memory.value)

    def fit(self) -> scaling.Fit:
        """How sessions fit on one m7g.large-shaped server (2 vCPU, 8 GiB)."""
        return scaling.fit_sessions(self.session_memory.value, self.cpu_share.value / 100)

    def numbers_text(self) -> str:
        s = self.scenario()
        lines = [f"simultaneous sessions: {s.sessions:>15,.0f}",
                 f"server CPUs:           {s.cpus:>15,.0f}   "
                 f"(essay: {self.claim.cpus_stated[0]:,.0f} to {self.claim.cpus_stated[1]:,.0f})",
                 f"m7g.large servers:     {s.servers:>15,.0f}   (2 vCPU, 8 GiB each)",
                 f"cost per hour, Fargate:{_dollars(s.cost_per_hour(self.prices))}   "
                 f"(CPUs + {s.gb_per_cpu:g} GB per CPU)",
                 f"cost per hour, EC2:    {_dollars(s.servers * self.server_price)}   "
                 "(m7g.large on demand)"]
        if self.mode.value == FIRST_PRINCIPLES:
            fit = self.fit()
            # whole sessions, rounded down as fit_sessions does: 26.4 fits 26, never "26 -> 25"
            lines.append(f"per server: CPU allows {_whole(fit.cpu_bound):,.0f}, memory allows "
                         f"{_whole(fit.memory_bound):,.0f} -> {fit.sessions_per_server:,.0f} "
                         "sessions "
                         f"({fit.binding} binds), {fit.sessions_per_cpu:g} per CPU")
        return "\n".join(lines)

    def _figure(self) -> go.Figure:
        s = self.scenario()
        curve = self.scenario(concurrency=_CONCURRENCY_AXIS).cpus
        return viz.cpus_vs_concurrency(_CONCURRENCY_AXIS, curve,
                                       (self.concurrency.value / 100, s.cpus),
                                       self.claim.cpus_stated)

    def _show_density_controls(self) -> None:
        per_cpu = self.mode.value == PER_CPU
        self.sessions_per_cpu.layout.display = None if per_cpu else "none"
        self.cpu_share.layout.display = "none" if per_cpu else None
        self.session_memory.layout.display = "none" if per_cpu else None

    def _redraw(self) -> None:
        self._show_density_controls()
        try:
            s = self.scenario()
            curve = self.scenario(concurrency=_CONCURRENCY_AXIS).cpus
        except ValueError as err:  # e.g. a session bigger than the server
            self._show(f"cannot compute: {err}")
            return
        with self.figure.batch_update():
            self.figure.data[0].y = curve
            self.figure.data[1].x = [self.concurrency.value]
            self.figure.data[1].y = [s.cpus]
        self._show(self.numbers_text())

    def __repr__(self) -> str:
        return (f"ScalingExplorer(workers={self.workers.value:g}M, concurrency="
                f"{self.concurrency.value / 100:g}, "
                f"agents_per_worker={self.agents_per_worker.value:g}, mode={self.mode.value!r})")


# ---------------------------------------------------------------- 05: the fleet you measured


class FleetExplorer(_Explorer):
    """Server size, a session's working set, CPU share and tool calls -> sessions per server
    for each measured kind, which constraint binds, and the US fleet and its rent."""

    def __init__(self, results: list[dict], sessions: float = 15e6):
        from . import fleet  # here, so importing widgets stays light for notebooks 01-02

        self._fleet = fleet
        self.results = [r for r in results if r.get("available")]
        if not self.results:
            raise ValueError("FleetExplorer needs at least one measured (available) kind")
        self.sessions = sessions
        self.cores = _slider(w.IntSlider, "server cores", value=2, min=1, max=64)
        self.memory_gb = _slider(w.FloatLogSlider, "server memory (GB)", value=8, base=2,
                                 min=0, max=9, step=1, readout_format=",.0f")
        self.working_set = _slider(w.FloatLogSlider, "working set per session (MB)",
                                   value=10, base=10, min=-1, max=3.5, step=0.05,
                                   readout_format=",.1f")
        self.cpu_share = _slider(w.FloatSlider, "CPU per active session (%)", value=4.0,
                                 min=0.5, max=50, step=0.5)
        self.tool_calls = _slider(w.FloatSlider, "tool calls per minute", value=6, min=0,
                                  max=120, step=1)
        self.numbers = w.HTML()
        self.figure = go.FigureWidget(viz.sessions_per_server(self.fits()))
        self._label_bars(self.fits())
        controls = [self.cores, self.memory_gb, self.working_set, self.cpu_share,
                    self.tool_calls]
        super().__init__(children=[*controls, self.numbers, self.figure])
        self._bind(controls)
        self.last_update_seconds = 0.0
        self._show(self.numbers_text())

    def session(self):
        return self._fleet.Session(cpu_share=self.cpu_share.value / 100,
                                   working_set_mb=self.working_set.value,
                                   tool_calls_per_minute=self.tool_calls.value)

    def server(self):
        return self._fleet.Server(cores=self.cores.value, memory_gb=self.memory_gb.value)

    def fits(self):
        return [self._fleet.fit_kind(r, self.session(), self.server()) for r in self.results]

    def numbers_text(self) -> str:
        lines = [f"{'kind':<17}{'per server':>11}  {'binds':<9}{'US servers':>12}"
                 f"{'$ per hour':>14}{'$ per agent-hour':>18}"]
        for fit in self.fits():
            us = self._fleet.fleet(fit, self.sessions, self.server())
            lines.append(f"{fit.label:<17}{fit.sessions_per_server:>11,.0f}  {fit.binding:<9}"
                         f"{us.servers:>12,.0f}{us.dollars_per_hour:>14,.0f}"
                         f"{us.dollars_per_agent_hour:>18.5f}")
        lines.append(f"(US: {self.sessions:,.0f} sessions at once; a server rents as many EC2 "
                     "m7g.large, 2 vCPU and 8 GiB each, as its cores or memory need)")
        return "\n".join(lines)

    def _label_bars(self, fits) -> None:
        """One bar per kind, coloured by what binds; recorded kinds say RECORDED."""
        with self.figure.batch_update():
            for trace, (binding, _) in zip(self.figure.data, viz.BINDING_COLOURS.items(),
                                           strict=True):
                chosen = [f for f in fits if f.binding == binding]
                trace.x = [f.label for f in chosen]
                trace.y = [f.sessions_per_server for f in chosen]

    def _redraw(self) -> None:
        self._label_bars(self.fits())
        self._show(self.numbers_text())

    def __repr__(self) -> str:
        kinds = ", ".join(r["kind"] for r in self.results)
        return f"FleetExplorer(kinds=[{kinds}], sessions={self.sessions:,.0f})"
