"""labkit.load_bench: C clients at once against one kind; throughput, latency under load and
failures as rows that save and load; where throughput stops growing; bad input refused;
nothing left running, also after an interrupt."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from conftest import eventually

from labkit import bench, load_bench, results
from labkit.errors import GuestError, LabkitError
from labkit.sandboxes import sandbox_class


def run(*args):
    return subprocess.run([sys.executable, "-m", "labkit", *args], capture_output=True,
                          text=True, timeout=300)

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


def test_clients_on_a_shared_box_really_overlap(opens):
    (row,) = load_bench.load_kind("process", [4], seconds=0.2, cap=3)
    assert row.available and row.concurrency == 4 and row["concurrency"] == 4
    assert row.extras["clients"] == load_bench.SHARED and opens["opens"] == 1
    assert row.extras["peak_in_flight"] > 1, "four clients never had two calls under way"
    assert 4 <= row.calls <= 12 and row.extras["failures"] == 0
    assert row.per_second > 0 and row.start_ms_p50 <= row.start_ms_p99
    assert row.extras["c1_per_second"] > 0  # the one-client burst of the same harness
    assert row.mem_mb_per_instance is None  # not measured under load, and not made up


def test_a_kind_that_needs_a_box_per_client_gets_one(opens, monkeypatch):
    monkeypatch.setitem(load_bench.SHARING, "process", (load_bench.PER_CLIENT, "a test"))
    rows = load_bench.load_kind("process", [2, 3], seconds=0.1, cap=2)
    assert [r.concurrency for r in rows] == [2, 3]
    assert all(r.extras["clients"] == load_bench.PER_CLIENT for r in rows)
    assert opens["opens"] == 3, "boxes are opened once for the largest C and reused"
    assert rows[1].extras["peak_in_flight"] > 1


def test_a_box_per_client_that_cannot_be_opened_is_an_unavailable_row(opens, monkeypatch):
    monkeypatch.setitem(load_bench.SHARING, "process", (load_bench.PER_CLIENT, "a test"))
    enter = ProcessSandbox.__enter__

    def third_fails(self):
        if opens["opens"] >= 2:  # the first two opened
            raise LabkitError("no room for a third")
        return enter(self)

    monkeypatch.setattr(ProcessSandbox, "__enter__", third_fails)
    two, three = load_bench.load_kind("process", [2, 3], seconds=0.1, cap=2)
    assert two.available and two.concurrency == 2
    assert not three.available and three.concurrency == 3
    assert three.reason == "could not open 3 boxes (2 opened): no room for a third"


def test_failed_calls_are_counted_with_the_first_error_not_raised(monkeypatch):
    lock, made = threading.Lock(), {"calls": 0}
    cold_call = ProcessSandbox.cold_call

    def every_other_fails(self, n=20):
        with lock:
            made["calls"] += 1
            number = made["calls"]
        if number > 1 and number % 2 == 0:  # the trial (call 1) passes
            raise GuestError("process", f"call {number} went wrong")
        return cold_call(self, n)

    monkeypatch.setattr(ProcessSandbox, "cold_call", every_other_fails)
    (row,) = load_bench.load_kind("process", [2], seconds=0.1, cap=4)
    # half the calls fail: the row keeps the others and counts these
    assert row.available and row.calls >= 1 and row.extras["failures"] >= 1
    assert row.calls + row.extras["failures"] <= 2 * 4  # two clients, four calls each
    assert "went wrong" in row.extras["first_failure"]
    assert row.extras["first_failure"].startswith("GuestError")


def test_a_burst_where_every_call_fails_is_an_unavailable_row_saying_why(monkeypatch):
    made = {"calls": 0}
    cold_call = ProcessSandbox.cold_call

    def all_fail_after_trial(self, n=20):
        made["calls"] += 1
        if made["calls"] > 1:
            raise GuestError("process", "no more")
        return cold_call(self, n)

    monkeypatch.setattr(ProcessSandbox, "cold_call", all_fail_after_trial)
    (row,) = load_bench.load_kind("process", [2], seconds=0.1, cap=2)
    assert not row.available and row.concurrency == 2
    assert row.reason.startswith("all ") and "calls failed at 2 clients" in row.reason
    assert "no more" in row.reason


def test_load_rows_round_trip_through_save_and_load(tmp_path, monkeypatch):
    monkeypatch.setitem(load_bench.SECONDS, "quick", 0.2)
    run_ = bench.run_bench(["process"], calls=3, warmup=0, live=2, show_progress=False,
                           concurrency="1,2")
    assert [r.concurrency for r in run_] == [1, 2]
    path = results.save_run(run_, tmp_path)
    back = results.load_run(path)
    one, two = back
    assert (one.concurrency, two.concurrency) == (1, 2) and two["concurrency"] == 2
    assert two.per_second == pytest.approx(run_[1].per_second)
    assert two.mem_mb_per_instance is None and two.extras["failures"] == 0
    assert two.extras["clients"] == load_bench.SHARED and two.recorded
    assert back.by_kind()["process"].concurrency == 1  # the one-client row stays the kind's
    assert "ratio_to_wasm" not in two


def test_an_old_row_without_concurrency_reads_as_one_client():
    row = {"kind": "process", "available": True, "n": 3, "start_ms_p50": 1.0,
           "start_ms_p99": 2.0, "per_second": 500.0, "mem_mb_per_instance": 0.1}
    assert results.KindResult.from_row(row).concurrency == 1


def test_a_row_with_one_client_must_still_have_its_memory_figure(tmp_path):
    row = {"kind": "process", "available": True, "n": 3, "start_ms_p50": 1.0,
           "start_ms_p99": 2.0, "per_second": 500.0, "mem_mb_per_instance": None}
    with pytest.raises(results.ResultsFileError, match="mem_mb_per_instance"):
        results.check_row(row, "x.json")
    results.check_row({**row, "concurrency": 4}, "x.json")  # under load: not measured


@pytest.mark.parametrize("given,error", [
    ("0", "concurrency must be at least 1 and at most 256, got 0"),
    ("-2", "at least 1"),
    ("300", "at most 256, got 300"),
    ("2.5", "concurrency '2.5' is not a whole number; valid: whole numbers from 1 to 256"),
    ("lots", "valid: whole numbers from 1 to 256, such as 1,2,4,8"),
    ("", "no concurrency given"),
    ([], "no concurrency given"),
    (2.0, "concurrency must be whole numbers from 1 to 256"),
    (True, "concurrency must be whole numbers"),
])
def test_bad_concurrency_is_one_line_naming_the_valid_choices(given, error):
    with pytest.raises((ValueError, TypeError)) as caught:
        load_bench.parse_concurrency(given)
    assert error in str(caught.value) and "\n" not in str(caught.value)


def test_concurrency_lists_are_sorted_and_unique():
    assert load_bench.parse_concurrency("8, 1,2,2") == (1, 2, 8)
    assert load_bench.parse_concurrency(4) == (4,)


@pytest.mark.parametrize("value", ["0", "257", "x"])
def test_the_command_line_refuses_bad_concurrency_in_one_line(value):
    done = run("bench", "--kinds", "process", "--concurrency", value)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "argument --concurrency:" in done.stderr and "256" in done.stderr


def test_an_interrupt_stops_new_calls_and_closes_everything():
    main = threading.get_ident()
    timer = threading.Timer(1.0, lambda: signal.pthread_kill(main, signal.SIGINT))
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            load_bench.load_kind("process", [4], seconds=60, cap=100_000)
    finally:
        timer.cancel()
    assert time.monotonic() - started < 50, "the burst ran on after the interrupt"
    assert eventually(lambda: not [t for t in threading.enumerate()
                                   if t.name.startswith("labkit-load-")], within=30)
    assert os.getpid()  # and the leak check (the fixture) finds nothing left


def test_an_interrupt_mid_burst_lets_each_client_finish_its_call_then_goes_up():
    from labkit.sandboxes import open_sandbox
    main = threading.get_ident()
    with open_sandbox("process") as box:
        burst = load_bench._Burst([box.run_standard] * 4, cap=100_000, seconds=60)
        timer = threading.Timer(1.0, lambda: signal.pthread_kill(main, signal.SIGINT))
        timer.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                burst.run()
        finally:
            timer.cancel()
        assert burst.stop.is_set() and all(ended.is_set() for ended in burst._ended)
        assert burst.spans and burst.failures == 0  # calls under way finished, not cut
    # the leak check (the fixture) then finds no shell, no thread left


def test_peak_in_flight_counts_overlapping_calls():
    assert load_bench.peak_in_flight([(0, 10), (5, 15), (12, 20)]) == 2
    assert load_bench.peak_in_flight([(0, 10), (10, 20)]) == 1  # one ends as one starts
    assert load_bench.peak_in_flight([]) == 0


def _row(kind, c, per_second, busy=0.5, harness=0.5, c1=None):
    extras = {"failures": 0, "cpu_busy": busy, "harness_cpu": harness}
    if c1 is not None:
        extras.update(c1_per_second=c1, c1_p50_ms=1.0, c1_p99_ms=2.0)
    return results.KindResult(kind, True, calls=10, start_ms_p50=1.0, start_ms_p99=2.0,
                              per_second=per_second, extras=extras, concurrency=c,
                              machine={"cores": 2})


def test_saturation_is_where_throughput_stops_growing_and_says_what_ran_out():
    rows = [_row("process", 2, 190, busy=0.6, c1=100), _row("process", 4, 200, busy=0.97),
            _row("process", 8, 201, busy=0.99),
            _row("wasm", 2, 300, harness=1.0, c1=200), _row("wasm", 4, 305, harness=1.0),
            _row("v8", 2, 150, c1=80), _row("v8", 4, 290)]
    found = {s["kind"]: s for s in load_bench.saturation(rows)}
    assert found["process"]["saturates_at"] == 2
    assert found["process"]["per_second"] == {1: 100, 2: 190, 4: 200, 8: 201}
    assert found["process"]["why"].startswith("the CPU: cores 97% busy")
    assert found["wasm"]["saturates_at"] == 2 and found["wasm"]["why"].startswith("the GIL")
    assert found["v8"]["saturates_at"] is None and "still growing at 4" in found["v8"]["why"]
    assert found["v8"]["speedup"] == pytest.approx(290 / 80)


def test_the_load_figure_draws_each_kind_in_both_panels_and_rings_its_saturation():
    from labkit.lab.load import load_figure
    rows = [_row("process", 2, 190, c1=100), _row("process", 4, 200),
            _row("v8", 2, 150, c1=80), _row("v8", 4, 290)]
    fig = load_figure(rows)
    names = [t.name for t in fig.data if t.showlegend is not False]
    assert names == ["process", "v8"]
    assert len(fig.data) == 2 + 1 + 2  # two panels per kind, one ring (process stops at 2)
    ring = [t for t in fig.data if t.mode == "markers"]
    assert list(ring[0].x) == [2] and list(ring[0].y) == [190]
    assert list(fig.data[0].x) == [1, 2, 4] and fig.layout.xaxis.type == "log"
    with pytest.raises(ValueError, match="--concurrency 1,2,4,8"):
        load_figure(rows, workload="tool-js")
