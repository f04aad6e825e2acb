"""How many WebAssembly instances can be live at once in this process, and why not more.

Every live instance is a Store with one linear memory, reserved in this process's address
space; what decides the count is whichever runs out first: memory mappings
(vm.max_map_count), address space (`ulimit -v`, RLIMIT_AS) or free RAM.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass

import psutil

# Address space reserved for each linear memory. Small, so tens of thousands of live
# instances fit; a memory that grows past it is moved (with room to grow) by wasmtime.
MEMORY_RESERVATION = 4 * 2**20
MEMORY_GUARD = 64 * 2**10
RESERVATION_FOR_GROWTH = 64 * 2**20
# Measured on Linux: a live instance with one touched page of memory adds 2 entries to
# /proc/self/maps (its resident page, the rest of its reservation); vm.max_map_count caps
# the total per process.
MAPS_PER_LIVE_INSTANCE = 2
# Mappings left for Python, its libraries and threads, on top of those already in use.
MAP_HEADROOM = 2000
# Virtual memory one live instance reserves (reservation, guards, rounding).
ADDRESS_SPACE_PER_INSTANCE = MEMORY_RESERVATION + 4 * MEMORY_GUARD
# A conservative resident cost per live instance, to keep a hold within free RAM.
RAM_PER_INSTANCE = 64 * 2**10


@dataclass(frozen=True)
class LiveLimit:
    """How many instances can be live at once here, and which limit decides it."""

    count: int
    reason: str


def live_limit(already_live: int = 0) -> LiveLimit:
    """The most live instances this process can hold (counting `already_live` ones, whose
    mappings are in use now), and the limit that decides it."""
    max_maps = read_int("/proc/sys/vm/max_map_count", 65530)
    used_maps = count_maps()
    by_maps = (max_maps - used_maps - MAP_HEADROOM) // MAPS_PER_LIVE_INSTANCE
    candidates = [(by_maps,
                   f"each live instance uses {MAPS_PER_LIVE_INSTANCE} memory mappings and "
                   f"vm.max_map_count is {max_maps:,} ({used_maps:,} already in use); "
                   "raise it with `sysctl -w vm.max_map_count=262144`")]
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        room = soft - psutil.Process().memory_info().vms
        candidates.append((room // ADDRESS_SPACE_PER_INSTANCE,
                           f"each live instance reserves {ADDRESS_SPACE_PER_INSTANCE:,} "
                           f"bytes of address space and `ulimit -v` leaves {room:,}"))
    free = psutil.virtual_memory().available
    candidates.append((free // RAM_PER_INSTANCE,
                       f"{free / 2**20:,.0f} MiB of RAM is free and each live instance "
                       f"may use up to {RAM_PER_INSTANCE // 1024} KiB"))
    count, reason = min(candidates, key=lambda c: c[0])
    return LiveLimit(max(0, int(count)) + already_live, reason)


def read_int(path: str, default: int) -> int:
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return default


def count_maps() -> int:
    """Memory mappings this process has now (lines of /proc/self/maps)."""
    try:
        with open(f"/proc/{os.getpid()}/maps", "rb") as f:
            return sum(1 for _ in f)
    except OSError:
        return 0
