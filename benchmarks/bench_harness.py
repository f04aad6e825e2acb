"""How much does labkit's measuring harness add to what it measures?

For each kind, in one run and one process: a bare loop of cold calls (the sandbox's own
cold_call, no per-call clock, no answer check) against labkit.measure.time_calls driving
run_standard (per-call clock, answer checked), interleaved over several rounds so both see
the same machine state. Prints per-call cost of each (median and p99 over the rounds), the
ratio, and the target (<= 1.05).

    .venv/bin/python benchmarks/bench_harness.py [--kinds process,wasm] [--n 300] [--rounds 7]
"""

import argparse
import sys

import numpy as np
from report import Target, judge, tight_loop_seconds

from labkit.measure import time_calls
from labkit.sandboxes import availability, open_sandbox, parse_kinds

TARGET_RATIO = 1.05


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default="process,wasm")
    parser.add_argument("--n", type=int, default=300, help="calls per round")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print(f"{'kind':<8} {'bare ms/call':>13} {'harness ms/call':>16} {'p99 of rounds':>14} "
          f"{'ratio':>7}  (median of {args.rounds} interleaved rounds of {args.n} calls)")
    targets = []
    for kind in parse_kinds(args.kinds):
        found = availability(kind)
        if not found.available:
            print(f"{kind:<8} not available: {found.reason}")
            continue
        with open_sandbox(kind) as box:
            time_calls(box.run_standard, 1, warmup=10)
            bare, harness = [], []
            for _ in range(args.rounds):
                bare.append(tight_loop_seconds(box.cold_call, args.n) * 1e3 / args.n)
                harness.append(time_calls(box.run_standard, args.n, warmup=0).wall_ns
                               / 1e6 / args.n)
        b, h = float(np.median(bare)), float(np.median(harness))
        print(f"{kind:<8} {b:>13.4f} {h:>16.4f} {np.percentile(harness, 99):>14.4f} "
              f"{h / b:>7.3f}")
        targets.append(Target(f"{kind}: harness / bare loop", h / b, TARGET_RATIO, "x"))
    return judge(targets)


if __name__ == "__main__":
    sys.exit(main())
