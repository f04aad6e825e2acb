"""Warm paths beside cold: every kind that has one answers fib and the tool calls it hosts
right on it (the same tool source, unchanged), keeps the same caps, leaves nothing behind;
rows say their path and keep it through a save and a load; a kind without one says why.

Runs for real where each runtime is here (skips with the doctor's reason elsewhere); no
timing assertion beyond a generous sanity bound.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import psutil
import pytest
from conftest import eventually, process_gone

from labkit import bench, results
from labkit.__main__ import main
from labkit.errors import GuestError, LimitExceeded
from labkit.lab import warm_paths
from labkit.sandboxes import KINDS, Limits, _owned, availability, open_sandbox, sandbox_class
from labkit.sandboxes._warm import NO_WARM_PATH, no_warm_reason, warm_workload_call
from labkit.workload import (
    STANDARD_N,
    WORKLOAD_LANGUAGES,
    expected,
    expected_tool_output,
    tool_input,
    tool_source,
)

pytestmark = pytest.mark.usefixtures("nothing_left_behind")

WARM_KINDS = [kind for kind in KINDS if sandbox_class(kind).capabilities.warm_calls]
FOUND = {kind: availability(kind, trial=False) for kind in WARM_KINDS}
# Generous: a warm call on a busy 2-core VM, far above any honest figure.
SANITY_MS = 10_000


def needs(kind):
    found = FOUND[kind]
    return pytest.mark.skipif(not found.available, reason=f"{kind}: {found.reason}")


warm_kinds = pytest.mark.parametrize("kind", [pytest.param(k, marks=needs(k))
                                              for k in WARM_KINDS])


def workloads_of(kind: str) -> list[str]:
    hosts = sandbox_class(kind).capabilities.tools
    return ["fib", *(w for w, language in WORKLOAD_LANGUAGES.items() if language in hosts)]


def test_the_kinds_with_a_warm_path_are_the_ones_built():
    assert {"wasm", "v8", "process", "runc", "crun", "podman", "docker"} <= set(WARM_KINDS)
    for kind in WARM_KINDS:
        how = sandbox_class(kind).warm_how
        assert isinstance(how, str) and 20 < len(how) < 200, kind


@warm_kinds
def test_the_warm_path_answers_every_workload_the_kind_hosts(kind):
    with open_sandbox(kind) as box:
        for workload in workloads_of(kind):
            call = warm_workload_call(box, workload)
            for _ in range(2):  # the second call reuses what the first made ready
                answer = call()
                if workload == "fib":
                    assert answer == expected(STANDARD_N)
                else:
                    assert answer == expected_tool_output(tool_input(0)), workload
        if box.capabilities.tools:  # another input: the answer follows it, not a cache
            language = box.capabilities.tools[0]
            given = tool_input(7)
            answer = box.warm_tool(language, tool_source(language), given)
            assert json.loads(answer) == expected_tool_output(given)


@warm_kinds
def test_a_failing_tool_on_the_warm_path_is_a_guest_error_and_the_next_call_works(kind):
    tools = sandbox_class(kind).capabilities.tools
    if not tools:
        pytest.skip(f"{kind} hosts no tools")
    failing = {"javascript": "function tool(input) { throw new Error('the tool gave up'); }",
               "python": "def tool(input):\n    raise ValueError('the tool gave up')\n"}
    with open_sandbox(kind) as box:
        for language in tools:
            with pytest.raises(GuestError, match="the tool gave up"):
                box.warm_tool(language, failing[language], tool_input(0))
        assert warm_workload_call(box, "fib")() == expected(STANDARD_N)


SPINNING = {"javascript": "function tool(input) { for (;;) {} }",
            "python": "def tool(input):\n    while True:\n        pass\n"}


@pytest.mark.parametrize("kind", [pytest.param(k, marks=needs(k))
                                  for k in ("process", "runc", "crun")])
def test_the_warm_path_keeps_the_cpu_cap_per_call(kind):
    """A spinning tool is stopped by the same CPU cap as cold; the warm path recovers."""
    with open_sandbox(kind, Limits(cpu_seconds=1)) as box:
        with pytest.raises(LimitExceeded) as caught:
            box.warm_tool("python", SPINNING["python"], tool_input(0))
        assert caught.value.limit in ("CPU time", "time"), caught.value
        answer = warm_workload_call(box, "tool-py")()
        assert answer == expected_tool_output(tool_input(0))


@pytest.mark.parametrize("kind", [pytest.param("process", marks=needs("process"))])
def test_the_warm_interpreter_keeps_the_memory_cap(kind):
    hog = "def tool(input):\n    return len(bytearray(400 * 2**20))\n"
    with open_sandbox(kind, Limits(memory_mb=64)) as box:
        with pytest.raises(LimitExceeded) as caught:
            box.warm_tool("python", hog, tool_input(0))
        assert caught.value.limit == "memory"
        assert warm_workload_call(box, "tool-py")() == expected_tool_output(tool_input(0))


@pytest.mark.parametrize("kind", [pytest.param("process", marks=needs("process"))])
def test_each_warm_tool_call_gets_a_fresh_namespace(kind):
    """The interpreter is reused, the tool's globals are not (both languages)."""
    counting = {"python": "calls = 0\ndef tool(input):\n    global calls\n    calls += 1\n"
                          "    return calls\n",
                "javascript": "var calls = 0;\nfunction tool(input) { calls += 1; return calls; }"}
    with open_sandbox(kind) as box:
        for language, source in counting.items():
            assert [box.warm_tool(language, source, "{}") for _ in range(3)] == ["1"] * 3
            pid = box._warm[language].pid
            box.warm_tool(language, source, "{}")
            assert box._warm[language].pid == pid, "the same interpreter answers"


@pytest.mark.parametrize("kind", [pytest.param("v8", marks=needs("v8"))])
def test_v8s_warm_isolate_keeps_module_state_which_is_what_warm_means(kind):
    source = "var calls = 0;\nfunction tool(input) { calls += 1; return calls; }"
    with open_sandbox(kind) as box:
        assert [box.warm_tool("javascript", source, "{}") for _ in range(3)] == ["1", "2", "3"]
        assert box.run_tool("javascript", source, "{}") == "1"  # cold: a new isolate


@pytest.mark.parametrize("kind", [pytest.param("wasm", marks=needs("wasm"))])
def test_wasms_warm_path_really_is_a_pool_reserved_up_front(kind):
    """The pooling allocator reserves its slots when its engine is made: the address space
    jumps by about SLOTS x the memory cap, which on-demand allocation never does."""
    from labkit.sandboxes.wasm import _pooled
    with open_sandbox(kind) as box:
        box.cold_call()
        before = psutil.Process().memory_info().vms
        assert box.warm_call() == expected(STANDARD_N)
        grew = psutil.Process().memory_info().vms - before
        assert grew >= 0.9 * _pooled.SLOTS * box.limits.memory_mb * 2**20, grew
        assert box._pooled.calls_via == box.calls_via  # the same call path as cold
    assert box._pooled is None


@warm_kinds
def test_warm_resources_end_after_an_exception(kind):
    with pytest.raises(RuntimeError, match="mid-block"), open_sandbox(kind) as box:
        assert warm_workload_call(box, "fib")() == expected(STANDARD_N)
        pids = [server.pid for server in getattr(box, "_warm", {}).values()
                if hasattr(server, "pid")]
        raise RuntimeError("mid-block")
    assert all(process_gone(pid) for pid in pids)
    # (containers, cgroups, folders: the leak check around this test)


def test_a_kind_without_a_warm_path_says_why():
    without = [kind for kind in KINDS if not sandbox_class(kind).capabilities.warm_calls]
    assert without, "every kind has a warm path now: update this test"
    for kind in without:
        reason = no_warm_reason(kind)
        assert reason == "no warm path (capabilities.warm_calls is False): " + \
            NO_WARM_PATH[kind], f"{kind} needs its own reason in _warm.NO_WARM_PATH"
        row = bench.bench_kind(kind, calls=2, warmup=0, live=1, show_progress=False,
                               path="warm")
        assert not row.available and row.path == "warm" and row["path"] == "warm"
        found = availability(kind, trial=False)
        assert row.reason == (reason if found.available else found.reason)


def test_a_kernel_killed_with_warm_paths_leaves_nothing_after_the_next_start():
    """kill -9 a Python process with warm interpreters and warm containers running, as a
    crashed Jupyter kernel would be: its interpreters die with it (parent-death signal), its
    containers go at the next open of the kind (the leftover sweep)."""
    if not FOUND["process"].available:
        pytest.skip(f"process: {FOUND['process'].reason}")
    kinds = [kind for kind in ("process", "runc", "crun") if FOUND[kind].available]
    code = ("import sys; from labkit.sandboxes import open_sandbox\n"
            "from labkit.sandboxes._warm import warm_workload_call\n"
            f"boxes = [open_sandbox(k).__enter__() for k in {kinds!r}]\n"
            "[warm_workload_call(b, w)() for b in boxes for w in ('fib', 'tool-py')]\n"
            "print(' '.join(str(s.pid) for s in boxes[0]._warm.values()), flush=True)\n"
            "sys.stdin.read()")
    kernel = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in kernel.stdout.readline().split()]
    finally:
        kernel.kill()
        kernel.wait()
        kernel.stdin.close()
        kernel.stdout.close()
    assert len(pids) == 2, "a warm shell and a warm python3"
    assert eventually(lambda: all(process_gone(p) for p in pids))
    dead = f"{_owned.PREFIX}{kernel.pid}-"
    for kind in kinds[1:]:
        with open_sandbox(kind) as box:
            assert not [name for name in box.list_containers() if name.startswith(dead)]


@pytest.mark.parametrize("kind", [pytest.param("process", marks=needs("process"))])
def test_bench_rows_say_their_path_and_keep_it_through_save_and_load(kind, tmp_path):
    run = bench.run_bench([kind, "bwrap"], calls=3, warmup=0, live=2, show_progress=False,
                          path="cold,warm")
    assert [(r.kind, r.path) for r in run] == [(kind, "cold"), (kind, "warm"),
                                                ("bwrap", "cold"), ("bwrap", "warm")]
    cold, warm = run[0], run[1]
    assert cold.available and warm.available
    assert warm["path"] == "warm" and cold["path"] == "cold"
    assert warm.extras["warm_how"] == sandbox_class(kind).warm_how
    assert "warm_how" not in cold.extras
    assert 0 < warm.start_ms_p50 < SANITY_MS and len(warm.samples_ms) == 3
    assert warm.mem_mb_per_instance == cold.mem_mb_per_instance  # borrowed, and said so
    assert "cold row" in warm.extras["mem_of"]
    assert not run[3].available and run[3].path == "warm"
    loaded = results.load_run(results.save_run(run, tmp_path))
    assert [(r.kind, r.path, r.available) for r in loaded] == \
        [(r.kind, r.path, r.available) for r in run]
    assert loaded[1].extras["warm_how"] == warm.extras["warm_how"]


def test_old_rows_without_a_path_load_as_cold():
    row = {"kind": "process", "available": True, "n": 1, "start_ms_p50": 1.0,
           "start_ms_p99": 2.0, "per_second": 1000.0, "mem_mb_per_instance": 0.5}
    assert results.KindResult.from_row(row).path == "cold"
    assert results.KindResult.from_row({**row, "path": "warm"}).path == "warm"
    assert "path" not in results.KindResult.from_row({**row, "path": "warm"}).extras


def test_ratios_compare_rows_on_the_same_path():
    rows = [results.KindResult(kind, True, calls=1, start_ms_p50=p50, start_ms_p99=p50,
                               per_second=1e3 / p50, mem_mb_per_instance=1.0, path=path)
            for kind, path, p50 in (("wasm", "cold", 0.01), ("wasm", "warm", 0.005),
                                    ("process", "cold", 1.0), ("process", "warm", 0.1))]
    rated = bench._ratios_by_path(rows, "wasm")
    assert [r.path for r in rated] == ["cold", "warm", "cold", "warm"]
    assert rated[2].ratios["start_ms_p50"] == pytest.approx(100)
    assert rated[3].ratios["start_ms_p50"] == pytest.approx(20)


@pytest.mark.parametrize("bad", ["hot", "", "cold,tepid"])
def test_a_bad_path_is_named_with_the_valid_ones(bad, capsys):
    with pytest.raises(ValueError, match="valid ones are: cold, precreated, warm"):
        bench.check_paths(bad)
    with pytest.raises(SystemExit):
        main(["bench", "--path", bad])
    assert "valid ones are: cold, precreated, warm" in capsys.readouterr().err


def test_check_paths_reads_a_comma_list():
    assert bench.check_paths("cold,warm") == ["cold", "warm"]
    assert bench.check_paths(" WARM ") == ["warm"]
    # in PATHS order: the cold row, whose memory the others borrow, comes first
    assert bench.check_paths(["warm", "cold", "warm"]) == ["cold", "warm"]
    assert bench.check_paths("warm,precreated,cold") == ["cold", "precreated", "warm"]


def test_the_cold_vs_warm_figure_draws_both_paths_on_a_log_axis():
    rows = [{"kind": "wasm", "path": "cold", "start_ms_p50": 0.01},
            {"kind": "wasm", "path": "warm", "start_ms_p50": 0.008, "warm_how": "pool"},
            {"kind": "bwrap", "path": "cold", "start_ms_p50": 20.0},
            {"kind": "bwrap", "path": "warm", "available": False, "reason": "none here"},
            {"kind": "v8", "path": "cold", "start_ms_p50": 5.0, "workload": "tool-js"}]
    table = warm_paths.cold_warm_table(rows)
    assert [(t["kind"], t["warm_ms"]) for t in table] == [("wasm", 0.008), ("bwrap", None)]
    assert table[0]["speedup"] == pytest.approx(1.25) and table[1]["no_warm"] == "none here"
    fig = warm_paths.cold_vs_warm(rows)
    assert [trace.name for trace in fig.data] == ["cold", "warm"]
    assert fig.layout.yaxis.type == "log"
    assert list(fig.data[1].y) == [0.008, None]
    with pytest.raises(ValueError, match="no measured cold rows for the tool-py"):
        warm_paths.cold_vs_warm(rows, "tool-py")


def test_a_run_of_both_paths_is_read_by_kind_one_path_at_a_time():
    """Readers that look a kind up (notebooks, the claims) get its cold row unless they ask
    for the warm one; a recording stands in for the same kind on the same path."""
    def row(kind, path, available=True):
        if not available:
            return results.unavailable(kind, "not here", path=path)
        return results.KindResult(kind, True, calls=1, start_ms_p50=2.0 if path == "cold"
                                  else 1.0, start_ms_p99=2.0, per_second=500.0,
                                  mem_mb_per_instance=1.0, path=path)

    run = results.BenchRun((row("runc", "cold"), row("runc", "warm")))
    assert run.by_kind()["runc"].path == "cold"
    assert run.by_kind(path="warm")["runc"].start_ms_p50 == 1.0
    live = [row("runc", "cold", False), row("runc", "warm", False)]
    filled = results.fill_from_recorded(live, run)
    assert [(r.path, r.start_ms_p50) for r in filled] == [("cold", 2.0), ("warm", 1.0)]


@pytest.mark.parametrize("kind", [pytest.param(k, marks=needs(k))
                                  for k in ("process", "runc", "crun")])
def test_an_interrupt_mid_warm_call_ends_what_it_ran_in(kind):
    """Ctrl-C during a warm tool call: the interpreter (or container) it ran in is ended at
    once, since the guest may still be running; the next call starts a fresh one."""
    sleeper = "import time\ndef tool(input):\n    time.sleep(5)\n    return 1\n"

    def interrupt(*_):
        raise KeyboardInterrupt

    with open_sandbox(kind) as box:
        warm_workload_call(box, "tool-py")()  # the warm interpreter or container is up
        before = dict(box._warm)
        pid = before["python"].pid if kind == "process" else None
        previous = signal.signal(signal.SIGALRM, interrupt)
        signal.setitimer(signal.ITIMER_REAL, 0.5)
        try:
            with pytest.raises(KeyboardInterrupt):
                box.warm_tool("python", sleeper, "{}")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        if kind == "process":
            assert eventually(lambda: process_gone(pid)) and not before["python"].running()
        else:
            assert "tools" not in box._warm
            assert before["tools"][0] not in box.list_containers()
        assert warm_workload_call(box, "tool-py")() == expected_tool_output(tool_input(0))
