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

The bare loop runs the runtime binary itself (for crun on a hybrid-cgroup host, inside a
private mount namespace of its own, entered per call as labkit enters its own), so it
needs nothing private of the sandbox. Every timing is labkit.measure's; memory is the
sandbox's own memory_per_instance.

Usage: .venv/bin/python benchmarks/bench_containers.py [--n 100] [--rounds 4] [--live 100]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

from report import Target, judge, stats_line

from labkit.measure import Stats, time_calls
from labkit.sandboxes import _owned, availability, open_sandbox

TARGET_RATIO = 1.15
TARGETS: list[Target] = []  # filled as each part runs, judged at the end


@contextlib.contextmanager
def bare_runtime(cls):
    """The command that reaches `cls`'s runtime with nothing of labkit in between: the
    binary, or on a hybrid-cgroup host for crun, nsenter into a private mount namespace
    without the cgroup v2 mount (crun 1.8 refuses the hybrid layout)."""
    binary = cls.runtime_binary()
    hybrid = Path("/sys/fs/cgroup/unified").is_dir() and \
        not Path("/sys/fs/cgroup/cgroup.controllers").exists()
    if cls.kind != "crun" or not hybrid:
        yield [binary]
        return
    holder = subprocess.Popen(
        [shutil.which("unshare"), "--mount", "--propagation", "private", "/bin/sh", "-c",
         "umount /sys/fs/cgroup/unified && echo ready && exec sleep infinity"],
        stdout=subprocess.PIPE, text=True)
    try:
        if holder.stdout.readline().strip() != "ready":
            raise RuntimeError("could not make a private mount namespace for bare crun")
        yield [shutil.which("nsenter"), f"--mount=/proc/{holder.pid}/ns/mnt", "--", binary]
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


def shell_loop_ms(command: list[str], bundle: Path, calls: int) -> float:
    """Mean ms per `runtime run` when a plain shell loop starts them back to back."""
    runtime = " ".join(command)
    script = (f'i=0; while [ $i -lt {calls} ]; do i=$((i+1)); '
              f'{runtime} run --bundle "$1" "$2-$i" >/dev/null || exit 1; done')
    started = time.perf_counter_ns()
    subprocess.run(["/bin/sh", "-c", script, "loop", str(bundle), _owned.new_container_id()],
                   check=True)
    return (time.perf_counter_ns() - started) / 1e6 / calls


def compare_with_bare_runtime(kind: str, n: int, rounds: int) -> Stats | None:
    """labkit's cold calls vs a shell loop of bare `run`, alternating, same bundle."""
    found = availability(kind)
    if not found.available:
        print(f"{kind}: not available here: {found.reason} (fix: {found.fix})")
        return None
    with open_sandbox(kind) as box, bare_runtime(type(box)) as command:
        bundle = box.bundle_for()
        per_round = max(1, n // rounds)
        time_calls(box.run_standard, 1, warmup=5)
        shell_loop_ms(command, bundle, 5)
        samples, labkit_means, shell_means = [], [], []
        for _ in range(rounds):
            timing = time_calls(box.run_standard, per_round, warmup=0)
            samples += timing.samples_ns
            labkit_means.append(timing.wall_ns / 1e6 / per_round)
            shell_means.append(shell_loop_ms(command, bundle, per_round))
    stats = Stats.from_ns(samples)
    labkit_ms, shell_ms = sum(labkit_means) / rounds, sum(shell_means) / rounds
    each = ", ".join(f"{a / b:.2f}" for a, b in zip(labkit_means, shell_means, strict=True))
    print(stats_line(f"{kind}: labkit cold call", stats) + f"   mean {labkit_ms:.1f} ms")
    print(f"{kind}: bare `{box.binary} run` shell loop, same bundle: mean {shell_ms:.1f} ms")
    print(f"{kind}: labkit / bare = {labkit_ms / shell_ms:.3f}x (per round: {each})")
    TARGETS.append(Target(f"{kind}: labkit / bare `run` loop, mean", labkit_ms / shell_ms,
                          TARGET_RATIO, "x"))
    return stats


def left_behind(box) -> list[str]:
    """This process's containers the runtime still knows of."""
    mine = f"{_owned.PREFIX}{_owned.owner_tag()}-"
    return [name for name in box.list_containers() if name.startswith(mine)]


def weigh(box, live: int) -> float:
    """Memory per live container over `live` held at once, how long holding and releasing
    them took, and that none is left behind."""
    started = time.perf_counter()
    per = box.memory_per_instance(live)
    took = time.perf_counter() - started
    left = left_behind(box)
    print(f"{box.kind}: {live} live containers held and released in {took:.1f} s; "
          f"{per / 1e6:.2f} MB each (PSS + cgroup kernel memory; with monitors for a "
          f"manager); left behind: {len(left)}")
    TARGETS.append(Target(f"{box.kind}: containers left behind after {live} held",
                          len(left), 0))
    return per


def density(kind: str, live: int) -> float | None:
    if not availability(kind, trial=False).available:
        return None
    with open_sandbox(kind) as box:
        return weigh(box, live)


def manager(kind: str, n: int, live: int) -> None:
    """A container manager (Podman, Docker): cold calls and memory per live container."""
    found = availability(kind)
    if not found.available:
        print(f"{kind}: not available here: {found.reason} (fix: {found.fix})")
        return
    with open_sandbox(kind) as box:
        stats = time_calls(box.run_standard, n, warmup=3).stats
        print(stats_line(f"{kind}: cold call", stats))
        weigh(box, live)


def wasm_ratio(container: Stats, container_bytes: float) -> None:
    found = availability("wasm")
    if not found.available:
        print(f"wasm: {found.reason}; skipping the container/isolate ratio "
              f"(fix: {found.fix})")
        return
    with open_sandbox("wasm") as box:
        wasm = time_calls(box.run_standard, 500, warmup=20).stats
        per = box.memory_per_instance(min(1000, box.max_live()))
    print(stats_line("wasm: isolate cold call", wasm) + f"   {per / 1e3:.1f} KB per live "
          "instance")
    print(f"container / wasm isolate: start {container.median_ms / wasm.median_ms:,.0f}x, "
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
        wasm_ratio(runc, per)
    return judge(TARGETS)


if __name__ == "__main__":
    sys.exit(main())
