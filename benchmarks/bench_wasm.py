"""How fast labkit spins up, runs and tears down a WebAssembly isolate, against bare loops.

Everything runs in this one process, pinned to one core, in interleaved rounds, so the
baselines and labkit see the same machine at the same moment:

  bare-api     wasmtime-py's public API: Store, Instance, exports["fib"](store, n), drop
  bare-ffi     the same through wasmtime-py's own ctypes bindings (no labkit code at all)
  labkit       WasmSandbox.cold_call(n): labkit's spin-up + call + tear-down
  labkit+check WasmSandbox.run_standard(n): the same plus checking the answer

Then the density figure: PSS of this process before and with 10,000 live instances (one
touched page of memory each), and compile vs instantiate.

Targets from the issue: labkit within 1.2x of bare-api, >= 25,000 isolates/s on one core,
10,000 live instances in <= 200 MB.  Run:  .venv/bin/python benchmarks/bench_wasm.py
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import time
from ctypes import POINTER, byref

import numpy as np
import wasmtime

from labkit.measure import Stats, machine_info, time_calls
from labkit.sandboxes.wasm import WasmSandbox, _capi, guest_wat
from labkit.workload import STANDARD_N, expected

MEMORY_CAP = 64 * 2**20
DEADLINE_TICKS = 200


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


def bare_ffi_loop(engine: wasmtime.Engine, module: wasmtime.Module):
    """The same through the C API via wasmtime-py's ctypes bindings, nothing else (these are
    private to wasmtime-py: the caller runs this baseline only when labkit's probe of them
    passed)."""
    from wasmtime import _ffi as ffi

    no_finalizer = ctypes.cast(0, ctypes.CFUNCTYPE(None, ctypes.c_void_p))
    engine_ptr, module_ptr = engine.ptr(), module.ptr()
    args = (ffi.wasmtime_val_t * 1)()
    args[0].kind = ffi.WASMTIME_I64.value
    args[0].of.i64 = STANDARD_N
    out = (ffi.wasmtime_val_t * 1)()
    extern = ffi.wasmtime_extern_t()
    dll = ffi.dll

    def call():
        store = dll.wasmtime_store_new(engine_ptr, None, no_finalizer)
        try:
            context = dll.wasmtime_store_context(store)
            dll.wasmtime_store_limiter(store, MEMORY_CAP, -1, -1, -1, -1)
            dll.wasmtime_context_set_epoch_deadline(context, DEADLINE_TICKS)
            trap = POINTER(ffi.wasm_trap_t)()
            instance = ffi.wasmtime_instance_t()
            if dll.wasmtime_instance_new(context, module_ptr, None, 0, byref(instance),
                                         byref(trap)) or trap:
                raise RuntimeError("instantiation failed")
            dll.wasmtime_instance_export_get(context, byref(instance), b"fib", 3, byref(extern))
            if dll.wasmtime_func_call(context, byref(extern.of.func), args, 1, out, 1,
                                      byref(trap)) or trap:
                raise RuntimeError("call failed")
            return out[0].of.i64
        finally:
            dll.wasmtime_store_delete(store)

    return call


def throughput(fn, n: int) -> float:
    """Calls per second in a tight loop (no per-call clock reads)."""
    start = time.perf_counter_ns()
    for _ in range(n):
        fn()
    return n / ((time.perf_counter_ns() - start) / 1e9)


def measure_speed(box: WasmSandbox, n: int, rounds: int) -> dict:
    contenders = {"bare-api": bare_api_loop(box._engine, box._fib_module)}
    bindings, why_not = _capi.probe()
    if bindings is not None:
        contenders["bare-ffi"] = bare_ffi_loop(box._engine, box._fib_module)
    else:
        print(f"bare-ffi baseline skipped: {why_not}")
    contenders.update({"labkit": box.cold_call, "labkit+check": box.run_standard})
    for name, fn in contenders.items():
        assert fn() == expected(), f"{name} gave a wrong answer"
    samples = {name: [] for name in contenders}
    rates = {name: [] for name in contenders}
    for _ in range(rounds):  # interleaved, so a busy moment hits every contender
        for name, fn in contenders.items():
            samples[name].extend(time_calls(fn, n, warmup=200).samples_ns)
            rates[name].append(throughput(fn, n))
    out = {}
    for name in contenders:
        stats = Stats.from_ns(samples[name])
        out[name] = {"median_us": stats.median_ms * 1e3, "p99_us": stats.p99_ms * 1e3,
                     "per_second_best": max(rates[name]),
                     "per_second_median": float(np.median(rates[name]))}
    return out


def measure_density(live: int) -> dict:
    with WasmSandbox() as box:
        before = box.footprint()
        with box.hold(live):
            during = box.footprint()
        limit = box.live_limit()
    added = during - before
    return {"live": live, "pss_mb_added": added.pss / 1e6, "uss_mb_added": added.uss / 1e6,
            "kb_per_instance": added.pss / live / 1e3, "max_live": limit.count,
            "max_live_because": limit.reason}


def measure_compile(box: WasmSandbox, n: int = 200) -> dict:
    source = guest_wat("fib")
    compile_t = time_calls(lambda: box.compile(source, cache=False), n, warmup=5).stats
    instantiate_t = time_calls(box.cold_call, n * 10, warmup=50).stats
    return {"compile_us_median": compile_t.median_ms * 1e3,
            "cold_call_us_median": instantiate_t.median_ms * 1e3}


def main() -> None:
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
    density = measure_density(args.live)
    base, ours = speed["bare-api"], speed["labkit"]
    verdict = {
        "labkit_over_bare_api_median": ours["median_us"] / base["median_us"],
        "labkit_over_bare_ffi_median": (ours["median_us"] / speed["bare-ffi"]["median_us"]
                                        if "bare-ffi" in speed else float("nan")),
        "within_1.2x_of_bare_api": ours["median_us"] <= 1.2 * base["median_us"],
        "at_least_25k_per_second": ours["per_second_median"] >= 25_000,
        "10k_live_in_200MB": args.live >= 10_000 and density["pss_mb_added"] <= 200,
    }
    report = {"speed": speed, "compile": compiling, "density": density, "verdict": verdict,
              "machine": machine_info(), "wasmtime": wasmtime.__version__
              if hasattr(wasmtime, "__version__") else box.versions()["wasmtime"]}
    if args.json:
        print(json.dumps(report, indent=1))
        return
    print(f"{args.rounds} rounds x {args.n:,} isolates each, one core; fib({STANDARD_N})")
    print(f"{'':14}{'median us':>10}{'p99 us':>9}{'per s (median round)':>22}{'best':>9}")
    for name, row in speed.items():
        print(f"{name:14}{row['median_us']:10.1f}{row['p99_us']:9.1f}"
              f"{row['per_second_median']:22,.0f}{row['per_second_best']:9,.0f}")
    print(f"labkit / bare-api median: {verdict['labkit_over_bare_api_median']:.2f}x   "
          f"labkit / bare-ffi median: {verdict['labkit_over_bare_ffi_median']:.2f}x")
    print(f"compile fib.wat: {compiling['compile_us_median']:.0f} us median; "
          f"a cold call: {compiling['cold_call_us_median']:.1f} us")
    print(f"{density['live']:,} live instances: +{density['pss_mb_added']:.1f} MB PSS "
          f"({density['kb_per_instance']:.1f} KB each); at most {density['max_live']:,} "
          f"here because {density['max_live_because']}")
    for name, ok in verdict.items():
        if isinstance(ok, bool):
            print(f"  {'PASS' if ok else 'FAIL'}  {name}")


if __name__ == "__main__":
    main()
