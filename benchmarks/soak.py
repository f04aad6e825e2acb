"""Soak: many cold calls of each kind in ONE process, to catch slow leaks.

For each kind that runs here (wasm, v8, runc, crun, and any later kind through the same
protocol), in one Python process: a sandbox opened, N cold calls, closed. Before and after
each phase it records this process's RSS, open fds, threads and child processes, the bytes
labkit keeps under the temp folder, and (for v8) workerd's RSS. A phase passes when every
figure ends within its allowance of where it started; the script prints a table and each
figure's growth against its allowance (met or MISSED), and exits 2 if any phase leaked.

    .venv/bin/python benchmarks/soak.py                      # 10,000 wasm, 2,000 v8, 500 runc
    .venv/bin/python benchmarks/soak.py --kinds wasm,v8 --scale 0.1
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from report import Target, judge

from labkit.errors import LabkitError
from labkit.sandboxes import availability, open_sandbox, parse_kinds
from labkit.sandboxes.v8 import workerd

CALLS = {"wasm": 10_000, "v8": 2_000, "runc": 500, "crun": 500, "process": 500}
DEFAULT_CALLS = 500
# What a phase may add and still count as flat: page-cache and allocator noise, not leaks.
ALLOWANCE = {"rss_mib": 8.0, "fds": 0, "threads": 0, "children": 0, "tmp_kib": 64.0,
             "workerd_rss_mib": 48.0}


def labkit_tmp_bytes() -> int:
    """Bytes in this process's labkit folders: its bundle folders and workerd run folders
    (other labs on the machine may be running: theirs are not counted)."""
    root = Path(tempfile.gettempdir())
    tops = list(root.glob(f"labkit-oci-{os.getpid()}-*"))
    state = workerd.state_dir()
    for run in state.glob("server-*"):
        with contextlib.suppress(OSError):
            if f'"owner_pid": {os.getpid()},' in (run / workerd.PIDFILE).read_text():
                tops.append(run)
    total = 0
    for top in tops:
        for dirpath, _, files in os.walk(top):
            for name in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def snapshot(box=None) -> dict:
    me = psutil.Process()
    figures = {"rss_mib": me.memory_info().rss / 2**20, "fds": me.num_fds(),
               "threads": threading.active_count(),
               "children": len(me.children(recursive=True)),
               "tmp_kib": labkit_tmp_bytes() / 1024}
    server = box.server if box is not None and box.kind == "v8" else None
    if server is not None and server.pid:
        try:
            figures["workerd_rss_mib"] = psutil.Process(server.pid).memory_info().rss / 2**20
            figures["children"] -= 1  # workerd itself, expected while the box is open
        except psutil.NoSuchProcess:
            pass
    return figures


def soak(kind: str, calls: int) -> dict:
    """One phase: the box opened, `calls` cold calls, figures before, mid-way and after."""
    before = snapshot()
    started = time.perf_counter()
    with open_sandbox(kind) as box:
        box.run_standard()
        opened = snapshot(box)
        loaded = opened
        for i in range(calls):
            box.run_standard()
            if i % 100 == 99 or i == calls - 2:  # workerd's peak, before any recycling
                now = snapshot(box)
                loaded = {**now, "workerd_rss_mib": max(now.get("workerd_rss_mib", 0),
                                                        loaded.get("workerd_rss_mib", 0))}
    after = snapshot()
    seconds = time.perf_counter() - started
    growth = {key: after[key] - before[key] for key in before}
    # RSS from the box's first call on (opening it loads libraries once: not a leak).
    growth["rss_mib"] = loaded["rss_mib"] - opened["rss_mib"]
    if "workerd_rss_mib" in opened:
        growth["workerd_rss_mib"] = loaded["workerd_rss_mib"] - opened["workerd_rss_mib"]
    leaks = [key for key, value in growth.items() if value > ALLOWANCE[key]]
    return {"kind": kind, "calls": calls, "seconds": seconds, "before": before,
            "opened": opened, "loaded": loaded, "after": after, "growth": growth,
            "leaks": leaks}


def show(result: dict) -> None:
    b, a = result["before"], result["after"]
    print(f"{result['kind']}: {result['calls']:,} cold calls in {result['seconds']:.1f} s")
    o, lo = result["opened"], result["loaded"]
    print(f"  {'rss_mib':<16} {o['rss_mib']:>10.1f} -> {lo['rss_mib']:>10.1f}  (after the "
          f"first call -> after the last; {b['rss_mib']:.1f} before opening)")
    for key in ("fds", "threads", "children", "tmp_kib"):
        print(f"  {key:<16} {b[key]:>10.1f} -> {a[key]:>10.1f}")
    if "workerd_rss_mib" in result["opened"]:
        print(f"  {'workerd_rss_mib':<16} {result['opened']['workerd_rss_mib']:>10.1f} -> "
              f"{result['loaded']['workerd_rss_mib']:>10.1f}  (after open -> highest seen)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default="wasm,v8,runc,crun")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every call count (0.1 for a quick look)")
    args = parser.parse_args(argv)
    results = []
    for kind in parse_kinds(args.kinds):
        found = availability(kind, trial=False)
        if not found.available:
            print(f"{kind}: skipped, not available here: {found.reason}")
            continue
        calls = max(1, int(CALLS.get(kind, DEFAULT_CALLS) * args.scale))
        try:
            results.append(soak(kind, calls))
        except LabkitError as exc:
            print(f"{kind}: the soak failed: {exc}")
            results.append({"kind": kind, "leaks": ["failed"]})
            continue
        show(results[-1])
    targets = []
    for r in results:
        if "growth" not in r:  # the soak itself failed
            targets.append(Target(f"{r['kind']}: the soak ran to the end", None, 0))
            continue
        targets += [Target(f"{r['kind']}: {key} growth", value, ALLOWANCE[key])
                    for key, value in r["growth"].items()]
    status = judge(targets)
    return 2 if any("growth" not in r for r in results) else status


if __name__ == "__main__":
    sys.exit(main())
