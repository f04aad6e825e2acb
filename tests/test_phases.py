"""phases(): a cold call split into named intervals, per kind where the runtime exposes its
steps; bench records the median of each. No time bound: only order, signs and sums."""

import pytest

from labkit import bench
from labkit.errors import NotSupported
from labkit.sandboxes import availability, open_sandbox
from labkit.workload import workload_call

pytestmark = pytest.mark.usefixtures("nothing_left_behind")

# The intervals each kind names for the fib workload, in order.
FIB_PHASES = {
    "runc": ["create", "start", "run", "delete", "other"],
    "crun": ["create", "start", "run", "delete", "other"],
    "gvisor": ["create", "start", "run", "delete", "other"],
    "podman": ["create", "start", "remove", "other"],
    "docker": ["create", "start", "remove", "other"],
    "bwrap": ["spawn + namespaces", "mounts + guest", "collect", "other"],
    "microvm": ["boot", "run", "report", "power off", "other"],
    "wasm": ["store", "instantiate", "call", "drop", "other"],
    "v8": ["http", "load", "call"],
    "process": ["spawn", "run", "collect", "other"],
}
# Kinds whose split of a tool call has the same intervals as their fib's (process names
# its interpreter's start apart: its own test below).
TOOL_SPLIT_KINDS = ["runc", "crun", "gvisor", "podman", "docker", "bwrap"]
TOOL_PHASES = ["spawn", "interpreter start", "tool", "exit", "other"]
# The split may cost more than the whole (runc: four commands instead of one `run`) or
# less (V8: the least of three passes); generous, but a split of something else fails it.
FACTOR = 10


def needs(kind: str):
    found = availability(kind, trial=False)
    if not found.available:
        pytest.skip(f"{kind} is not available here: {found.reason}")


def median_cold_ms(box, workload: str = "fib", calls: int = 5) -> float:
    return bench.time_calls(workload_call(box, workload), calls, 1).stats.median_ms


@pytest.mark.parametrize("kind", sorted(FIB_PHASES))
def test_a_cold_call_splits_into_its_named_intervals(kind):
    needs(kind)
    with open_sandbox(kind) as box:
        split = box.phases("fib")
        assert list(split) == FIB_PHASES[kind]
        assert all(ms >= 0 for ms in split.values()), split
        named = [ms for name, ms in split.items() if name != "other"]
        assert sum(named) > 0
        medians = bench.phases_ms(box, "fib")  # what bench records: one call's is noisy
        assert list(medians) == FIB_PHASES[kind]
        cold = median_cold_ms(box)
        assert cold / FACTOR < sum(medians.values()) < cold * FACTOR, (medians, cold)


@pytest.mark.parametrize("workload, language", [("tool-py", "python"), ("tool-js", "javascript")])
def test_a_process_tool_call_splits_interpreter_start_from_the_tools_own_work(workload, language):
    needs("process")
    from labkit.sandboxes._tools import missing_interpreters
    if language in missing_interpreters():
        pytest.skip(f"no {language} interpreter here")
    with open_sandbox("process") as box:
        split = box.phases(workload)
        assert list(split) == TOOL_PHASES
        assert all(ms >= 0 for ms in split.values()), split
        # The guest's own clock: the tool's work is inside the call, after the interpreter
        # started, and neither is the whole.
        assert 0 < split["tool"] < sum(split.values())
        assert 0 < split["interpreter start"] < sum(split.values())
        medians = bench.phases_ms(box, workload, calls=3)
        cold = median_cold_ms(box, workload, calls=3)
        assert cold / FACTOR < sum(medians.values()) < cold * FACTOR, (medians, cold)


@pytest.mark.parametrize("kind", TOOL_SPLIT_KINDS)
def test_a_tool_call_splits_into_the_same_intervals_and_the_guest_is_in_its_run(kind):
    """The tool's own work (a python3 start and the tool) lands in the interval where the
    guest runs, not in the runtime's set-up: that interval is longer than fib's. (Podman's
    and Docker's guest runs inside the manager's `start`, hundreds of ms that vary by more
    than the tool's tens: there only the names and the sum are checked.)"""
    needs(kind)
    with open_sandbox(kind) as box:
        fib = bench.phases_ms(box, "fib", calls=3)
        tool = bench.phases_ms(box, "tool-py", calls=3)
        assert list(tool) == FIB_PHASES[kind]
        assert all(ms >= 0 for ms in tool.values()), tool
        if kind not in ("podman", "docker"):
            guest = {"bwrap": "mounts + guest"}.get(kind, "run")
            assert tool[guest] > fib[guest], (fib, tool)
        cold = median_cold_ms(box, "tool-py", calls=3)
        assert cold / FACTOR < sum(tool.values()) < cold * FACTOR, (tool, cold)


def test_every_kind_splits_fib_and_one_that_cannot_split_a_workload_says_so():
    from labkit.sandboxes import KINDS
    from labkit.sandboxes.base import kinds_with_phases
    assert sorted(kinds_with_phases()) == sorted(KINDS) == sorted(FIB_PHASES)
    needs("microvm")
    with open_sandbox("microvm") as box, pytest.raises(NotSupported, match="tool-js"):
        box.phases("tool-js")


def test_a_workload_a_kind_cannot_split_is_not_supported():
    with open_sandbox("wasm") as box, pytest.raises(NotSupported, match="tool-py"):
        box.phases("tool-py")


def test_bench_records_the_median_of_each_interval_in_order():
    (row,) = bench.run_bench(["process"], calls=5, warmup=1, live=2, show_progress=False)
    phases = row.extras["phases_ms"]
    assert list(phases) == FIB_PHASES["process"]
    assert all(ms >= 0 for ms in phases.values())
    assert row.start_ms_p50 / FACTOR < sum(phases.values()) < row.start_ms_p50 * FACTOR


def test_bench_leaves_phases_out_where_a_kind_cannot_split():
    (row,) = bench.run_bench(["wasm"], calls=3, warmup=0, live=2, show_progress=False,
                             workload="tool-py")
    assert row.available and "phases_ms" not in row.extras


# --- the figure: stacked intervals per kind, published figures placed on them ---------------
from labkit.lab import time_split  # noqa: E402
from labkit.results import KindResult  # noqa: E402

SPLITS = {
    "runc": {"create": 20.0, "start": 5.0, "run": 2.0, "delete": 6.0, "other": 1.0},
    "wasm": {"store": 0.004, "instantiate": 0.003, "call": 0.005, "drop": 0.001, "other": 0.002},
    "v8": {"http": 0.5, "load": 3.0, "call": 0.4},
}


def rows_with(splits):
    return [KindResult(kind, True, extras={"phases_ms": phases}) for kind, phases in
            splits.items()] + [KindResult("bwrap", True, extras={}),
                               KindResult("gvisor", False, reason="not here")]


def test_the_figure_has_one_bar_per_kind_that_splits_and_an_interval_per_trace():
    fig = time_split.time_split_figure(rows_with(SPLITS))
    bars = [t for t in fig.data if t.type == "bar"]
    assert len(bars) == sum(len(p) for p in SPLITS.values())
    assert [b.text[0] for b in bars[:5]] == list(SPLITS["runc"])
    assert bars[4].marker.color == time_split.style.PALETTE["grey"]  # "other"
    assert len({b.marker.color for b in bars[:4]}) == 4
    titles = [a.text for a in fig.layout.annotations]
    assert titles[:3] == ["runc: 34 ms", "wasm: 15.0 µs", "v8: 3.9 ms"]


def test_each_published_figure_is_placed_over_the_intervals_it_covers():
    fig = time_split.time_split_figure(rows_with(SPLITS))
    lines = {t.text[0]: list(t.x) for t in fig.data if t.type == "scatter"}
    assert lines["V8 isolate, Cloudflare 2018: 5 ms"] == [0.5, 3.5]  # load, after the hop
    assert lines["runc, 100 x /bin/true: 33.4 ms"] == [0.0, 33.0]  # all but "other"
    assert time_split.covered_span(SPLITS["wasm"], ["instantiate"]) == \
        pytest.approx((0.004, 0.007))


def test_every_placement_names_a_published_figure_and_intervals_the_kind_has():
    for place in time_split.PLACEMENTS:
        assert place.figure.measure == "start_ms"
        assert set(place.covers) <= set(FIB_PHASES[place.kind])
    notes = time_split.placement_notes(["v8"])
    assert notes == ["V8 isolate, Cloudflare 2018: 5 ms covers v8's load (an isolate started "
                     "inside a running workerd: no HTTP hop, no call)"]


def test_the_figure_refuses_rows_without_phases_and_names_unknown_intervals():
    with pytest.raises(ValueError, match="no row has phases_ms"):
        time_split.time_split_figure(rows_with({}))
    with pytest.raises(ValueError, match="no interval named boot; this kind has: http"):
        time_split.covered_span(SPLITS["v8"], ["boot"])


def test_phases_outside_the_with_block_is_not_open_and_a_bad_workload_is_named():
    from labkit.errors import NotOpen
    from labkit.sandboxes import sandbox_class
    box = sandbox_class("process")()
    with pytest.raises(NotOpen):
        box.phases()
    with open_sandbox("process") as box, pytest.raises(ValueError, match="valid ones are"):
        box.phases("tool-rb")


def test_wasm_splits_the_same_steps_on_its_public_path():
    from labkit.sandboxes.wasm import WasmSandbox
    with WasmSandbox(fast_path=False) as box:
        assert box.calls_via == "public API"
        split = box.phases()
        assert list(split) == FIB_PHASES["wasm"] and all(ms >= 0 for ms in split.values())


def test_spans_that_cover_the_call_exactly_leave_no_negative_other():
    """Counted in whole nanoseconds: float sums once left "other" at -3.6e-15 ms."""
    from labkit.sandboxes.base import phase_split
    spans = [("spawn", 1_000, 29_323_940), ("run", 29_323_940, 30_534_635),
             ("collect", 30_534_635, 30_957_025)]
    split = phase_split(spans, 1_000, 30_957_025)
    assert split["other"] == 0 and all(ms >= 0 for ms in split.values())
    assert phase_split(spans, 0, 31_000_000)["other"] == 0.043975  # 1,000 + 42,975 ns


def test_a_tool_calls_split_is_a_bar_of_its_own_without_a_published_line():
    """A kind's tool-call split never replaces its fib split, and the published figures
    (all of a smallest program) are drawn over the fib bar only."""
    tool = {"create": 20.0, "start": 5.0, "run": 25.0, "delete": 6.0, "other": 1.0}
    rows = rows_with(SPLITS) + [KindResult("runc", True, workload="tool-py",
                                           extras={"phases_ms": tool})]
    found = time_split.phase_rows(rows)
    assert found["runc"] == SPLITS["runc"] and found["runc tool-py"] == tool
    lines = [t for t in time_split.time_split_figure(rows).data if t.type == "scatter"]
    alone = [t for t in time_split.time_split_figure(rows_with(SPLITS)).data
             if t.type == "scatter"]
    assert len(lines) == len(alone)


def test_the_figure_keeps_its_labels_apart():
    """One axis title, under the last bar (per-bar titles ran into the next bar's heading),
    and each published figure of one kind on a line of its own (wasm has three)."""
    fig = time_split.time_split_figure(rows_with(SPLITS))
    axes = fig.layout.to_plotly_json()
    titled = [ax["title"]["text"] for name, ax in axes.items()
              if name.startswith("xaxis") and ax.get("title", {}).get("text")]
    assert titled == ["ms (each bar on its own scale)"]
    assert axes[f"xaxis{len(SPLITS)}"]["title"]["text"] == titled[0]  # the last bar's
    wasm_lines = [t for t in fig.data if t.type == "scatter" and t.text[0].startswith(
        ("wasmtime", "Lucet"))]
    assert len(wasm_lines) == 3 and len({t.y[0] for t in wasm_lines}) == 3
