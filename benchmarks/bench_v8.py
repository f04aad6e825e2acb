"""V8 isolates on workerd, measured from outside over loopback, all in one run.

One workerd started by labkit; against it, interleaved in blocks so both see the same
machine state:
  bare     a bare HTTP loop (http.client, one keep-alive connection) asking the host worker
           for a new isolate per request: GET /cold, body read, nothing checked
  labkit   labkit.measure.time_calls driving V8Sandbox.run_standard (new isolate per call,
           JSON parsed, answer checked)
  warm     V8Sandbox.warm_call: the same workload in one reused isolate
all three timed by the same labkit.measure.time_calls; then memory per live isolate, by the
sandbox's own memory_per_instance (workerd's PSS with N isolates held, minus before).
Prints medians, p99s, rates, the ratio labkit/bare and each figure against its target.

    .venv/bin/python benchmarks/bench_v8.py [--n 600] [--block 50] [--live 200]
"""

import argparse
import http.client
import sys

from report import Target, judge, stats_line

from labkit.measure import Stats, time_calls
from labkit.sandboxes.v8 import V8Sandbox
from labkit.workload import STANDARD_N

TARGETS = {"per_second": 150, "p50_ms": 8.0, "mb_per_isolate": 3.0, "ratio": 1.15}


def bare_request(conn: http.client.HTTPConnection, headers: dict):
    """One request for a fresh isolate on a plain keep-alive connection (with the per-run
    secret workerd asks of every request), the body read and nothing checked."""
    def request():
        conn.request("GET", f"/cold?n={STANDARD_N}", headers=headers)
        conn.getresponse().read()
    return request


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=600, help="calls of each kind")
    parser.add_argument("--block", type=int, default=50, help="calls per interleaved block")
    parser.add_argument("--live", type=int, default=200, help="isolates held for memory")
    args = parser.parse_args()
    found = V8Sandbox.check()
    if not found.available:
        print(f"v8 not available: {found.reason} (fix: {found.fix})")
        return 1
    with V8Sandbox() as box:
        print(f"workerd {box.versions()['workerd']}, pid {box.server.pid}, {box.url}")
        conn = http.client.HTTPConnection("127.0.0.1", box.server.port)
        bare_call = bare_request(conn, box.server.headers())
        for fn in (box.run_standard, box.warm_call, bare_call):  # host worker compiled,
            time_calls(fn, 1, warmup=19)                         # connections open
        samples = {"bare": [], "labkit": [], "warm": []}
        for _ in range(max(1, args.n // args.block)):
            for name, fn in (("bare", bare_call), ("labkit", box.run_standard),
                             ("warm", box.warm_call)):
                samples[name] += time_calls(fn, args.block, warmup=0).samples_ns
        conn.close()
        bare, cold, warm = (Stats.from_ns(samples[name]) for name in ("bare", "labkit", "warm"))
        print()
        print(stats_line("bare HTTP loop, new isolate", bare))
        print(stats_line("labkit cold call (run_standard)", cold, bare))
        print(stats_line("labkit warm call (reused isolate)", warm, bare))
        ratio = cold.median_ms / bare.median_ms
        isolate_ms = cold.median_ms - warm.median_ms
        print(f"\nthe isolate itself (cold - warm median): {isolate_ms:.3f} ms")

        before = box.footprint()
        mb_per_isolate = box.memory_per_instance(args.live) / 1e6
        print(f"\nworkerd before: {before.pss / 1e6:.1f} MB PSS; memory per live isolate "
              f"({args.live} held): {mb_per_isolate:.2f} MB PSS")

    return judge([
        Target("new isolates per second", cold.per_second, TARGETS["per_second"], "/s",
               at_most=False),
        Target("cold call median", cold.median_ms, TARGETS["p50_ms"], "ms"),
        Target("MB per live isolate", mb_per_isolate, TARGETS["mb_per_isolate"], "MB"),
        Target("labkit / bare loop, median", ratio, TARGETS["ratio"], "x"),
    ])


if __name__ == "__main__":
    sys.exit(main())
