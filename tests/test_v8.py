"""V8 isolates on labkit's own workerd: real isolates, real limits, nothing left running."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
from conftest import eventually, process_gone
from contract import SandboxContract

from labkit import runtimes
from labkit.errors import GuestError, LimitExceeded, Unavailable
from labkit.sandboxes import availability
from labkit.sandboxes.base import Limits
from labkit.sandboxes.v8 import MAX_SOURCE_BYTES, V8Sandbox
from labkit.workload import expected

found = V8Sandbox.check()
needs_workerd = pytest.mark.skipif(not found.available, reason=found.reason or "no workerd")
pytestmark = pytest.mark.usefixtures("nothing_left_behind")

COUNTER = "let calls = 0;\nexport function count() { calls += 1; return calls; }\n"
SPIN = "export function spin() { while (true) {} }"
HEAP_BOMB = ("export function grow() { const a = [];\n"
             "  for (let i = 0; i < 1e6; i++) a.push(new Array(1e5).fill(i));\n"
             "  return a.length; }")


class TestV8(SandboxContract):
    kind = "v8"
    memory_range = (0.2e6, 20e6)  # a few hundred KB to a few MB per isolate
    memory_count = 20
    density_counts = (5, 10)
    hog_limits = Limits(memory_mb=32, cpu_seconds=20)
    export_call = ("export function add(a, b) { return a + b; }", "add", (2, 40), 42)

    def spin(self, limits):
        with V8Sandbox(limits) as box:
            box.run_js(SPIN, "spin")

    def hog(self, limits):
        with V8Sandbox(limits) as box:
            box.run_js(HEAP_BOMB, "grow")


def gone(pid: int, within: float = 10.0) -> bool:
    """True once no process with that pid is running (zombies count as gone)."""
    return eventually(lambda: process_gone(pid), within=within)


@pytest.fixture(scope="module")
def box():
    with V8Sandbox() as sandbox:
        yield sandbox


# --- the workload in fresh isolates ----------------------------------------------------
@needs_workerd
def test_each_cold_call_gets_a_new_isolate_and_warm_calls_reuse_one(box):
    assert [box.run_js(COUNTER, "count") for _ in range(3)] == [1, 1, 1]
    assert [box.run_js(COUNTER, "count", reuse="counter") for _ in range(3)] == [1, 2, 3]
    assert box.warm_call(30) == expected(30)
    extras = box.extra_figures(5)
    assert 0 < extras["warm_ms_p50"] <= extras["warm_ms_p99"]


@needs_workerd
def test_readers_own_javascript_runs_with_arguments(box):
    source = "export function add(a, b) { return a + b; }"
    assert box.run_js(source, "add", [2, 40]) == 42
    assert box.call_export(source, "add", 1, 2) == 3
    assert box.run_js("export function nothing() {}", "nothing") is None
    assert box.run_js("export const pair = (a) => ({a, b: [a]});", "pair", ["x"]) == \
        {"a": "x", "b": ["x"]}


# --- what guests cannot do --------------------------------------------------------------
class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 (the name http.server calls)
        self.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"reached")

    def log_message(self, *args):
        pass


@needs_workerd
def test_guest_cannot_reach_the_network(box):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        source = (f"export async function peek() {{\n"
                  f"  return (await fetch('http://127.0.0.1:{port}/secret')).text();\n}}")
        with pytest.raises(GuestError, match="not permitted to access the internet"):
            box.run_js(source, "peek")
    finally:
        server.shutdown()
        server.server_close()
    assert _Recorder.hits == []


@needs_workerd
def test_runaway_loop_is_stopped_and_workerd_comes_back():
    with V8Sandbox(Limits(cpu_seconds=0.5)) as box:
        stuck_pid = box.server.pid
        start = time.monotonic()
        with pytest.raises(LimitExceeded, match="time limit"):
            box.run_js(SPIN, "spin")
        assert time.monotonic() - start < 60  # cap 0.5 s; generous for a busy machine
        assert gone(stuck_pid)
        assert box.server.pid != stuck_pid
        assert box.run_standard() == expected()


@needs_workerd
def test_syntax_error_names_the_module_and_the_problem(box):
    loading = r"guest\.js did not load in a new isolate: Uncaught SyntaxError: .* at guest\.js:1:"
    with pytest.raises(GuestError, match=loading):
        box.run_js("export function fib(n) { return n +; }")
    with pytest.raises(GuestError, match="exports no function named \"nope\""):
        box.run_js(COUNTER, "nope")
    with pytest.raises(GuestError, match="RangeError: too big"):
        box.run_js("export function f() { throw new RangeError('too big'); }", "f")


@needs_workerd
def test_bad_input_is_refused_with_a_clear_error(box):
    with pytest.raises(TypeError, match="source must be a string"):
        box.run_js(42)
    with pytest.raises(ValueError, match="bytes"):
        box.run_js("//" + "x" * MAX_SOURCE_BYTES)
    with pytest.raises(TypeError, match="args must be JSON values"):
        box.run_js(COUNTER, "count", [object()])
    with pytest.raises(ValueError, match="JavaScript name"):
        box.run_js(COUNTER, "count; process.exit()")


# --- density ----------------------------------------------------------------------------
@needs_workerd
def test_holding_restarts_workerd_and_a_density_point_starts_from_a_fresh_one(box):
    with box.hold(3):
        held_pid = box.server.pid
    assert gone(held_pid) and box.server.pid != held_pid  # released by a restart
    fresh_pid = box.server.pid
    box.fresh_runtime()  # already fresh: no second restart
    assert box.server.pid == fresh_pid
    box.run_standard()
    box.fresh_runtime()  # it served a call: restarted
    assert gone(fresh_pid) and box.run_standard() == expected()


# --- nothing left running ---------------------------------------------------------------
@needs_workerd
def test_workerd_is_gone_after_a_keyboard_interrupt_mid_call():
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        with V8Sandbox(Limits(cpu_seconds=30)) as box:
            # Interrupted and carried on: the next call does not wait for the stuck loop.
            signal.setitimer(signal.ITIMER_REAL, 0.3)
            with pytest.raises(KeyboardInterrupt):
                box.run_js(SPIN, "spin")
            start = time.monotonic()
            assert box.run_standard() == expected()
            assert time.monotonic() - start < 10
        with pytest.raises(KeyboardInterrupt):
            with V8Sandbox(Limits(cpu_seconds=30)) as box:
                pid = box.server.pid
                signal.setitimer(signal.ITIMER_REAL, 0.3)
                box.run_js(SPIN, "spin")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert gone(pid)


@needs_workerd
def test_two_labs_at_once_use_different_ports():
    with V8Sandbox() as first, V8Sandbox() as second:
        assert first.server.port != second.server.port
        assert first.run_standard() == second.run_standard() == expected()


def _python(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)],
                            stdout=subprocess.PIPE, text=True)


@needs_workerd
def test_workerd_of_a_killed_kernel_is_stopped_at_the_next_start():
    # No parent-death signal here, as if the kernel had started it from another thread.
    kernel = _python(f"""
        import time
        from labkit.sandboxes.v8.workerd import WorkerdServer
        server = WorkerdServer({runtimes.find_workerd()!r}, die_with_parent=False).start()
        print(server.pid, flush=True)
        time.sleep(60)
    """)
    leftover = int(kernel.stdout.readline())
    kernel.kill()
    kernel.wait()
    kernel.stdout.close()
    assert not gone(leftover, within=0.3)  # it outlived its kernel...
    with V8Sandbox() as box:  # ...until the next lab starts
        assert box.run_standard() == expected()
        assert gone(leftover)


@needs_workerd
def test_workerd_dies_with_a_killed_kernel_and_at_interpreter_exit():
    kernel = _python("""
        import time
        from labkit.sandboxes.v8 import V8Sandbox
        box = V8Sandbox().__enter__()
        print(box.server.pid, flush=True)
        time.sleep(60)
    """)
    pid = int(kernel.stdout.readline())
    kernel.kill()
    kernel.wait()
    kernel.stdout.close()
    assert gone(pid)  # the parent-death signal

    script = _python(f"""
        import gc
        from labkit.sandboxes.v8.workerd import WorkerdServer
        # Started, then dropped without stop(): atexit must still find it.
        pid = WorkerdServer({runtimes.find_workerd()!r}, die_with_parent=False).start().pid
        gc.collect()
        print(pid, flush=True)
    """)
    pid = int(script.stdout.readline())
    assert script.wait(10) == 0
    script.stdout.close()
    assert gone(pid)  # atexit


# --- without workerd --------------------------------------------------------------------
def test_missing_workerd_is_reported_with_a_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(runtimes.paths, "WORKERD_LOCAL", tmp_path / "no-workerd")
    monkeypatch.setenv("PATH", str(tmp_path))
    result = V8Sandbox.check()
    assert not result.available
    assert "workerd" in result.reason and "nodejs npm" in result.fix
    assert availability("v8").available is False
    with pytest.raises(Unavailable, match="workerd"):
        with V8Sandbox():
            pass


def test_doctor_without_node_or_workerd_says_how_to_get_them(tmp_path):
    env = {**os.environ, "LABKIT_RUNTIMES": str(tmp_path), "PATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "labkit", "doctor", "--json", "--kinds", "v8"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(done.stdout)
    assert row["kind"] == "v8" and row["available"] is False
    assert "npm" in row["fix"] and "labkit setup v8" in row["fix"]


# --- what notebook 03 uses --------------------------------------------------------------
@needs_workerd
def test_notebook_figures_measured_live(box):
    from labkit.lab import isolates

    figures = isolates.measure_v8(box, calls=5, counts=(0, 10, 20))
    assert not figures.recorded and figures.cold_ms.size == figures.warm_ms.size == 5
    assert list(figures.held) == [0, 10, 20] and figures.workerd_mb.size == 3
    assert 0.1 < figures.mb_per_isolate < 20
    shared, per_isolate = isolates.shared_and_per_isolate(figures.held, figures.workerd_mb)
    assert 20 < shared < 500 and abs(per_isolate - figures.mb_per_isolate) < 1e-9
    assert len(isolates.workerd_memory(figures.held, figures.workerd_mb).data) == 2
    rows = figures.density_rows()
    assert [row["n"] for row in rows] == [10, 20]
    assert all(row["kb_per_instance"] > 0 for row in rows)
    assert figures.per_second > 0 and figures.cold_p50 <= figures.cold_p99
    assert figures.isolate_ms == figures.cold_p50 - figures.warm_p50


def test_recorded_figures_come_from_the_newest_run_that_measured_v8(tmp_path):
    from labkit.lab import isolates

    def run(name, results):
        (tmp_path / name).write_text(json.dumps({"format": 1, "results": results}))

    v8 = {"kind": "v8", "available": True, "samples_ms": [4.0, 5.0, 6.0],
          "start_ms_p50": 5.0, "start_ms_p99": 6.0, "per_second": 200.0,
          "mem_mb_per_instance": 1.6, "machine": {"cpu": "Test CPU", "cores": 2}}
    run("bench-20260101-000000.json", [v8])
    run("bench-20260102-000000.json", [{"kind": "v8", "available": False, "reason": "x"}])
    figures = isolates.recorded_v8(folder=tmp_path)
    assert figures.recorded and figures.cold_p50 == 5.0 and figures.mb_per_isolate == 1.6
    assert "RECORDED on Test CPU" in figures.source and "20260101" in figures.source
    assert figures.density_rows()[0]["kb_per_instance"] == 1600
    assert np.isnan(figures.isolate_ms)  # no warm figure in that run
    assert isolates.recorded_v8(folder=tmp_path / "empty") is None


def test_a_workerd_that_will_not_start_is_reported_and_cleaned_up(tmp_path, monkeypatch):
    broken = tmp_path / "workerd"
    broken.write_text("#!/bin/sh\necho 'this is not workerd' >&2\nexit 3\n")
    broken.chmod(0o755)
    monkeypatch.setattr(runtimes, "find_workerd", lambda: str(broken))
    with pytest.raises(Unavailable, match="(?s)would not start.*exited with 3.*not workerd"):
        with V8Sandbox():
            pass
    broken.chmod(0o644)  # not executable: Popen itself fails
    with pytest.raises(Unavailable, match="would not start"):
        with V8Sandbox():
            pass
    from labkit.sandboxes.v8.workerd import _running
    assert not any(server.binary == str(broken) for server in _running)


# --- run_tool: an agent's tool call in a fresh isolate -------------------------------------
@needs_workerd
def test_run_tool_runs_an_agents_script_in_a_fresh_isolate_each_time(box):
    assert "javascript" in box.capabilities.tools
    summing = "function tool(input) { return {sum: input.xs.reduce((a, b) => a + b, 0)}; }"
    assert json.loads(box.run_tool("javascript", summing, '{"xs": [1, 2, 39]}')) == {"sum": 42}
    counter = "let calls = 0;\nasync function tool(input) { calls += 1; return calls; }"
    assert [box.run_tool("javascript", counter, "null") for _ in range(3)] == ["1", "1", "1"]
    assert box.run_tool("javascript", "function tool(input) {}", "{}") == "null"


@needs_workerd
def test_run_tool_reports_the_guests_own_error_and_bad_programs(box):
    with pytest.raises(GuestError, match="no such record: 7"):
        box.run_tool("javascript", "function tool(i) { throw new Error('no such record: 7'); }",
                     "{}")
    with pytest.raises(GuestError, match=r"declares no function tool\(input\)"):
        box.run_tool("javascript", "function helper() { return 1; }", "{}")
    with pytest.raises(GuestError, match="require is not defined"):
        box.run_tool("javascript", "function tool(i) { return require('fs').readFileSync("
                                   "'/etc/passwd', 'utf8'); }", "{}")
    with pytest.raises(ValueError, match="not valid JSON"):
        box.run_tool("javascript", "function tool(i) { return i; }", "{oops")
    from labkit.errors import NotSupported
    with pytest.raises(NotSupported, match="python"):
        box.run_tool("python", "def tool(i):\n    return i\n", "{}")


@needs_workerd
def test_run_tool_keeps_the_time_and_memory_caps():
    with V8Sandbox(Limits(cpu_seconds=1)) as box:
        with pytest.raises(LimitExceeded, match="time"):
            box.run_tool("javascript", "function tool(i) { while (true) {} }", "{}")
        with pytest.raises(LimitExceeded, match="memory"):
            box.run_tool("javascript", "function tool(i) { const a = [];\n"
                         "  while (true) a.push(new Array(1e6).fill(1)); }", "{}")
        # and the sandbox goes on with the next call
        assert box.run_tool("javascript", "function tool(i) { return i * 2; }", "21") == "42"
