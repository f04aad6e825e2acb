"""The figures a reader looks at are readable: axes cover the data and little else.

Each of these once shipped broken: notebook 04's start-latency histogram ran its log axis to
1e21-1e27 ms (plotly placed a line's annotation in log10 units), notebook 03's 50 V8 calls
stood at 5% of the height of 5,000 wasm calls, and notebook 05's instances-per-GB bars
started their log axis near 500, so bar lengths misled and the longest label was clipped.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from labkit.lab import containers, head_to_head, isolates

RNG = np.random.default_rng(7)
SAMPLES = {
    "wasm": RNG.uniform(0.008, 0.02, 5000),
    "V8": RNG.uniform(3, 6, 50),
    "runc": RNG.uniform(20, 45, 40),
}


def x_range_ms(fig) -> tuple[float, float]:
    low, high = fig.layout.xaxis.range
    return 10**low, 10**high


@pytest.mark.parametrize("histogram", [isolates.start_latency_histogram,
                                       containers.start_latency_histogram])
def test_start_latency_axis_covers_the_samples_and_no_more(histogram):
    fig = histogram(SAMPLES)
    low, high = x_range_ms(fig)
    every = np.concatenate(list(SAMPLES.values()))
    assert low <= every.min() and every.max() <= high
    assert low > every.min() / 10 and high < every.max() * 10  # within a decade each side
    for trace in fig.data:  # nothing (a median line, a label) drawn far off the data
        xs = [10**x for x in trace.x]
        assert low <= min(xs) and max(xs) <= high, trace.name
    assert not fig.layout.annotations and not fig.layout.shapes
    assert len(fig.layout.xaxis.tickvals) >= 2
    assert all(text.endswith(("ms", "µs")) for text in fig.layout.xaxis.ticktext)


def test_each_kind_is_drawn_as_a_share_of_its_own_calls():
    fig = isolates.start_latency_histogram(SAMPLES)
    bars = [trace for trace in fig.data if trace.type == "bar"]
    assert [bar.name for bar in bars] == list(SAMPLES)
    for bar in bars:
        assert math.isclose(sum(bar.y), 100, rel_tol=1e-9), bar.name
    heights = {bar.name: max(bar.y) for bar in bars}
    assert heights["V8"] > heights["wasm"] / 5  # 50 calls are not dwarfed by 5,000


def test_a_single_tight_sample_still_gets_a_readable_axis():
    fig = containers.start_latency_histogram({"runc": [25.0, 25.1, 25.2]})
    low, high = x_range_ms(fig)
    assert low < 25 < high and high / low < 10
    assert len(fig.layout.xaxis.tickvals) >= 2


RESULTS = [
    {"kind": "wasm", "available": True, "mem_mb_per_instance": 0.0105, "start_ms_p50": 0.009},
    {"kind": "v8", "available": True, "mem_mb_per_instance": 1.6, "start_ms_p50": 4.2},
    {"kind": "runc", "available": True, "recorded": True, "mem_mb_per_instance": 0.29,
     "start_ms_p50": 24.0},
    {"kind": "docker", "available": False},
]


def test_instances_per_gb_bars_start_at_one_and_leave_room_for_labels():
    fig = head_to_head.instances_per_gb(RESULTS)
    low, high = fig.layout.xaxis.range
    per_gb = fig.data[0].x
    assert low == 0  # 10**0 = 1 instance: bar lengths compare honestly
    assert 10**high > 2 * max(per_gb)  # the longest bar's label fits
    assert list(fig.data[0].y) == ["v8", "runc (recorded)", "wasm"]


def test_measured_vs_published_axis_covers_every_bar_and_point():
    fig = head_to_head.measured_vs_published(RESULTS, "start_ms_p50", "start")
    low, high = fig.layout.xaxis.range
    values = [r["start_ms_p50"] for r in RESULTS if r["available"]]
    assert 10**low < min(values) and max(values) * 2 < 10**high
