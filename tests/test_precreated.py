"""The pre-created path: a fresh container per call, made ahead (`create`) off the clock and
only started on the call (`start`). Every container kind has it and answers each workload
it hosts right on it; the exit status comes back through the shim that waits for the
init; nothing made ahead outlives the sandbox, started or not; bench rows say their path;
kinds without it say why.

Runs for real where each runtime is here (skips with the doctor's reason elsewhere); no
timing assertion beyond generous sanity bounds.
"""

from __future__ import annotations

import time

import psutil
import pytest

from labkit import bench
from labkit.errors import LabkitError, NotSupported
from labkit.lab import warm_paths
from labkit.measure import time_calls
from labkit.sandboxes import KINDS, availability, open_sandbox, sandbox_class
from labkit.sandboxes._warm import no_precreated_reason, precreated_workload_call
from labkit.workload import (
    STANDARD_N,
    WORKLOAD_LANGUAGES,
    expected,
    expected_tool_output,
    tool_input,
)

pytestmark = pytest.mark.usefixtures("nothing_left_behind")

AHEAD_KINDS = [kind for kind in KINDS if sandbox_class(kind).capabilities.precreated]
FOUND = {kind: availability(kind, trial=False) for kind in KINDS}
SANITY_MS = 10_000


def needs(kind):
    found = FOUND[kind]
    return pytest.mark.skipif(not found.available, reason=f"{kind}: {found.reason}")


ahead_kinds = pytest.mark.parametrize("kind", [pytest.param(k, marks=needs(k))
                                               for k in AHEAD_KINDS])
# The kinds whose init (or sandbox) a shim of labkit's waits for (containers/ahead.py).
shim_kinds = pytest.mark.parametrize("kind", [pytest.param(k, marks=needs(k))
                                              for k in ("runc", "crun", "gvisor")])


def workloads_of(kind: str) -> list[str]:
    hosts = sandbox_class(kind).capabilities.tools
    return ["fib", *(w for w, language in WORKLOAD_LANGUAGES.items() if language in hosts)]


def shims() -> list[psutil.Process]:
    """Live pre-created-container shims (python -c with the subreaper prctl)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        line = proc.info["cmdline"] or []
        if len(line) > 4 and "PR_SET_CHILD_SUBREAPER" in " ".join(line[:5]):
            found.append(proc)
    return found


def test_the_kinds_made_ahead_are_the_containers():
    assert set(AHEAD_KINDS) == {"runc", "crun", "podman", "docker", "gvisor"}
    for kind in AHEAD_KINDS:
        how = sandbox_class(kind).precreated_how
        assert "create`" in how and "`start`" in how, kind


@ahead_kinds
def test_a_container_made_ahead_answers_every_workload_it_hosts(kind):
    with open_sandbox(kind) as box:
        for workload in workloads_of(kind):
            prepare, call = precreated_workload_call(box, workload)
            for _ in range(2):  # each call starts a fresh container, made ahead
                prepare()
                answer = call()
                assert answer == (expected(STANDARD_N) if workload == "fib" else
                                  expected_tool_output(tool_input(0))), workload


@ahead_kinds
def test_a_made_container_starts_once_and_a_start_needs_one_made(kind):
    with open_sandbox(kind) as box:
        with pytest.raises(LabkitError, match="call precreate"):
            box.start_precreated()
        box.precreate("fib")
        assert box.start_precreated() == expected(STANDARD_N)
        with pytest.raises(LabkitError, match="call precreate"):
            box.start_precreated()
        with pytest.raises(ValueError, match="valid ones are"):
            box.precreate("tool-rust")


@ahead_kinds
def test_a_container_made_ahead_exists_before_the_start_and_goes_with_the_sandbox(kind):
    """Made, never started: it is there (created, not running) until close() removes it."""
    with open_sandbox(kind) as box:
        before = set(box.list_containers())
        box.precreate("fib")
        made = set(box.list_containers()) - before
        assert len(made) == 1
        box.precreate("fib")  # the next one replaces it
        assert len(set(box.list_containers()) - before) == 1
        assert not made & set(box.list_containers())
    with open_sandbox(kind) as box:
        assert not made & set(box.list_containers())
    assert not shims()


@shim_kinds
def test_the_shim_reports_the_inits_exit_code_and_output(kind):
    """`create` leaves no parent to wait for the init (runc, crun) or the sandbox (runsc):
    the shim does, so a guest's exit code and words reach labkit as a cold call's would."""
    with open_sandbox(kind) as box:
        box._create_ahead(["/bin/sh", "-c", "echo out; echo err >&2; exit 3"], None)
        result = box._start_ahead()
        assert (result.stdout, result.stderr.strip(), result.returncode) == ("out\n", "err", 3)
        assert result.init_pid and result.name
        box._drop_precreated()
        box._create_ahead(["/bin/cat"], '{"given": 1}')  # the tool root, input on stdin
        assert box._start_ahead().stdout == '{"given": 1}'
    assert not shims()


@shim_kinds
def test_a_container_made_ahead_goes_after_an_exception(kind):
    with pytest.raises(RuntimeError, match="mid-block"), open_sandbox(kind) as box:
        box.precreate("tool-py")
        assert len(shims()) == 1
        raise RuntimeError("mid-block")
    assert not shims()
    # (the container, its cgroup and folders: the leak check around this test)


def test_a_kind_without_the_path_says_why():
    without = [kind for kind in ("wasm", "v8", "process", "bwrap") if kind in KINDS]
    for kind in without:
        assert not sandbox_class(kind).capabilities.precreated
        row = bench.bench_kind(kind, calls=2, warmup=0, live=1, show_progress=False,
                               path="precreated")
        assert not row.available and row.path == "precreated"
        found = FOUND[kind]
        assert row.reason == (no_precreated_reason(kind) if found.available else found.reason)
    with open_sandbox("wasm") as box:
        with pytest.raises(NotSupported, match="precreate"):
            box.precreate("fib")


@pytest.mark.parametrize("kind", [pytest.param("runc", marks=needs("runc"))])
def test_bench_rows_on_the_precreated_path_say_what_they_timed(kind):
    run = bench.run_bench([kind], calls=4, warmup=1, live=2, show_progress=False,
                          path="precreated,cold", workload="fib,tool-py")
    assert [(r.workload, r.path) for r in run] == [
        ("fib", "cold"), ("fib", "precreated"), ("tool-py", "cold"), ("tool-py", "precreated")]
    for cold, ahead in (run[0:2], run[2:4]):
        assert cold.available and ahead.available
        assert ahead.extras["warm_how"] == sandbox_class(kind).precreated_how
        assert 0 < ahead.start_ms_p50 < SANITY_MS and len(ahead.samples_ms) == 4
        assert ahead.mem_mb_per_instance == cold.mem_mb_per_instance  # borrowed
        assert "phases_ms" not in ahead.extras


def test_what_is_made_ahead_is_off_the_clock():
    """time_calls runs `prepare` before each call, warm-ups too, and never times it."""
    made = []
    timing = time_calls(lambda: None, 5, warmup=2, prepare=lambda: (made.append(1),
                                                                    time.sleep(0.05)))
    assert len(made) == 7
    assert max(timing.samples_ns) < 40e6  # a no-op call: far below the 50 ms made ahead
    assert timing.wall_ns == sum(timing.samples_ns)


def test_the_figure_puts_the_precreated_bar_between_cold_and_warm():
    rows = [{"kind": "runc", "path": "cold", "start_ms_p50": 30.0},
            {"kind": "runc", "path": "precreated", "start_ms_p50": 8.0, "warm_how": "made"},
            {"kind": "runc", "path": "warm", "start_ms_p50": 6.0, "warm_how": "exec"},
            {"kind": "wasm", "path": "cold", "start_ms_p50": 0.01},
            {"kind": "wasm", "path": "precreated", "available": False, "reason": "no"}]
    table = warm_paths.cold_warm_table(rows)
    assert [(t["kind"], t["precreated_ms"], t["precreated_how"]) for t in table] == \
        [("runc", 8.0, "made"), ("wasm", None, "")]
    fig = warm_paths.cold_vs_warm(rows)
    assert [trace.name for trace in fig.data] == ["cold", "precreated", "warm"]
    assert list(fig.data[1].y) == [8.0, None]
    assert list(fig.data[1].customdata) == ["made", "not measured"]
