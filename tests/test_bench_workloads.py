"""bench with a list of workloads: one run measures each, every row says which, one file
saves them all, and a recording stands in per kind AND workload."""

import json

import pytest

from labkit import bench, results
from labkit.__main__ import main
from labkit.sandboxes import Availability

pytestmark = pytest.mark.usefixtures("nothing_left_behind")


def test_a_comma_list_is_checked_and_put_in_table_order():
    assert bench.check_workloads("tool-py, fib,tool-py") == ["fib", "tool-py"]
    assert bench.check_workloads(["tool-js"]) == ["tool-js"]
    with pytest.raises(ValueError, match="^unknown workload 'tool-rb'; valid ones are: fib, "
                                         "tool-js, tool-py$"):
        bench.check_workloads("fib,tool-rb")
    with pytest.raises(ValueError, match="^no workload given; valid ones are: fib"):
        bench.check_workloads(" , ")


def test_every_workload_runs_in_one_run_and_saves_and_loads_in_one_file(tmp_path):
    run = bench.run_bench(["process", "wasm"], calls=2, warmup=0, live=2,
                          show_progress=False, workload="fib,tool-js,tool-py")
    assert [(r.kind, r.workload) for r in run] == [
        ("process", "fib"), ("wasm", "fib"), ("process", "tool-js"), ("wasm", "tool-js"),
        ("process", "tool-py"), ("wasm", "tool-py")]
    assert run.workloads == ("fib", "tool-js", "tool-py")
    js_wasm = run[3]
    assert not js_wasm.available and "cannot host the tool-js workload" in js_wasm.reason
    # ratios divide by wasm's row of the same workload, never across workloads
    assert run[0]["ratio_to_wasm"]["start_ms_p50"] == pytest.approx(
        run[0].start_ms_p50 / run[1].start_ms_p50)
    assert "ratio_to_wasm" not in run[2]  # wasm could not run tool-js: no baseline
    if run[5].available:
        assert run[4]["ratio_to_wasm"]["start_ms_p50"] == pytest.approx(
            run[4].start_ms_p50 / run[5].start_ms_p50)
    path = bench.save(run, tmp_path)
    saved = json.loads(path.read_text())["results"]
    assert [(r["kind"], r["workload"]) for r in saved] == [(r.kind, r.workload) for r in run]
    loaded = bench.load_recorded(path, every_row=True)
    assert [(r.kind, r.workload, r.available) for r in loaded] == \
        [(r.kind, r.workload, r.available) for r in run]
    assert all(r.recorded for r in loaded)
    assert loaded.by_kind()["process"].workload == "fib"  # the first row per kind
    assert loaded.by_kind(workload="tool-py")["process"].start_ms_p50 == run[4].start_ms_p50


def test_a_recording_stands_in_per_kind_and_workload(tmp_path, monkeypatch):
    recorded = bench.run_bench(["process"], calls=2, warmup=0, live=2,
                               show_progress=False, workload="fib,tool-py")
    recorded = bench.load_recorded(bench.save(recorded, tmp_path), every_row=True)
    monkeypatch.setattr(bench, "availability", lambda kind, trial=True: Availability(
        kind, False, "not here today", "install it"))
    live = bench.run_bench(["process"], calls=2, show_progress=False,
                           workload="fib,tool-js,tool-py")
    filled = bench.fill_from_recorded(live, recorded)
    assert [(r.workload, r.available, r.recorded) for r in filled] == [
        ("fib", True, True), ("tool-js", False, False), ("tool-py", True, True)]
    assert filled[0].start_ms_p50 == recorded[0].start_ms_p50
    assert filled[2].start_ms_p50 == recorded[1].start_ms_p50  # tool-py's, not fib's
    assert filled[2].missing_here == "not here today"


def test_extra_keys_in_a_recorded_row_keep_it_apart_and_load(tmp_path):
    """Rows of the other dimensions (a warm path, a load) load, and stand in only for a
    live row of the same path and concurrency."""
    run = bench.run_bench(["process"], calls=2, warmup=0, live=2, show_progress=False)
    payload = json.loads(bench.save(run, tmp_path).read_text())
    warm = {**payload["results"][0], "path": "warm", "phases_ms": {"spawn": 1.0},
            "shared_mb": 3.0}
    payload["results"] = [warm]
    (tmp_path / "bench-warm.json").write_text(json.dumps(payload))
    loaded = bench.load_recorded(tmp_path / "bench-warm.json", every_row=True)
    assert loaded[0]["path"] == "warm" and loaded[0]["shared_mb"] == 3.0
    missing = results.unavailable("process", "not here")
    assert bench.fill_from_recorded([missing], loaded) == (missing,)


def test_the_command_line_runs_a_list_and_prints_a_table_per_workload(capsys):
    assert main(["bench", "--kinds", "process", "--n", "2", "--warmup", "0", "--live", "2",
                 "--workload", "fib,tool-js"]) == 0
    out = capsys.readouterr().out
    assert out.index("workload: fib") < out.index("workload: tool-js")
    assert out.count("\nprocess ") == 2


def test_the_command_line_refuses_an_unknown_workload_in_one_line(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["bench", "--workload", "fib,tool-rb"])
    assert exited.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.endswith("--workload: unknown workload 'tool-rb'; valid ones are: fib, "
                         "tool-js, tool-py")


def test_notebook_05_shows_each_workload_with_every_kind_and_why_one_did_not_run():
    from labkit.lab import head_to_head as viz

    def ran(kind, workload, ms, floor=None):
        return results.KindResult(kind, True, calls=3, start_ms_p50=ms, start_ms_p99=ms,
                                  per_second=1.0, mem_mb_per_instance=1.0, workload=workload,
                                  extras={"floor_ms": floor})
    rows = [ran("v8", "fib", 4.0), ran("runc", "fib", 40.0, floor=7.0),
            ran("v8", "tool-js", 20.0),
            results.unavailable("runc", "cannot run here today", "x", workload="tool-js")]
    table = viz.workload_table(rows, "tool-js")
    assert table.splitlines()[0] == "workload: tool-js"
    assert "runc                not run: cannot run here today" in table
    fib = viz.workload_table(rows, "fib").splitlines()[-1].split()
    assert fib[:6] == ["runc", "40.000", "40.000", "7.000", "33.000", "1.000"]
    fig = viz.start_by_workload(rows, ["fib", "tool-js"])
    missing = [t for t in fig.data if t.name == "tool-js: not run"]
    assert list(missing[0].y) == ["runc"] and list(missing[0].hovertext) == [
        "cannot run here today"]
    assert sorted(t.name for t in fig.data if t.type == "bar") == ["fib", "tool-js"]
