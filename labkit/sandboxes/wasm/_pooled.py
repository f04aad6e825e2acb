"""wasm's warm path: the same fresh-instance calls on an engine with a POOLING allocator.

On-demand (the cold path) maps a new linear memory for every Store and unmaps it after.
The pooling allocator reserves SLOTS instance slots (memories, tables, instance state) when
the engine is made and hands one to each new instance, resetting it after; linear memory
starts from a copy-on-write image of the module's data (memory_init_cow), so an instance of
a big module (CPython) does not copy its data segments. It is what production hosts of
wasm use for microsecond starts. Each call still gets a FRESH instance: nothing of the
previous guest survives, only the allocator is warm.

wasmtime-py's public Config cannot select the pooling allocator; its C API can, through the
private bindings fenced in `_capi.set_pooling`. Where those are missing (another
wasmtime-py), the warm path says so in one line; labkit would then fall back to nothing
rather than pass something else off as pooling.
"""

from __future__ import annotations

import resource

import psutil
import wasmtime

from ...errors import LabkitError
from . import _capi
from ._room import MEMORY_GUARD

WARM_HOW = ("a fresh instance per call from wasmtime's pooling allocator (slots reserved "
            "ahead, copy-on-write memory image), against on-demand mapping when cold")
# Instance slots in the pool: one call uses one at a time; a few spare for safety.
SLOTS = 8
# Table elements per slot (CPython-on-WASI needs a few thousand) and instance state bytes.
TABLE_ELEMENTS = 100_000
INSTANCE_BYTES = 16 * 2**20


def address_space_needed(memory_bytes: int) -> int:
    """What the pool reserves up front: each slot's memory and guards, its tables."""
    return SLOTS * (memory_bytes + 2 * MEMORY_GUARD + TABLE_ELEMENTS * 8 + INSTANCE_BYTES)


def _check_room(memory_bytes: int) -> None:
    """The pool's reservation fails inside wasmtime as a process abort, not an error: refuse
    here, in words, where `ulimit -v` leaves too little address space."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return
    room = soft - psutil.Process().memory_info().vms
    need = 2 * address_space_needed(memory_bytes)
    if room < need:
        raise LabkitError(f"wasm's warm path (the pooling allocator) reserves about "
                          f"{need / 2**20:,.0f} MiB of address space and `ulimit -v` leaves "
                          f"{room / 2**20:,.0f} MiB")


_classes: dict = {}


def pooled_class(base: type) -> type:
    """The wasm sandbox class with its engine switched to the pooling allocator."""
    if base in _classes:
        return _classes[base]

    class PooledWasm(base):
        def _engine_config(self) -> wasmtime.Config:
            config = super()._engine_config()
            memory = self._memory_bytes
            # The pool's slots cannot move a memory: each reserves its whole cap up front.
            config.memory_reservation = memory
            config.memory_reservation_for_growth = 0
            config.memory_init_cow = True
            try:
                _capi.set_pooling(config, SLOTS, memory, TABLE_ELEMENTS, INSTANCE_BYTES)
            except (ImportError, AttributeError) as exc:
                raise LabkitError(f"this wasmtime-py has no C bindings for the pooling "
                                  f"allocator ({exc}); wasm has no warm path here") from None
            return config

        def _engine_settings(self) -> str:
            return (super()._engine_settings() +
                    f" pooled slots={SLOTS} reservation={self._memory_bytes} growth=0")

    PooledWasm.__name__ = PooledWasm.__qualname__ = f"Pooled{base.__name__}"
    _classes[base] = PooledWasm
    return PooledWasm


def open_pooled(base: type, limits, fast_path: bool):
    """An open pooled sandbox beside the caller's (which closes it with `close_pooled`)."""
    box = pooled_class(base)(limits, fast_path=fast_path)
    _check_room(box._memory_bytes)
    try:
        box.open()
    except BaseException:
        box.close()
        raise
    box._open = True
    return box


def close_pooled(box) -> None:
    box._open = False
    box.close()
