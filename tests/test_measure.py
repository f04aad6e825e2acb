"""labkit.measure: the statistics, the timing loop, memory of a process tree, records."""

import json
import subprocess
import sys

import numpy as np
import pytest

from labkit.measure import Memory, Record, Stats, check_count, machine_info, time_calls, tree_memory


def test_stats_match_numpy_on_known_samples():
    samples_ns = [1_000_000 * k for k in range(1, 101)]  # 1..100 ms
    stats = Stats.from_ns(samples_ns)
    assert stats.n == 100
    assert stats.median_ms == pytest.approx(50.5)
    assert stats.p99_ms == pytest.approx(np.percentile(np.arange(1, 101), 99))
    assert stats.min_ms == 1 and stats.max_ms == 100
    # 100 calls in 5050 ms of summed time
    assert stats.per_second == pytest.approx(100 / 5.05)


def test_stats_use_wall_time_for_rate_when_given():
    stats = Stats.from_ns([1_000_000] * 10, wall_ns=20_000_000)
    assert stats.per_second == pytest.approx(500)


def test_stats_refuse_empty_input():
    with pytest.raises(ValueError, match="no timings"):
        Stats.from_ns([])


def test_spread_warning_only_for_wild_tails():
    steady = Stats.from_ns([1_000_000] * 50)
    wild = Stats.from_ns([1_000_000] * 49 + [900_000_000])
    assert steady.spread_warning() is None
    assert "p99" in wild.spread_warning()


def test_time_calls_runs_warmup_then_measured_calls():
    calls = []
    timing = time_calls(lambda: calls.append(1), n=7, warmup=3)
    assert len(calls) == 10
    assert len(timing.samples_ns) == 7
    assert all(s >= 0 for s in timing.samples_ns)
    assert timing.wall_ns >= sum(timing.samples_ns)


@pytest.mark.parametrize("bad", [0, -1, 2.5, "3", True])
def test_time_calls_refuses_bad_counts(bad):
    with pytest.raises((ValueError, TypeError), match="n must"):
        time_calls(lambda: None, n=bad)


def test_check_count_names_the_value_and_range():
    with pytest.raises(ValueError, match=r"count must be at least 1 and at most 10, got 11"):
        check_count("count", 11, maximum=10)


def test_tree_memory_sees_a_child_process():
    alone = tree_memory()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with_child = tree_memory()
    finally:
        child.kill()
        child.wait()
    assert alone.processes >= 1
    assert with_child.processes == alone.processes + 1
    assert with_child.pss > alone.pss
    assert 0 < with_child.uss <= with_child.rss


def test_memory_arithmetic():
    a, b = Memory(10, 8, 6, 1), Memory(4, 3, 2, 1)
    assert a - b == Memory(6, 5, 4, 0)
    assert a + b == Memory(14, 11, 8, 2)


def test_record_serialises_with_machine():
    record = Record("process", {"median_ms": 1.5})
    data = json.loads(record.to_json())
    assert data["kind"] == "process"
    assert data["figures"] == {"median_ms": 1.5}
    assert data["machine"]["cores"] >= 1
    assert set(machine_info()) >= {"cpu", "cores", "memory_gb", "os", "python"}
