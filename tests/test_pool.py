"""Pooling a room's bench runs: the figure shows each machine and the class median per kind,
and bad input is refused with one line that names the file and the problem."""

import json
import statistics

import pytest

from labkit import pool
from labkit.__main__ import main

MACHINES = {  # label -> (cpu, cores, {kind: (start ms, MB per instance)})
    "ada": ("AMD Ryzen 7 5800U", 8, {"wasm": (0.010, 0.011), "v8": (3.9, 1.6),
                                     "runc": (24.0, 0.29)}),
    "bob": ("Intel Core i5-8250U", 4, {"wasm": (0.030, 0.013), "v8": (9.0, 2.1)}),
    "cy": ("Apple M2", 8, {"wasm": (0.006, 0.009), "v8": (2.5, 1.4), "runc": (40.0, 0.35)}),
}


def bench_rows(cpu, cores, measured, unavailable=("docker",)):
    """Rows shaped like `bench --json` prints them."""
    machine = {"cpu": cpu, "cores": cores, "os": "Linux 6.1", "distro": "Debian 12"}
    rows = [{"kind": kind, "available": True, "n": 100, "start_ms_p50": start,
             "start_ms_p99": start * 2, "per_second": 1000 / start,
             "mem_mb_per_instance": mb, "recorded": False, "machine": machine}
            for kind, (start, mb) in measured.items()]
    rows += [{"kind": kind, "available": False, "reason": f"{kind} needs root here",
              "fix": "sudo make lab", "recorded": False, "machine": machine}
             for kind in unavailable]
    return rows


@pytest.fixture
def room(tmp_path):
    """A folder of three attendees' runs: two as `bench --save` writes them, one as --json."""
    for label, (cpu, cores, measured) in MACHINES.items():
        rows = bench_rows(cpu, cores, measured)
        payload = rows if label == "bob" else {"format": 1, "saved": "x", "results": rows}
        (tmp_path / f"{label}.json").write_text(json.dumps(payload))
    return tmp_path


def expected_median(kind, index):
    return statistics.median(m[2][kind][index] for m in MACHINES.values() if kind in m[2])


def medians_in_figure(fig, panel):
    """kind -> the class median the figure draws in one panel (1 = start, 2 = memory)."""
    axis = "x" if panel == 1 else f"x{panel}"
    layout_axis = fig.layout["xaxis" if panel == 1 else f"xaxis{panel}"]
    names = dict(zip(layout_axis.tickvals, layout_axis.ticktext, strict=True))
    return {names[round(sum(t.x) / 2)]: t.y[0] for t in fig.data
            if t.name == "class median" and t.xaxis == axis}


def test_figure_shows_the_class_median_per_kind(room):
    runs = pool.load_folder(room)
    fig = pool.figure(runs)
    for panel, index in ((1, 0), (2, 1)):
        medians = medians_in_figure(fig, panel)
        assert set(medians) == {"wasm", "v8", "runc"}, "docker was measured nowhere"
        for kind, drawn in medians.items():
            assert drawn == pytest.approx(expected_median(kind, index))
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis2.type == "log"


def test_every_machine_is_named_with_its_points(room):
    fig = pool.figure(pool.load_folder(room))
    points = {t.name: t for t in fig.data if t.name in MACHINES and t.xaxis == "x"}
    assert set(points) == set(MACHINES)
    for label, (cpu, _, measured) in MACHINES.items():
        trace = points[label]
        assert sorted(trace.y) == sorted(start for start, _ in measured.values())
        assert all(cpu in hover[1] and hover[1].startswith(label) for hover in trace.customdata)


def test_summary_lists_spread_and_what_was_not_measured(room):
    text = pool.summary(pool.load_folder(room))
    assert "3 machines pooled" in text
    v8 = next(line for line in text.splitlines() if line.split()[:1] == ["v8"])
    assert v8.split()[1:4] == ["3", f"{expected_median('v8', 0):.4g}", "2.5"]
    assert "docker on 3 machines: ada, bob, cy" in text
    assert "runc on" not in text, "runc was not reported missing by anyone"


def test_unavailable_and_recorded_rows_are_left_out(tmp_path):
    rows = bench_rows("cpu", 2, {"wasm": (0.01, 0.01)}, unavailable=("v8", "runc"))
    rows.append({**rows[0], "kind": "podman", "recorded": True, "start_ms_p50": 150.0})
    (tmp_path / "dee.json").write_text(json.dumps(rows))
    (run,) = pool.load_folder(tmp_path)
    assert set(run.measured) == {"wasm"}
    assert set(run.unavailable) == {"v8", "runc"}


def one_line_error(folder):
    with pytest.raises(pool.PoolError) as caught:
        pool.load_folder(folder)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_empty_folder_is_refused(tmp_path):
    assert "no bench runs (*.json)" in one_line_error(tmp_path)


def test_missing_folder_is_refused(tmp_path):
    assert "not a folder" in one_line_error(tmp_path / "nope")


@pytest.mark.parametrize("content, problem", [
    ("{not json", "not valid JSON"),
    (json.dumps({"name": "a notebook"}), "not a bench run"),
    (json.dumps([{"cells": []}]), "not a bench run"),
    (json.dumps([{"kind": "wasm", "available": True, "start_ms_p50": "fast"}]),
     "no number for start_ms_p50, start_ms_p99, per_second, mem_mb_per_instance"),
    (json.dumps({"format": 99, "results": []}), "format 99 is not one this labkit reads"),
])
def test_a_file_that_is_not_a_run_is_named(tmp_path, content, problem):
    (tmp_path / "good.json").write_text(json.dumps(bench_rows("cpu", 2, {"wasm": (0.01, 0.01)})))
    (tmp_path / "zed.json").write_text(content)
    message = one_line_error(tmp_path)
    assert message.startswith("zed.json: ") and problem in message


def test_a_run_where_nothing_ran_is_refused(tmp_path):
    rows = bench_rows("cpu", 2, {}, unavailable=("wasm", "v8"))
    (tmp_path / "eve.json").write_text(json.dumps({"format": 1, "results": rows}))
    message = one_line_error(tmp_path)
    assert message.startswith("eve.json: no kind was measured")
    assert "wasm: wasm needs root here" in message


def test_unknown_metric_is_refused(room):
    with pytest.raises(ValueError, match="valid ones are: start_ms_p50"):
        pool.spreads(pool.load_folder(room), "speed")


def test_command_line_writes_a_self_contained_page(room, capsys):
    out = room / "figure.html"
    assert main(["pool", str(room), "--html", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "3 machines pooled" in printed and str(out) in printed
    page = out.read_text()
    assert "The room's results: 3 machines" in page
    assert '<script src="http' not in page, "the page must open without a network"
    assert "Plotly.newPlot" in page and len(page) > 1_000_000, "plotly.js is inside the page"


def test_command_line_error_is_one_line(tmp_path, capsys):
    assert main(["pool", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("labkit: ") and err.count("\n") == 1
