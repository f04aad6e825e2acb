"""V8 isolates on workerd, measured from outside over loopback, all in one run.

One workerd started by labkit; against it, interleaved in blocks so both see the same
machine state:
  bare     a bare HTTP loop (http.client, one keep-alive connection) asking the host worker
           for a new isolate per request: GET /cold, body read, nothing checked
  labkit   labkit.measure.time_calls driving V8Sandbox.run_standard (new isolate per call,
           JSON parsed, answer checked)
  warm     V8Sandbox.warm_call: the same workload in one reused isolate
then memory per live isolate: workerd's PSS and RSS with N isolates held, minus before.
Prints medians, p99s, rates, the ratio labkit/bare and each figure against its target.

    .venv/bin/python benchmarks/bench_v8.py [--n 600] [--block 50] [--live 200]
"""

import argparse
import http.client
import sys
import time

import numpy as np

from labkit.measure import time_calls
from labkit.sandboxes.v8 import V8Sandbox
from labkit.workload import STANDARD_N

TARGETS = {"per_second": 150, "p50_ms": 8.0, "mb_per_isolate": 3.0, "ratio": 1.15}


def bare_block(headers: dict, conn: http.client.HTTPConnection, n: int) -> list[int]:
    """n requests for a fresh isolate on a plain keep-alive connection, each timed (with the
    per-run secret workerd asks of every request)."""
    samples = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        conn.request("GET", f"/cold?n={STANDARD_N}", headers=headers)
        conn.getresponse().read()
        samples.append(time.perf_counter_ns() - t0)
    return samples


def summary(name: str, samples_ns: list[int]) -> dict:
    ms = np.asarray(samples_ns) / 1e6
    figures = {"p50_ms": float(np.median(ms)), "p99_ms": float(np.percentile(ms, 99)),
               "per_second": float(ms.size / (ms.sum() / 1e3))}
    print(f"{name:<34} p50 {figures['p50_ms']:7.3f} ms   p99 {figures['p99_ms']:7.3f} ms   "
          f"{figures['per_second']:7.0f} /s   (n={ms.size})")
    return figures


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


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
        for _ in range(20):  # warm-up: host worker compiled, connections open
            box.run_standard()
            box.warm_call()
            bare_block(box.server.headers(), conn, 1)
        bare, labkit, warm = [], [], []
        for _ in range(max(1, args.n // args.block)):
            bare += bare_block(box.server.headers(), conn, args.block)
            labkit += time_calls(box.run_standard, args.block, warmup=0).samples_ns
            warm += time_calls(box.warm_call, args.block, warmup=0).samples_ns
        conn.close()
        print()
        b = summary("bare HTTP loop, new isolate", bare)
        cold = summary("labkit cold call (run_standard)", labkit)
        hot = summary("labkit warm call (reused isolate)", warm)
        ratio = cold["p50_ms"] / b["p50_ms"]
        print(f"\nthe isolate itself (cold - warm p50): {cold['p50_ms'] - hot['p50_ms']:.3f} ms")
        print(f"labkit / bare loop, p50:             {ratio:.3f}")

        before = box.footprint()
        with box.hold(args.live):
            during = box.footprint()
        grew = during - before
        pss_mb, rss_mb = grew.pss / args.live / 1e6, grew.rss / args.live / 1e6
        print(f"\nworkerd before: {before.pss / 1e6:.1f} MB PSS; with {args.live} live "
              f"isolates: {during.pss / 1e6:.1f} MB PSS, {during.rss / 1e6:.1f} MB RSS")
        print(f"memory per live isolate: {pss_mb:.2f} MB PSS, {rss_mb:.2f} MB RSS")

    print("\ntargets")
    checks = [
        (f"new isolates per second >= {TARGETS['per_second']}",
         cold["per_second"] >= TARGETS["per_second"], f"{cold['per_second']:.0f}/s"),
        (f"cold call p50 <= {TARGETS['p50_ms']} ms", cold["p50_ms"] <= TARGETS["p50_ms"],
         f"{cold['p50_ms']:.2f} ms"),
        (f"MB per live isolate <= {TARGETS['mb_per_isolate']}",
         pss_mb <= TARGETS["mb_per_isolate"], f"{pss_mb:.2f} MB"),
        (f"labkit within {TARGETS['ratio']}x of the bare loop", ratio <= TARGETS["ratio"],
         f"{ratio:.3f}x"),
    ]
    for label, ok, value in checks:
        print(f"  {label:<40} {value:>10}  {verdict(ok)}")
    return 0 if all(ok for _, ok, _ in checks) else 2


if __name__ == "__main__":
    sys.exit(main())
