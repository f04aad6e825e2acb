"""Notebooks 03/04's tool-call comparison: live where a kind runs, recorded where it cannot,
never a figure for a kind that cannot host the language."""

import pytest

from labkit import bench, paths, results
from labkit.lab import tool_calls
from labkit.sandboxes import availability


def test_a_live_row_has_its_floor_from_the_same_run():
    if not availability("process").available:
        pytest.skip("no plain process here")
    (row,) = tool_calls.compare(["process"], "tool-py", calls=3)
    assert not row.recorded and row.source == "measured live on this machine"
    assert 0 < row.floor_ms and 0 < row.p50_ms <= row.p99_ms
    assert row.sandbox_ms == pytest.approx(max(0.0, row.p50_ms - row.floor_ms))


def test_a_kind_that_cannot_host_the_language_says_so_without_a_figure():
    (row,) = tool_calls.compare(["wasm"], "tool-js", calls=3)
    assert row.p50_ms is None and "cannot host javascript" in row.reason
    assert "no figure" in row.line()


@pytest.mark.parametrize("workload, message", [("fib", "not a tool call"),
                                               ("tool-rb", "unknown workload")])
def test_only_a_tool_workload_is_accepted(workload, message):
    with pytest.raises(ValueError, match=message):
        tool_calls.compare(["process"], workload)


def test_a_missing_kind_falls_back_to_its_recorded_row(tmp_path, monkeypatch):
    """runc measured live, saved; then runc 'missing': the saved row stands in, labelled."""
    if not availability("runc").available:
        pytest.skip("runc does not run here")
    live = bench.run_bench(["runc"], calls=3, warmup=0, live=1, show_progress=False,
                           workload="tool-py")
    monkeypatch.setattr(paths, "RECORDED_DIR", tmp_path)
    results.save_run(live, tmp_path)
    monkeypatch.setenv("LABKIT_NO_CONTAINERS", "1")
    (row,) = tool_calls.compare(["runc"], "tool-py", calls=3)
    assert row.recorded and row.p50_ms == live[0].start_ms_p50
    assert row.floor_ms == live[0]["floor_ms"]


def test_a_missing_kind_without_a_recording_gives_its_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "RECORDED_DIR", tmp_path)
    monkeypatch.setenv("LABKIT_NO_CONTAINERS", "1")
    (row,) = tool_calls.compare(["runc"], "tool-js", calls=3)
    assert row.p50_ms is None and "not in any recording" in row.reason


def test_the_chart_splits_each_bar_into_floor_and_sandbox():
    rows = [tool_calls.ToolRow("v8", "tool-js", 10.0, 12.0, 1.0, "measured live on this machine"),
            tool_calls.ToolRow("runc", "tool-js", 60.0, 80.0, 5.0, "RECORDED in x on y"),
            tool_calls.ToolRow("wasm", "tool-js", None, None, None, "", "cannot host")]
    figure = tool_calls.floor_and_sandbox_bars(rows, "t")
    floor, on_top = figure.data
    assert list(floor.y) == [1.0, 5.0] and list(on_top.y) == [9.0, 55.0]
    assert list(on_top.x) == ["v8 · tool-js", "runc · tool-js (recorded)"]
