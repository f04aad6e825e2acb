"""labkit.measure: the statistics, the timing loop, memory sums, machine facts, timestamps."""

import re
import time

import numpy as np
import pytest

from labkit.measure import Memory, Stats, check_count, machine_info, time_calls, timestamp


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
    made = []
    timing = time_calls(lambda: made.append(1), calls=7, warmup=3)
    assert len(made) == 10
    assert len(timing.samples_ns) == 7
    assert all(s >= 0 for s in timing.samples_ns)
    assert timing.wall_ns >= sum(timing.samples_ns)


@pytest.mark.parametrize("bad", [0, -1, 2.5, "3", True])
def test_time_calls_refuses_bad_counts(bad):
    with pytest.raises((ValueError, TypeError), match="calls must"):
        time_calls(lambda: None, calls=bad)


def test_check_count_names_the_value_and_range():
    with pytest.raises(ValueError, match=r"count must be at least 1 and at most 10, got 11"):
        check_count("count", 11, maximum=10)


def test_memory_arithmetic():
    a, b = Memory(10, 8, 6, 1), Memory(4, 3, 2, 1)
    assert a - b == Memory(6, 5, 4, 0)
    assert a + b == Memory(14, 11, 8, 2)


def test_machine_info_names_what_a_run_is_compared_on():
    assert set(machine_info()) >= {"cpu", "cores", "memory_gb", "os", "python"}
    assert machine_info()["cores"] >= 1


def test_one_timestamp_format_for_files_and_for_file_names():
    when = time.mktime((2026, 11, 26, 18, 55, 41, 0, 0, -1))
    assert re.fullmatch(r"2026-11-26T18:55:41[+-]\d{4}", timestamp(when))
    assert timestamp(when, compact=True) == "20261126-185541"
