"""Containers, measured: labkit's launch against a bare `runc run` loop, density, isolates.

Prints, all from this one run:
1. labkit's cold call (create, start, run fib(20), wait, delete, answer checked) against a
   shell loop running `runc run` on the very same bundle, in alternating rounds so both see
   the same machine load. Target: labkit within 1.15x of the bare loop.
2. The same for crun, when it runs here.
3. At least 100 containers held live at once: start time, memory per live container
   (processes' PSS plus their cgroups' kernel memory), and that all are gone afterwards.
4. Podman and Docker, where they run here: the same cold call and memory per live
   container, including each container's monitor process (conmon, containerd's shim).
5. The ratio of container to WebAssembly-isolate start latency and memory, when the wasm
   kind is built and runs here (otherwise says why and skips).

Usage: .venv/bin/python benchmarks/bench_containers.py [--n 100] [--rounds 4] [--live 100]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from labkit.measure import Stats, time_calls
from labkit.sandboxes import _owned, availability, open_sandbox

TARGET_RATIO = 1.15


def shell_loop_ms(command: list[str], bundle: Path, calls: int, tag: str) -> float:
    """Mean ms per `runtime run` when a plain shell loop starts them back to back."""
    runtime = " ".join(command)
    script = (f'i=0; while [ $i -lt {calls} ]; do i=$((i+1)); '
              f'{runtime} run --bundle "$1" "$2-$i" >/dev/null || exit 1; done')
    started = time.perf_counter_ns()
    subprocess.run(["/bin/sh", "-c", script, "loop", str(bundle),
                    f"{_owned.PREFIX}{os.getpid()}-{tag}"], check=True)
    return (time.perf_counter_ns() - started) / 1e6 / calls


def compare_with_bare_runtime(kind: str, n: int, rounds: int) -> dict | None:
    """labkit's cold calls vs a shell loop of bare `run`, alternating, same bundle."""
    found = availability(kind)
    if not found.available:
        print(f"{kind}: not available here: {found.reason} (fix: {found.fix})")
        return None
    with open_sandbox(kind) as box:
        bundle = box.bundle_for()
        per_round = max(1, n // rounds)
        time_calls(box.run_standard, 1, warmup=5)
        shell_loop_ms(box._command, bundle, 5, "warm")
        samples, labkit_means, shell_means = [], [], []
        for r in range(rounds):
            timing = time_calls(box.run_standard, per_round, warmup=0)
            samples += timing.samples_ns
            labkit_means.append(timing.wall_ns / 1e6 / per_round)
            shell_means.append(shell_loop_ms(box._command, bundle, per_round, f"r{r}"))
    stats = Stats.from_ns(samples)
    labkit_ms, shell_ms = sum(labkit_means) / rounds, sum(shell_means) / rounds
    ratio = labkit_ms / shell_ms
    verdict = "OK" if ratio <= TARGET_RATIO else f"OVER the {TARGET_RATIO}x target"
    each = ", ".join(f"{a / b:.2f}" for a, b in zip(labkit_means, shell_means, strict=True))
    print(f"{kind}: labkit cold call median {stats.median_ms:.1f} ms, p99 {stats.p99_ms:.1f} ms,"
          f" mean {labkit_ms:.1f} ms ({1000 / labkit_ms:.0f}/s) over {len(samples)} calls")
    print(f"{kind}: bare `{box.binary} run` shell loop, same bundle: mean {shell_ms:.1f} ms")
    print(f"{kind}: labkit / bare = {ratio:.3f}x  [{verdict}]"
          f"  (per round: {each})")
    return {"median_ms": stats.median_ms, "mem_bytes": None}


def density(kind: str, live: int) -> float | None:
    """Hold `live` containers at once; print how long it took and what each one costs."""
    if not availability(kind, trial=False).available:
        return None
    with open_sandbox(kind) as box:
        before = box.footprint()
        started = time.perf_counter()
        with box.hold(live) as held:
            up = time.perf_counter() - started
            during = box.footprint()
            running = sum(1 for name in held if Path(box.state_root, name).exists())
            release_started = time.perf_counter()
        down = time.perf_counter() - release_started
        left = [p.name for p in Path(box.state_root).iterdir()
                if p.name.startswith(f"{_owned.PREFIX}{os.getpid()}-")]
    per = (during - before).pss / live
    print(f"{kind}: held {running} live containers ({live} asked) in {up:.1f} s "
          f"({live / up:.0f}/s); {during.processes} processes, {per / 1e6:.2f} MB each "
          f"(PSS + cgroup kernel memory); released in {down:.1f} s; left behind: "
          f"{len(left)}")
    if running < live or left:
        print(f"{kind}: FAILED to hold or release {live} cleanly")
    return per


def manager(kind: str, n: int, live: int) -> None:
    """A container manager (Podman, Docker): cold calls and memory per live container."""
    found = availability(kind)
    if not found.available:
        print(f"{kind}: not available here: {found.reason} (fix: {found.fix})")
        return
    with open_sandbox(kind) as box:
        stats = time_calls(box.run_standard, n, warmup=3).stats
        before = box.footprint()
        with box.hold(live):
            during = box.footprint()
        left = [name for name in box.list_containers()
                if name.startswith(f"{_owned.PREFIX}{os.getpid()}-")]
    print(f"{kind}: cold call median {stats.median_ms:.1f} ms, p99 {stats.p99_ms:.1f} ms "
          f"({stats.per_second:.1f}/s, {n} calls); {live} live: "
          f"{(during - before).pss / live / 1e6:.2f} MB each with their monitors "
          f"(the CLI and daemons not counted); left behind: {len(left)}")


def wasm_ratio(container_ms: float, container_bytes: float) -> None:
    found = availability("wasm")
    if not found.available:
        print(f"wasm: {found.reason}; skipping the container/isolate ratio "
              f"(fix: {found.fix})")
        return
    with open_sandbox("wasm") as box:
        timing = time_calls(box.run_standard, 500, warmup=20)
        per = box.memory_per_instance(min(1000, box.max_live()))
    wasm_ms = timing.stats.median_ms
    print(f"wasm: isolate cold call median {wasm_ms * 1000:.0f} us, {per / 1e3:.1f} KB per "
          "live instance")
    print(f"container / wasm isolate: start {container_ms / wasm_ms:,.0f}x, "
          f"memory {container_bytes / max(per, 1):,.0f}x")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=120, help="cold calls per runtime (total)")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds")
    parser.add_argument("--live", type=int, default=100, help="containers held at once")
    args = parser.parse_args(argv)
    runc = compare_with_bare_runtime("runc", args.n, args.rounds)
    compare_with_bare_runtime("crun", args.n, args.rounds)
    per = density("runc", args.live)
    density("crun", args.live)
    for kind in ("podman", "docker"):
        manager(kind, max(10, args.n // 4), min(args.live, 30))
    if runc is not None and per is not None:
        wasm_ratio(runc["median_ms"], per)
    return 0


if __name__ == "__main__":
    sys.exit(main())
