"""FleetExplorer headless: moving a control changes the numbers and the chart."""

import pytest

from labkit.lab.head_to_head import FleetExplorer

RESULTS = [
    {"kind": "wasm", "available": True, "start_ms_p50": 0.02, "mem_mb_per_instance": 0.01},
    {"kind": "runc", "available": True, "start_ms_p50": 25.0, "mem_mb_per_instance": 0.6},
    {"kind": "docker", "available": False, "reason": "no daemon", "fix": "start dockerd"},
]


def bars(explorer):
    return {kind: y for trace in explorer.figure.data for kind, y in zip(trace.x, trace.y,
                                                                         strict=True)}


def test_only_measured_kinds_are_shown():
    explorer = FleetExplorer(RESULTS)
    assert set(bars(explorer)) == {"wasm", "runc"}
    assert "docker" not in explorer.numbers.value


def test_a_huge_working_set_makes_memory_bind_and_cuts_sessions():
    explorer = FleetExplorer(RESULTS)
    before, text_before = bars(explorer), explorer.numbers.value
    explorer.working_set.value = 1000
    after = bars(explorer)
    assert after["wasm"] < before["wasm"]
    assert explorer.numbers.value != text_before
    memory_trace = next(t for t in explorer.figure.data if t.name == "memory binds")
    assert set(memory_trace.x) == {"wasm", "runc"}


def test_frequent_tool_calls_make_slow_starts_bind():
    explorer = FleetExplorer(RESULTS)
    explorer.cpu_share.value = 0.5
    explorer.tool_calls.value = 120
    startup_trace = next(t for t in explorer.figure.data if t.name == "start-up binds")
    assert list(startup_trace.x) == ["runc"]
    assert explorer.last_update_seconds < 1


def test_more_cores_carry_more_sessions():
    explorer = FleetExplorer(RESULTS)
    before = bars(explorer)["wasm"]
    explorer.cores.value = 16
    explorer.memory_gb.value = 64
    assert bars(explorer)["wasm"] == pytest.approx(8 * before, rel=0.05)


def test_nothing_measured_is_a_clear_error():
    with pytest.raises(ValueError, match="at least one measured"):
        FleetExplorer(RESULTS[2:])


def test_recorded_kinds_are_labelled_recorded_in_table_and_chart():
    # Issue 14: notebook 05's podman rows came from a recording but read as measured here.
    results = [*RESULTS[:2], {"kind": "podman", "available": True, "recorded": True,
                              "start_ms_p50": 160.0, "mem_mb_per_instance": 0.3}]
    explorer = FleetExplorer(results)
    assert "podman (RECORDED)" in bars(explorer)
    assert "podman (RECORDED)" in explorer.numbers.value
    assert "wasm (RECORDED)" not in explorer.numbers.value
    explorer.working_set.value = 100
    assert "podman (RECORDED)" in bars(explorer)
