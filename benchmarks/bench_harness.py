"""How much does labkit's measuring harness add to what it measures?

For each kind, in one run and one process: a bare loop of cold calls (the sandbox's own
cold_call, no per-call clock, no answer check) against labkit.measure.time_calls driving
run_standard (per-call clock, answer checked), interleaved over several rounds so both see
the same machine state. Prints per-call cost of each, the ratio, and the target (<= 1.05).

    .venv/bin/python benchmarks/bench_harness.py [--kinds process,wasm] [--n 300] [--rounds 7]
"""

import argparse
import statistics
import time

from labkit.measure import time_calls
from labkit.sandboxes import availability, open_sandbox, parse_kinds
from labkit.workload import STANDARD_N


def bare_loop_ms(box, n: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(n):
        box.cold_call(STANDARD_N)
    return (time.perf_counter_ns() - start) / 1e6 / n


def harness_ms(box, n: int) -> float:
    return time_calls(box.run_standard, n, warmup=0).wall_ns / 1e6 / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default="process,wasm")
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print(f"{'kind':<8} {'bare ms/call':>13} {'harness ms/call':>16} {'ratio':>7}  "
          f"(median of {args.rounds} interleaved rounds of {args.n} calls)")
    for kind in parse_kinds(args.kinds):
        found = availability(kind)
        if not found.available:
            print(f"{kind:<8} not available: {found.reason}")
            continue
        with open_sandbox(kind) as box:
            for _ in range(10):
                box.run_standard()
            bare, harness = [], []
            for _ in range(args.rounds):
                bare.append(bare_loop_ms(box, args.n))
                harness.append(harness_ms(box, args.n))
        b, h = statistics.median(bare), statistics.median(harness)
        verdict = "ok" if h / b <= 1.05 else "OVER the 5% target"
        print(f"{kind:<8} {b:>13.4f} {h:>16.4f} {h / b:>7.3f}  {verdict}")


if __name__ == "__main__":
    main()
