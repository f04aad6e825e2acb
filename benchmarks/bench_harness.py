"""How much does labkit's measuring harness add to what it measures?

For each kind and workload, in one run and one process: a bare loop of cold calls (the
sandbox's own cold_call or run_tool, no per-call clock, no answer check) against
labkit.measure.time_calls driving what `labkit bench` times (per-call clock, answer
checked), interleaved over several rounds, each going first in every other round, so both
see the same machine state. Prints per-call cost of each (median and p99 over the rounds),
the ratio, and the target (<= 1.05).
A kind that cannot host a workload is named and skipped.

    .venv/bin/python benchmarks/bench_harness.py [--kinds process,wasm] \
        [--workloads fib,tool-py] [--n 300] [--rounds 7]
"""

import argparse
import sys

import numpy as np
from report import Target, judge, tight_loop_seconds

from labkit.measure import time_calls
from labkit.sandboxes import availability, open_sandbox, parse_kinds, sandbox_class
from labkit.workload import (
    WORKLOAD_LANGUAGES,
    can_host,
    check_workload,
    tool_input,
    tool_source,
    workload_call,
)

TARGET_RATIO = 1.05


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default="process,wasm")
    parser.add_argument("--workloads", default="fib",
                        help="comma list of fib, tool-js, tool-py (default fib)")
    parser.add_argument("--n", type=int, default=300, help="calls per round")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    workloads = [check_workload(w.strip()) for w in args.workloads.split(",")]
    print(f"{'kind':<8} {'workload':<8} {'bare ms/call':>13} {'harness ms/call':>16} "
          f"{'p99 of rounds':>14} {'ratio':>7}  "
          f"(median of {args.rounds} interleaved rounds of {args.n} calls)")
    targets = []
    for kind in parse_kinds(args.kinds):
        found = availability(kind)
        if not found.available:
            print(f"{kind:<8} not available: {found.reason}")
            continue
        for workload in workloads:
            if not can_host(sandbox_class(kind).capabilities, workload):
                print(f"{kind:<8} {workload:<8} not hosted by this kind")
                continue
            b, h, p99 = _bare_and_harness(kind, workload, args.n, args.rounds)
            print(f"{kind:<8} {workload:<8} {b:>13.4f} {h:>16.4f} {p99:>14.4f} {h / b:>7.3f}")
            targets.append(Target(f"{kind} {workload}: harness / bare loop", h / b,
                                  TARGET_RATIO, "x"))
    return judge(targets)


def _bare_and_harness(kind: str, workload: str, n: int, rounds: int):
    """Per-call ms of the bare path and of bench's timed, checked call (medians of the
    rounds), and the harness's p99 over rounds."""
    with open_sandbox(kind) as box:
        if workload == "fib":
            bare_call = box.cold_call
        else:
            language = WORKLOAD_LANGUAGES[workload]
            source, given = tool_source(language), tool_input()

            def bare_call():
                box.run_tool(language, source, given)
        checked = workload_call(box, workload)
        time_calls(checked, 1, warmup=10)
        bare, harness = [], []
        for round_number in range(rounds):
            # each goes first in every other round: neither gets the machine's better half
            steps = [lambda: bare.append(tight_loop_seconds(bare_call, n) * 1e3 / n),
                     lambda: harness.append(time_calls(checked, n, warmup=0).wall_ns / 1e6 / n)]
            for step in steps[::-1] if round_number % 2 else steps:
                step()
    return float(np.median(bare)), float(np.median(harness)), float(np.percentile(harness, 99))


if __name__ == "__main__":
    sys.exit(main())
