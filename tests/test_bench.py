"""labkit.bench: one open sandbox per kind, sizes and live counts from the kinds, warnings
carried with the numbers, ratios to a baseline of the same run."""

import json

import pytest

from labkit import bench, results
from labkit.errors import LabkitError
from labkit.sandboxes import Availability, sandbox_class

pytestmark = pytest.mark.usefixtures("nothing_left_behind")

ProcessSandbox = sandbox_class("process")


@pytest.fixture
def opens(monkeypatch):
    """Counts how often ProcessSandbox is opened (entered as a `with` block)."""
    count = {"opens": 0}
    enter = ProcessSandbox.__enter__

    def counting_enter(self):
        count["opens"] += 1
        return enter(self)

    monkeypatch.setattr(ProcessSandbox, "__enter__", counting_enter)
    return count


def test_each_kind_is_opened_once_per_bench(opens):
    (result,) = bench.run_bench(["process"], calls=3, warmup=0, live=2, show_progress=False)
    assert result.available and result.calls == 3 and len(result.samples_ms) == 3
    assert opens["opens"] == 1, "the availability trial must reuse the measured sandbox"


def test_a_failed_trial_is_unavailable_with_its_reason(monkeypatch):
    def broken(self, n=20):
        raise LabkitError("the shell printed nothing")

    monkeypatch.setattr(ProcessSandbox, "cold_call", broken)
    (result,) = bench.run_bench(["process"], calls=3, show_progress=False)
    assert not result.available
    assert result.reason == "a trial run failed: the shell printed nothing"
    assert result["fix"] == result.fix and result["machine"]["cores"] >= 1


def test_a_labkit_error_mid_run_is_unavailable_with_its_reason(monkeypatch):
    def cannot_hold(self, count, workload="fib"):
        raise LabkitError("no room to hold")

    monkeypatch.setattr(ProcessSandbox, "hold", cannot_hold)
    (result,) = bench.run_bench(["process"], calls=3, warmup=0, live=2, show_progress=False)
    assert not result.available and result.reason == "the run failed: no room to hold"


def test_a_bug_mid_run_is_raised_not_hidden(monkeypatch):
    def bug(self, calls):
        raise TypeError("a bug in a kind")

    monkeypatch.setattr(ProcessSandbox, "extra_figures", bug)
    with pytest.raises(TypeError, match="a bug in a kind"):
        bench.run_bench(["process"], calls=2, warmup=0, live=2, show_progress=False)


def test_live_count_comes_from_the_kind_for_the_size(monkeypatch):
    monkeypatch.setattr(ProcessSandbox, "live_counts", {"quick": 3, "full": 4})
    (quick,) = bench.run_bench(["process"], calls=2, warmup=0, show_progress=False)
    (full,) = bench.run_bench(["process"], calls=2, warmup=0, size="full",
                              show_progress=False)
    assert (quick.live_instances, full.live_instances) == (3, 4)
    # below the one N every kind is held at (MEMORY_N): said, not silent
    assert all(any(w.code == results.LIVE_CLAMPED for w in r.warnings) for r in (quick, full))


def test_every_kind_is_held_at_the_same_n_when_it_can(monkeypatch):
    monkeypatch.setattr(ProcessSandbox, "live_counts", {"quick": 100, "full": 100})
    (quick,) = bench.run_bench(["process"], calls=2, warmup=0, show_progress=False)
    assert quick.live_instances == bench.MEMORY_N["quick"] == quick["mem_n"]
    assert all(w.code != results.LIVE_CLAMPED for w in quick.warnings)


def test_a_clamped_live_count_is_a_warning_not_silence(monkeypatch):
    monkeypatch.setattr(ProcessSandbox, "max_live", lambda self: 2)
    (result,) = bench.run_bench(["process"], calls=2, warmup=0, live=5, show_progress=False)
    assert result.live_instances == 2
    (clamped,) = [w for w in result.warnings if w.code == results.LIVE_CLAMPED]
    assert "held 2 live instances, not the 5 asked" in clamped.message
    assert clamped.to_dict() in result.to_dict()["warnings"]


def test_extra_figures_are_extra_keys(monkeypatch):
    monkeypatch.setattr(ProcessSandbox, "extra_figures",
                        lambda self, calls: {"warm_ms_p50": float(calls)})
    (result,) = bench.run_bench(["process"], calls=2, warmup=0, live=2, show_progress=False)
    assert result["warm_ms_p50"] == 2.0
    assert set(result.extras) == {"warm_ms_p50", "floor_ms", "mem_n", "shared_mb",
                                  "shared_what", "mem_mb_amortised", "phases_ms"}
    assert result["workload"] == "fib" and result.workload == "fib"


@pytest.mark.parametrize("kwargs, message", [
    ({"size": "huge"}, "unknown size 'huge'; valid ones are: quick, full"),
    ({"calls": 0}, "calls must be at least 1 and at most 100,000, got 0"),
    ({"calls": bench.MAX_CALLS + 1}, "calls must be at least 1"),
    ({"live": 0}, "live must be at least 1 and at most 100,000, got 0"),
    ({"warmup": -1}, "warmup must be at least 0"),
    ({"workload": "tool-rb"}, "unknown workload 'tool-rb'; valid ones are: fib, tool-js, "
                              "tool-py"),
])
def test_bad_arguments_are_refused_before_anything_opens(kwargs, message, opens):
    with pytest.raises(ValueError, match=message):
        bench.run_bench(["process"], show_progress=False, **kwargs)
    assert opens["opens"] == 0


def test_ratios_divide_by_the_baseline_of_the_same_run(monkeypatch):
    monkeypatch.setattr(bench, "availability",
                        lambda kind, trial=True: Availability(kind, kind == "process",
                                                              "not here", "x"))
    run = bench.run_bench(["process", "wasm"], calls=3, warmup=0, live=2,
                          show_progress=False, baseline="process")
    process, wasm = run
    assert process["ratio_to_process"]["start_ms_p50"] == 1
    assert not wasm.available and "ratio_to_process" not in wasm
    without = bench.run_bench(["process"], calls=3, warmup=0, live=2, show_progress=False)
    assert not any(key.startswith("ratio_to_") for key in without[0])


def test_a_saved_run_loads_back_marked_as_recorded(tmp_path):
    run = bench.run_bench(["process"], calls=5, live=3, show_progress=False)
    path = bench.save(run, tmp_path)
    saved = json.loads(path.read_text())
    assert saved["format"] == results.FORMAT_VERSION and saved["holds"] == "bench"
    assert saved["results"][0]["recorded"] is False
    loaded = bench.load_recorded(path)
    assert loaded[0]["recorded"] is True and loaded[0]["source"] == path.name
    assert loaded[0].source.saved == saved["saved"]
    assert loaded[0]["machine"]["cores"] >= 1
    assert len(loaded[0]["samples_ms"]) == 5
    assert loaded[0].start_ms_p50 == run[0].start_ms_p50
    assert loaded[0]["workload"] == "fib" and loaded[0]["floor_ms"] == run[0]["floor_ms"]


def test_loading_with_nothing_recorded_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setattr(results.paths, "RECORDED_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        bench.load_recorded()


def test_without_a_call_count_each_kind_takes_its_own(monkeypatch):
    """A slow kind times fewer cold calls per size, and its row says how many it took."""
    from labkit.sandboxes.process import ProcessSandbox
    monkeypatch.setattr(ProcessSandbox, "bench_calls", {"quick": 3, "full": 4})
    (quick,) = bench.run_bench(["process"], warmup=0, live=2, show_progress=False)
    (full,) = bench.run_bench(["process"], warmup=0, live=2, size="full", show_progress=False)
    assert (quick.calls, len(quick.samples_ms)) == (3, 3)
    assert (full.calls, len(full.samples_ms)) == (4, 4)
    assert quick.to_dict()["n"] == 3  # the contract's key says it too


def test_every_row_says_its_workload_and_its_floor_from_the_same_run():
    (row,) = bench.run_bench(["process"], calls=3, warmup=0, live=2, show_progress=False)
    assert row["workload"] == "fib" and "mem_of" not in row
    # `true` spawned as the guests are: a real cost, measured in this run
    assert 0 < row["floor_ms"] and row.to_dict()["floor_ms"] == row["floor_ms"]


def test_a_tool_workload_runs_where_hosted_and_says_why_not_elsewhere():
    process, wasm = bench.run_bench(["process", "wasm"], calls=2, warmup=0, live=2,
                                    show_progress=False, workload="tool-js")
    assert process.available and process["workload"] == "tool-js"
    assert process["start_ms_p50"] > 0 and process["mem_of"] == bench.TOOL_RUNTIME_HELD
    # node with the tool run once, held: megabytes, where an idle shell weighs a fraction
    assert process["mem_mb_per_instance"] > 1
    assert not wasm.available
    assert "wasm cannot host the tool-js workload (the tool languages it hosts: python)" \
        in wasm.reason and "--workload fib" in wasm.fix


def test_a_tool_workload_takes_fewer_calls_than_fib_by_default():
    (row,) = bench.run_bench(["process"], warmup=0, live=2, show_progress=False,
                             workload="tool-py")
    assert row["n"] == min(ProcessSandbox.bench_calls["quick"], bench.TOOL_CALLS["quick"])


def test_the_command_line_names_the_valid_workloads(capsys):
    from labkit.__main__ import main

    with pytest.raises(SystemExit) as exited:
        main(["bench", "--workload", "tool-rb"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "--workload: unknown workload 'tool-rb'; valid ones are: fib, tool-js, tool-py" \
        in err.splitlines()[-1]


@pytest.mark.parametrize("warmup, calls, made", [(5, 100, 5), (5, 20, 4), (5, 3, 1), (0, 3, 0)])
def test_warm_up_is_at_most_a_fifth_of_the_measured_calls(warmup, calls, made):
    assert bench.capped_warmup(warmup, calls) == made


def test_the_slow_kinds_taking_fewer_calls_are_named():
    rows = [results.KindResult("wasm", True, calls=100),
            results.KindResult("podman", True, calls=20),
            results.KindResult("docker", False, reason="no daemon")]
    note = bench.fewer_calls_note(rows)
    assert "podman 20" in note and "wasm" not in note and "docker" not in note
    assert bench.fewer_calls_note(rows[:1]) == ""


def test_the_quick_run_takes_fewer_calls_for_the_slow_kinds():
    """The quick head-to-head stays near a minute: the kinds whose cold call costs hundreds
    of milliseconds take fewer calls than the default, and fewer instances held."""
    default = sandbox_class("wasm").bench_calls["quick"]
    for kind in ("podman", "docker", "gvisor", "microvm"):
        cls = sandbox_class(kind)
        assert cls.bench_calls["quick"] < default, kind
        assert cls.live_counts["quick"] <= 10, kind
