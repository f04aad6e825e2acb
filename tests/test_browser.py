"""Every notebook as an attendee meets it: JupyterLab in Chromium at laptop size.

For each notebook: open it, Kernel > Restart Kernel and Run All Cells, then check that every
code cell ran once, in order, without an error; that every widget displayed; that every
plotly figure was drawn and its axes fit its data; that every explorer's controls redraw
its figures; and that an exercise answered wrong, then right, AFTER Run All gets the right
feedback each time. The notebooks that start containers (04, 05, 06) run a second time as
a laptop without containers sees them (LABKIT_NO_CONTAINERS=1: isolates live, containers
from the recording), the most common machine in a workshop room.

Chromium comes from the system (Playwright cannot download browsers here); without one the
browser tests skip with the reason, unless LABKIT_REQUIRE_BROWSER=1 (set by `make
test-browser` and CI) makes that a failure. Screenshots of failures: test-artifacts/browser/.
Run alone with `make test-browser`.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass

import pytest
from browser import artifacts, chromium, explorers, figures, jupyterlab
from browser.notebook import Notebook

from labkit import paths

NOTEBOOKS = sorted(p.name for p in (paths.PROJECT_ROOT / "notebooks").glob("*.ipynb"))
# Profiles: the environment JupyterLab (and so every kernel) runs with.
# "hub" is a JupyterHub or Binder attendee: no containers and no workerd (a runtimes folder
# that does not exist), so V8 comes from the recording too.
PROFILES = {
    "as-is": {},
    "no-containers": {"LABKIT_NO_CONTAINERS": "1"},
    "hub": {"LABKIT_NO_CONTAINERS": "1", "LABKIT_RUNTIMES": "/nonexistent/labkit-runtimes"},
}
NO_CONTAINERS_NOTEBOOKS = ("04_containers_up_close.ipynb", "05_head_to_head.ipynb",
                           "06_the_essay_claim_by_claim.ipynb")
HUB_NOTEBOOKS = ("00_start_here.ipynb", "03_isolates_up_close.ipynb", "05_head_to_head.ipynb")
RUNS = [("as-is", name) for name in NOTEBOOKS] + \
       [("no-containers", name) for name in NO_CONTAINERS_NOTEBOOKS if name in NOTEBOOKS] + \
       [("hub", name) for name in HUB_NOTEBOOKS if name in NOTEBOOKS]

# How many explorers each notebook shows: a missing one must fail, not skip.
EXPLORER_COUNT = {"01_restaurant_vs_personal_chef.ipynb": 1,
                  "02_the_scaling_math.ipynb": 1, "05_head_to_head.ipynb": 1}


@dataclass(frozen=True)
class Exercise:
    """Replace `line` in the exercise cell by a wrong answer, then by a right one."""

    line: str
    wrong: str
    right: str
    says_wrong: str   # regex the wrong answer's feedback must match
    says_right: str
    unavailable: str | None = None   # feedback that honestly says the exercise cannot run here


SUM_TO_RIGHT = """(local $total i64)
    (block $done
      (loop $next
        (br_if $done (i64.eqz (local.get $n)))
        (local.set $total (i64.add (local.get $total) (local.get $n)))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $next)))
    (local.get $total)))"""

EXERCISES = {
    "07_an_agent_at_work.ipynb": [Exercise(
        "sandboxes_saved = ...", "sandboxes_saved = 0",
        "sandboxes_saved = step_run.tool_calls - code_run.tool_calls",
        r"^Not yet: sandboxes saved = 0 is too low\. Hint:", r"^Right: sandboxes saved = ")],
    "04b_stronger_walls.ipynb": [Exercise(
        "shared_door = ...", "shared_door = 'host file'", "shared_door = 'host kernel'",
        r"^Not yet: 'host file' is not it\. Hint:", r"^Right: host kernel\.")],
    "00_start_here.ipynb": [Exercise(
        "starts_per_second = ...", "starts_per_second = 1",
        "starts_per_second = 1000 / stats.median_ms",
        r"^Not yet: starts per second = 1 is too low\. Hint:", r"^Right: starts per second = ")],
    "01_restaurant_vs_personal_chef.ipynb": [Exercise(
        "peak_chefs = ...", "peak_chefs = 3_750", "peak_chefs = 10_000 * 0.20 * 2.5",
        r"^Not yet: peak personal chefs = 3,750 is too low\. Hint:",
        r"^Right: peak personal chefs = 5,000\.")],
    "02_the_scaling_math.ipynb": [Exercise(
        "sessions_at_20 = ...", "sessions_at_20 = 15_000_000", "sessions_at_20 = 100e6 * 0.20",
        r"^Not yet: sessions = \S+ is too low\. Hint:", r"^Right: sessions = ")],
    "03_isolates_up_close.ipynb": [
        Exercise("(i64.const 0)))", "(local.get $n)))", SUM_TO_RIGHT,
                 r"^Not yet: sum_to\(\d+\) returned \d+, which is not right\. Hint:",
                 r"^Right: sum_to gave the right answer in 4 fresh isolates\."),
        Exercise("let a = 0, b = 1;", "let a = 1, b = 2;", "let a = 2, b = 1;",
                 r"^Not yet: lucas\(\d+\) returned \d+, which is not right\. Hint:",
                 r"^Right: lucas gave the right answer in 4 fresh isolates\.",
                 unavailable=r"^'?This exercise needs workerd: \S")],
    "04_containers_up_close.ipynb": [Exercise(
        "idle_containers = ...", "idle_containers = 1",
        "idle_containers = 64e9 / (per_container_kb['runc'] * 1e3)",
        r"^Not yet: idle containers in 64 GB = 1 is too low\. Hint:",
        r"^Right: idle containers in 64 GB = ")],
    "05_head_to_head.ipynb": [Exercise(
        "runc_over_wasm = ...", "runc_over_wasm = 1",
        "runc_over_wasm = by_kind['runc']['ratio_to_wasm']['start_ms_p50']",
        r"^Not yet: the ratio = 1 is too low\. Hint:", r"^Right: the ratio = ")],
    "06_the_essay_claim_by_claim.ipynb": [Exercise(
        "my_servers = ...", "my_servers = 1_000", "my_servers = 1e9 * 0.15 * 2.5 * 2 / 13 / 384",
        r"^Not yet: servers = 1,000 is too low\. Hint:", r"^Right: servers = ")],
}


# ------------------------------------------------------------------ browser and server


@pytest.fixture(scope="module")
def chromium_path() -> str:
    path, why_not = chromium.find()
    if path is None:
        if os.environ.get("LABKIT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"the browser tests must run here, but {why_not}")
        pytest.skip(f"browser tests need Chromium: {why_not}")
    return path


@pytest.fixture(scope="module")
def browser(chromium_path, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    artifacts.fresh_folder()
    with sync_playwright() as playwright, contextlib.ExitStack() as stack:
        profile = tmp_path_factory.mktemp("chromium-profile")
        try:
            context = stack.enter_context(chromium.launch(playwright, chromium_path, profile))
        except Exception as error:  # a Chromium that cannot start on this machine
            if os.environ.get("LABKIT_REQUIRE_BROWSER") == "1":
                raise
            pytest.skip(f"Chromium at {chromium_path} cannot start here: "
                        f"{str(error).splitlines()[0]}")
        yield context


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """JupyterLab per profile, started when first needed, all stopped at the end."""
    with contextlib.ExitStack() as stack:
        started = {}

        def server_for(profile: str):
            if profile not in started:
                workdir = tmp_path_factory.mktemp(f"jupyterlab-{profile}")
                started[profile] = stack.enter_context(
                    jupyterlab.serve(paths.PROJECT_ROOT, workdir, PROFILES[profile]))
            return started[profile]

        yield server_for


@pytest.fixture(scope="module", params=RUNS, ids=[f"{p}-{n[:2]}" for p, n in RUNS])
def ran(request, browser, servers):
    """The notebook after Restart Kernel and Run All; its kernel is shut down after."""
    profile, name = request.param
    server = servers(profile)
    page = browser.new_page()
    notebook = Notebook(page, server, name, profile)
    try:
        with artifacts.on_failure(page, f"{profile}-{name}-run-all"):
            notebook.open()
            notebook.problems_as_opened = stored = stored_problems(notebook.cells())
            if stored:  # the screenshot must show the stored outputs, so take it now
                artifacts.keep(page, f"{profile}-{name}-stored-outputs", cell=stored[0][0])
            notebook.restart_and_run_all()
        yield notebook
    finally:
        server.remember_descendants()
        with contextlib.suppress(Exception):
            notebook.shut_down_kernel()
        page.close()


def fail_at(notebook: Notebook, check: str, problems: list[tuple[int, str]]) -> None:
    """Fail with every problem listed, keeping a screenshot of the first one's cell."""
    if not problems:
        return
    shot = artifacts.keep(notebook.page, f"{notebook.profile}-{notebook.name}-{check}",
                          cell=problems[0][0])
    lines = "\n".join(f"  cell {cell}: {message}" for cell, message in problems)
    pytest.fail(f"{notebook.name} ({notebook.profile}): {check}\n{lines}\n"
                f"screenshot: {shot}", pytrace=False)


# ------------------------------------------------------------------ the checks, in order


def stored_problems(cells) -> list[tuple[int, str]]:
    """What is wrong in the outputs stored in the file: errors, a kind said to be unbuilt."""
    problems = []
    for cell in cells:
        problems += [(cell.index, f"stored {error}") for error in cell.errors]
        unbuilt = [line for line in cell.text.splitlines() if "not built yet" in line.lower()]
        if unbuilt:
            problems.append((cell.index, f"stored output says a kind is unbuilt: "
                                         f"{unbuilt[0][:160]!r}"))
    return problems


def test_stored_outputs_as_opened_show_no_error_and_nothing_unbuilt(ran):
    """What an attendee sees on opening, before running anything (also on GitHub)."""
    if ran.problems_as_opened:
        shot = artifacts.FOLDER / f"{ran.profile}-{ran.name}-stored-outputs.png"
        lines = "\n".join(f"  cell {cell}: {message}" for cell, message in ran.problems_as_opened)
        pytest.fail(f"{ran.name}: stored outputs\n{lines}\nscreenshot: {shot}", pytrace=False)


def test_run_all_runs_every_code_cell_once_in_order(ran):
    cells = ran.code_cells()
    problems = []
    for position, cell in enumerate(cells, start=1):
        if cell.count != position:
            problems.append((cell.index, f"execution count {cell.count}, expected {position} "
                                         f"({cell.head()!r})"))
            break  # Run All stops at the first failure: the rest follow from it
    fail_at(ran, "cells-not-run-in-order", problems)


def test_no_cell_shows_an_error_or_stderr(ran):
    problems = []
    for cell in ran.code_cells():
        problems += [(cell.index, error) for error in cell.errors]
        problems += [(cell.index, "on stderr: " + "".join(o.get("text", "")).strip()[:300])
                     for o in cell.outputs if o.get("name") == "stderr"]
    fail_at(ran, "error-output", problems)


def test_every_widget_displays(ran):
    failures = ran.widget_failures()
    views = [c for c in ran.code_cells()
             if any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                    for o in c.outputs)]
    shown = ran.page.evaluate("""(indexes) => indexes.map(i =>
        window.jupyterapp.shell.currentWidget.content.widgets[i].node
              .querySelectorAll('.jp-OutputArea-output .jupyter-widgets').length)""",
                              [c.index for c in views])
    problems = [(c.index, "a widget output with nothing rendered")
                for c, count in zip(views, shown, strict=True) if count == 0]
    problems += [(views[0].index if views else 0, f"the page says {phrase!r}")
                 for phrase in failures]
    fail_at(ran, "widgets", problems)


def test_every_plotly_figure_is_drawn(ran):
    drawn = figures.collect(ran.page)
    plotted = [c.index for c in ran.code_cells()
               if any("application/vnd.plotly.v1+json" in o.get("data", {})
                      for o in c.outputs)]
    problems = [(index, "plotly output, but no figure drawn in the cell")
                for index in plotted if not any(f["cell"] == index for f in drawn)]
    for figure in drawn:
        if figure["width"] < 200 or figure["height"] < 150 or not figure["drawn"]:
            problems.append((figure["cell"], f"figure {figure['title']!r} is "
                                             f"{figure['width']:.0f}x{figure['height']:.0f} px "
                                             f"with {figure['drawn']} traces drawn"))
    assert drawn or not plotted
    fail_at(ran, "figures-not-drawn", problems)


def test_every_figure_axis_fits_its_data(ran):
    problems = []
    for figure in figures.collect(ran.page):
        for axis in figures.axes_of(figure):
            problems += [(figure["cell"], f"{figure['title']!r}: {problem}")
                         for problem in figures.axis_problems(axis)]
    fail_at(ran, "axis-ranges", problems)


def test_every_explorer_control_redraws_its_figure(ran):
    boxes = explorers.explorers(ran.page)
    unrun = [c.index for c in ran.code_cells() if c.count is None]
    assert len(boxes) == EXPLORER_COUNT.get(ran.name, 0), \
        f"{ran.name}: {len(boxes)} explorers shown, expected {EXPLORER_COUNT.get(ran.name, 0)}" \
        + (f" (Run All stopped before cell {unrun[0]})" if unrun else "")
    problems = []
    for number, box in enumerate(boxes):
        box.scroll_into_view_if_needed()
        moves = explorers.move_every_control(box)
        assert len(moves) >= 2, f"explorer {number} has {len(moves)} controls"
        problems += [(0, f"explorer {number}: moving {m.label!r} ({m.action}) changed "
                         f"nothing drawn within {m.seconds:.0f} s")
                     for m in moves if not m.ok]
        print(f"{ran.name} explorer {number}: " + "; ".join(
            f"{m.label} {m.seconds * 1000:.0f} ms" for m in moves if m.redrew))
    failures = ran.widget_failures()
    problems += [(0, f"after moving the controls the page says {phrase!r}") for phrase in failures]
    fail_at(ran, "explorers", problems)


def test_exercises_give_the_right_feedback_after_run_all(ran):
    exercises = EXERCISES.get(ran.name)
    assert exercises, f"{ran.name}: give it an exercise to check in EXERCISES"
    problems = []
    for exercise in exercises:
        cell = ran.cell_containing(exercise.line)
        for answer, expected in ((exercise.wrong, exercise.says_wrong),
                                 (exercise.right, exercise.says_right)):
            result = ran.rerun(cell.index, cell.source.replace(exercise.line, answer, 1))
            feedback = result.text.strip()
            if exercise.unavailable and re.match(exercise.unavailable, feedback):
                continue  # the honest path on a machine without the runtime
            if result.errors or not re.match(expected, feedback):
                problems.append((cell.index, f"answered {answer.splitlines()[0]!r}: the "
                                             f"feedback is {feedback[:300]!r}, expected "
                                             f"/{expected}/"))
    fail_at(ran, "exercises", problems)


# ------------------------------------------------------------------ the checks' own checks

FAKE_EXPLORER = """
<div class="jp-NotebookPanel"><div class="jp-OutputArea-output"><div class="widget-vbox">
  <div class="widget-slider"><label class="widget-label">redraws</label>
    <div class="noUi-handle" tabindex="0" aria-valuenow="1" data-draws="yes"></div></div>
  <div class="widget-slider"><label class="widget-label">draws nothing</label>
    <div class="noUi-handle" tabindex="0" aria-valuenow="1"></div></div>
  <div class="js-plotly-plot"><svg><g class="cartesianlayer"><path d="M0,0L9,9"/></g></svg></div>
</div></div></div>
<script>
  for (const handle of document.querySelectorAll('.noUi-handle')) {
    handle.addEventListener('keydown', event => {
      if (event.key !== 'End') return;
      handle.setAttribute('aria-valuenow', '9');
      if (handle.dataset.draws) document.querySelector('path').setAttribute('d', 'M0,9L9,0');
    });
  }
</script>
"""


def test_explorer_check_tells_a_dead_control_from_a_live_one(browser):
    page = browser.new_page()
    try:
        page.set_content(FAKE_EXPLORER)
        [box] = explorers.explorers(page)
        moves = {m.label: m for m in explorers.move_every_control(box, patience=1.0)}
    finally:
        page.close()
    assert moves["redraws"].ok and moves["redraws"].redrew
    assert not moves["draws nothing"].ok, moves["draws nothing"]
    assert moves["draws nothing"].action == "End: 1 -> 9"  # the value moved, the drawing not


def test_axis_check_catches_a_line_on_a_log_axis_drawn_by_plotly(browser):
    """Notebook 04's old defect, rebuilt: a median line and label at x=20 ms on a log axis.

    plotly.js reads shape and annotation positions on a log axis in log10 units, so x=20
    stretches the axis to 10^20 ms; placed at log10(20), the same line is where it belongs.
    """
    import json
    import math

    import plotly
    import plotly.graph_objects as go

    plotly_js = os.path.join(os.path.dirname(plotly.__file__), "package_data", "plotly.min.js")
    found = {}
    for where in (20, math.log10(20)):
        fig = go.Figure(go.Scatter(x=[0.8, 2, 3, 5, 8, 20, 90], y=[1, 3, 4, 6, 4, 2, 1]))
        fig.update_xaxes(type="log")
        fig.add_vline(x=where, annotation_text="median")
        page = browser.new_page()
        try:
            page.set_content("<div id='figure' style='width:900px;height:400px'></div>")
            page.add_script_tag(path=plotly_js)
            page.evaluate("fig => Plotly.newPlot('figure', fig.data, fig.layout)",
                          json.loads(json.dumps(fig.to_plotly_json(), default=list)))
            [figure] = figures.collect(page)
        finally:
            page.close()
        assert figure["drawn"] > 0
        found[where] = [p for a in figures.axes_of(figure) for p in figures.axis_problems(a)]
    assert any("xaxis (log)" in p and "far more than the data needs" in p
               for p in found[20]), found[20]
    assert found[math.log10(20)] == []


# ------------------------------------------------------------------ the axis rule itself


def test_axis_rule_catches_labels_placed_in_log10_units():
    # notebook 04's histogram: data 0.5-90 ms, a label at "20" read as 10^20 ms
    axis = figures.Axis("xaxis", "log", (-0.4, 21.3), (-0.3, 1.95))
    assert any("far more than the data needs" in p for p in figures.axis_problems(axis))
    assert "2e+21" in figures.axis_problems(axis)[0]


def test_axis_rule_passes_plotlys_usual_padding():
    assert figures.axis_problems(figures.Axis("xaxis", "linear", (6, 76), (6, 76))) == []
    assert figures.axis_problems(figures.Axis("yaxis", "linear", (0, 33.7), (0, 32))) == []
    assert figures.axis_problems(figures.Axis("yaxis", "log", (-0.2, 3.78), (0, 3.58))) == []
    assert figures.axis_problems(figures.Axis("y", "linear", (0, 105), (5.6, 100))) == []
    # a linear axis from zero, log bars from 1: the author's fair baselines
    assert figures.axis_problems(figures.Axis("y2", "linear", (0, 11.3), (7.0, 10.6))) == []
    assert figures.axis_problems(figures.Axis("y", "log", (0, 5.1), (4.8, 4.8), bars=True)) == []
    # ... but not a top far above the bars
    assert figures.axis_problems(figures.Axis("y", "log", (0, 9), (4.8, 4.8), bars=True))


def test_axis_rule_catches_cut_off_data_and_skips_what_it_cannot_judge():
    cut = figures.axis_problems(figures.Axis("yaxis", "linear", (0, 50), (0, 80)))
    assert cut and "cut off" in cut[0]
    assert figures.axis_problems(figures.Axis("x", "category", (-0.5, 4.5), (0, 1))) == []
    assert figures.axis_problems(figures.Axis("x", "linear", (0, 1), None)) == []
    # a single value: the margin scales with its size, not with a zero span
    assert figures.axis_problems(figures.Axis("x", "linear", (9.5, 10.5), (10, 10))) == []
    assert figures.axis_problems(figures.Axis("x", "linear", (0, 1000), (10, 10)))


def test_chromium_is_looked_for_where_told(monkeypatch, tmp_path):
    monkeypatch.setenv("CHROMIUM", str(tmp_path / "nothing-here"))
    path, why_not = chromium.find()
    assert path is None and "nothing-here" in why_not and "not an executable" in why_not
