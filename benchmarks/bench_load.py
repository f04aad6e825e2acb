"""Two measurements behind labkit.load_bench's reading of where kinds saturate.

1. Does wasmtime let go of Python's GIL? While one long guest call (a busy loop in WAT)
   runs, a second thread runs Python: if wasmtime held the GIL it could not move at all.
   (Timing two long calls at once says less on a busy machine: the cores may be taken.)
   Then short cold calls (fib), one thread against two, each its own WasmSandbox: there the
   Python glue around each call, which holds the GIL, is most of the call.
2. One workerd, C raw HTTP clients at once (each its own connection to the /cold endpoint
   V8Sandbox uses): calls per second, and the CPU workerd itself used. labkit's load run
   gives each client its own workerd, because a V8Sandbox talks over one connection.

3. With --timed-run: the quick load run over every kind (`bench --concurrency 2,4,8`'s
   load part), timed against its bound of about 90 s.

    .venv/bin/python benchmarks/bench_load.py [--seconds 1.5] [--timed-run]
"""

import argparse
import http.client
import sys
import threading
import time

import psutil
from report import Target, judge

from labkit import load_bench
from labkit.sandboxes import Limits, availability, open_sandbox

SPIN = """(module (func (export "spin") (param i64) (result i64) (local i64)
  (loop $l (local.set 1 (i64.add (local.get 1) (i64.const 1)))
    (br_if $l (i64.lt_u (local.get 1) (local.get 0)))) (local.get 1)))"""
SPIN_N = 300_000_000


def _together(fns) -> float:
    threads = [threading.Thread(target=fn) for fn in fns]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started


def _count_for(seconds: float) -> float:
    """Python bytecode progress: loop iterations per second for `seconds` (needs the GIL)."""
    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        n += 1
    return n / seconds


def wasm_gil(seconds: float) -> float:
    """Python progress in a second thread while a long guest call runs, as a share of its
    progress alone: about 0 if wasmtime held the GIL through the call, well above 0 if it
    let go (on a busy machine the share also depends on the cores other programs leave)."""
    with open_sandbox("wasm", Limits(cpu_seconds=20)) as a, \
            open_sandbox("wasm", Limits(cpu_seconds=20)) as b:
        alone_rate = _count_for(0.5)
        busy, counted = threading.Event(), []

        def guest():
            busy.set()
            a.call_export(SPIN, "spin", SPIN_N)
            busy.clear()

        def python_side():
            busy.wait()
            n, started = 0, time.perf_counter()
            while busy.is_set():
                n += 1
            counted.append(n / (time.perf_counter() - started))

        call_seconds = _together([guest, python_side])
        share = counted[0] / alone_rate
        print(f"wasm: a {call_seconds:.2f} s guest call; a Python thread meanwhile ran at "
              f"{share:.0%} of its speed alone ({'GIL released' if share > 0.1 else 'GIL held'})")
        counts = []

        def cold(box):
            n, end = 0, time.perf_counter() + seconds
            while time.perf_counter() < end:
                box.run_standard()
                n += 1
            counts.append(n)

        _together([lambda: cold(a)])
        one = counts.pop() / seconds
        _together([lambda: cold(a), lambda: cold(b)])
        print(f"wasm fib cold calls: one thread {one:,.0f}/s, two threads "
              f"{sum(counts) / seconds:,.0f}/s")
        return share


def one_workerd(seconds: float) -> None:
    if not availability("v8", trial=False).available:
        print("v8: not available here")
        return
    with open_sandbox("v8") as box:
        box.run_standard()
        server = box.server
        workerd = psutil.Process(server.pid)
        for clients in (1, 2, 4, 8):
            done, stop = [], time.perf_counter() + seconds

            def client(done=done, stop=stop):
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
                n = 0
                while time.perf_counter() < stop:
                    conn.request("GET", "/cold?n=20", headers=server.headers())
                    response = conn.getresponse()
                    response.read()
                    assert response.status == 200
                    n += 1
                conn.close()
                done.append(n)

            cpu = sum(workerd.cpu_times()[:2])
            wall = _together([client] * clients)
            cpu = sum(workerd.cpu_times()[:2]) - cpu
            print(f"one workerd, {clients} clients: {sum(done) / wall:6.1f} calls/s, workerd "
                  f"used {cpu / wall:.2f} cores on {workerd.num_threads()} threads")


def timed_run() -> float:
    started = time.perf_counter()
    rows = load_bench.load_rows(None, (2, 4, 8), show_progress=True)
    taken = time.perf_counter() - started
    for row in rows:
        figure = f"{row.per_second:,.1f}/s" if row.available else f"not measured: {row.reason}"
        print(f"  {row.kind:<8} C={row.concurrency}: {figure}")
    return taken


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument("--timed-run", action="store_true",
                        help="also time the quick load run over every kind (about 70 s)")
    args = parser.parse_args()
    print(f"{psutil.cpu_count()} cores, load average {psutil.getloadavg()[0]:.1f}")
    share = wasm_gil(args.seconds)
    one_workerd(args.seconds)
    taken = timed_run() if args.timed_run else None
    sys.exit(judge([
        Target("wasm: Python's speed during a guest call", share, 0.1, "x alone",
               at_most=False),
        Target("quick load run, every kind", taken, 90, "s"),
    ]))
