"""How fast labkit spins up, runs and tears down a WebAssembly isolate, against bare loops.

Everything runs in this one process, pinned to one core, in interleaved rounds, so the
baselines and labkit see the same machine at the same moment:

  bare-api     wasmtime-py's public API: Store, Instance, exports["fib"](store, n), drop
  bare-ffi     the same through wasmtime-py's own ctypes bindings (no labkit code at all)
  labkit       WasmSandbox.cold_call(n): labkit's spin-up + call + tear-down
  labkit+check WasmSandbox.run_standard(n): the same plus checking the answer

Then the density figure: PSS of this process before and with 10,000 live instances (one
touched page of memory each), and compile vs instantiate.

Targets: labkit within 1.2x of bare-api, >= 25,000 isolates/s on one core, 10,000 live
instances in <= 200 MB.  Run:  .venv/bin/python benchmarks/bench_wasm.py

The bare loops use an engine configured like WasmSandbox's own (from the module's public
constants) and, for bare-ffi, the bindings labkit's fenced fast-path module hands out
after its self-test: no benchmark code touches wasmtime's private modules or a sandbox's
private attributes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from ctypes import POINTER, byref

import numpy as np
import wasmtime
from report import Target, judge, stats_line, tight_loop_seconds

from labkit.measure import Stats, machine_info, time_calls
from labkit.sandboxes import wasm
from labkit.sandboxes.wasm import WasmSandbox, _capi, guest_wat
from labkit.workload import STANDARD_N, expected

MEMORY_CAP = 64 * 2**20
DEADLINE_TICKS = 200


def bare_engine() -> wasmtime.Engine:
    """An engine set up as WasmSandbox.open sets up its own, so a bare loop differs from
    labkit only by labkit's code, not by the engine's memory layout."""
    config = wasmtime.Config()
    config.epoch_interruption = True
    config.wasm_relaxed_simd = False
    config.wasm_simd = False
    config.max_wasm_stack = wasm.MAX_WASM_STACK
    config.memory_reservation = wasm.MEMORY_RESERVATION
    config.memory_guard_size = wasm.MEMORY_GUARD
    config.memory_reservation_for_growth = wasm.RESERVATION_FOR_GROWTH
    return wasmtime.Engine(config)


def bare_api_loop(engine: wasmtime.Engine, module: wasmtime.Module):
    """One isolate with the public API, as a wasmtime-py user would write it."""

    def call():
        store = wasmtime.Store(engine)
        store.set_limits(memory_size=MEMORY_CAP)
        store.set_epoch_deadline(DEADLINE_TICKS)
        answer = wasmtime.Instance(store, module, []).exports(store)["fib"](store, STANDARD_N)
        store.close()
        return answer

    return call


def bare_ffi_loop(bindings, engine: wasmtime.Engine, module: wasmtime.Module):
    """The same through wasmtime's C API, with the ctypes bindings labkit's fenced module
    checked (`_capi.probe()`), and nothing else of labkit: the floor for the fast path."""
    b = bindings
    engine_ptr, module_ptr = engine.ptr(), module.ptr()
    args = (b.val_t * 1)()
    args[0].kind = b.kinds["i64"]
    args[0].of.i64 = STANDARD_N
    out = (b.val_t * 1)()
    extern = b.extern_t()

    def call():
        store = b.store_new(engine_ptr, None, b.no_finalizer)
        try:
            context = b.store_context(store)
            b.store_limiter(store, MEMORY_CAP, -1, -1, -1, -1)
            b.set_epoch_deadline(context, DEADLINE_TICKS)
            trap = POINTER(b.trap_t)()
            instance = b.instance_t()
            if b.instance_new(context, module_ptr, None, 0, byref(instance), byref(trap)) \
                    or trap:
                raise RuntimeError("instantiation failed")
            b.export_get(context, byref(instance), b"fib", 3, byref(extern))
            if b.func_call(context, byref(extern.of.func), args, 1, out, 1, byref(trap)) \
                    or trap:
                raise RuntimeError("call failed")
            return out[0].of.i64
        finally:
            b.store_delete(store)

    return call


def measure_speed(box: WasmSandbox, calls: int, rounds: int) -> dict[str, dict]:
    engine = bare_engine()
    module = wasmtime.Module(engine, guest_wat("fib"))
    contenders = {"bare-api": bare_api_loop(engine, module)}
    bindings, why_not = _capi.probe()
    if bindings is not None:
        contenders["bare-ffi"] = bare_ffi_loop(bindings, engine, module)
    else:
        print(f"bare-ffi baseline skipped: {why_not}")
    contenders.update({"labkit": box.cold_call, "labkit+check": box.run_standard})
    for name, fn in contenders.items():
        assert fn() == expected(), f"{name} gave a wrong answer"
    samples = {name: [] for name in contenders}
    rates = {name: [] for name in contenders}
    for _ in range(rounds):  # interleaved, so a busy moment hits every contender
        for name, fn in contenders.items():
            samples[name].extend(time_calls(fn, calls, warmup=200).samples_ns)
            rates[name].append(calls / tight_loop_seconds(fn, calls))
    return {name: {"stats": Stats.from_ns(samples[name]),
                   "per_second_best": max(rates[name]),
                   "per_second_median": float(np.median(rates[name]))}
            for name in contenders}


def measure_density(live: int) -> dict:
    """Memory per live instance by the sandbox's own measurement, and how many fit here."""
    with WasmSandbox() as box:
        per_instance = box.memory_per_instance(live)
        limit = box.live_limit()
    return {"live": live, "pss_mb_added": per_instance * live / 1e6,
            "kb_per_instance": per_instance / 1e3, "max_live": limit.count,
            "max_live_because": limit.reason}


def measure_compile(box: WasmSandbox, calls: int = 200) -> dict:
    source = guest_wat("fib")
    compile_t = time_calls(lambda: box.compile(source, cache=False), calls, warmup=5).stats
    instantiate_t = time_calls(box.cold_call, calls * 10, warmup=50).stats
    return {"compile_us_median": compile_t.median_ms * 1e3,
            "cold_call_us_median": instantiate_t.median_ms * 1e3}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=5_000, help="calls per contender per round")
    parser.add_argument("--rounds", type=int, default=8,
                        help="interleaved rounds (more, shorter rounds share the noise fairly)")
    parser.add_argument("--live", type=int, default=10_000)
    parser.add_argument("--no-pin", action="store_true", help="do not pin to one core")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not args.no_pin and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    with WasmSandbox() as box:
        speed = measure_speed(box, args.n, args.rounds)
        compiling = measure_compile(box)
        versions = box.versions()
    density = measure_density(args.live)
    base, ours = speed["bare-api"]["stats"], speed["labkit"]["stats"]
    floor = speed["bare-ffi"]["stats"] if "bare-ffi" in speed else None
    targets = [
        Target("labkit / bare-api, median", ours.median_ms / base.median_ms, 1.2, "x"),
        Target("labkit isolates per second (median round)",
               speed["labkit"]["per_second_median"], 25_000, "/s", at_most=False),
        Target("10,000 live instances, MB added",
               density["pss_mb_added"] if args.live >= 10_000 else None, 200, "MB"),
    ]
    if args.json:
        report = {"speed": {name: {"median_us": row["stats"].median_ms * 1e3,
                                   "p99_us": row["stats"].p99_ms * 1e3,
                                   "per_second_best": row["per_second_best"],
                                   "per_second_median": row["per_second_median"]}
                            for name, row in speed.items()},
                  "compile": compiling, "density": density,
                  "targets": {t.name: {"value": t.value, "limit": t.limit,
                                       "verdict": t.verdict} for t in targets},
                  "machine": machine_info(), "versions": versions}
        print(json.dumps(report, indent=1))
        return 0
    print(f"{args.rounds} rounds x {args.n:,} isolates each, one core; fib({STANDARD_N}); "
          f"baseline: bare-api")
    for name, row in speed.items():
        print(stats_line(name, row["stats"], None if name == "bare-api" else base, unit="us",
                         width=14)
              + f"   tight loop {row['per_second_median']:,.0f}/s median round, "
                f"{row['per_second_best']:,.0f} best")
    if floor is not None:
        print(f"labkit / bare-ffi median: {ours.median_ms / floor.median_ms:.2f}x")
    print(f"compile fib.wat: {compiling['compile_us_median']:.0f} us median; "
          f"a cold call: {compiling['cold_call_us_median']:.1f} us")
    print(f"{density['live']:,} live instances: +{density['pss_mb_added']:.1f} MB PSS "
          f"({density['kb_per_instance']:.1f} KB each); at most {density['max_live']:,} "
          f"here because {density['max_live_because']}")
    return judge(targets)


if __name__ == "__main__":
    sys.exit(main())
