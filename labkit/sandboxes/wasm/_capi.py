"""The fast path of a wasm call: wasmtime's C API through wasmtime-py's private bindings.

Why it exists: `Func.__call__` looks up the function's type and converts every value on
each call, which costs about three times the rest of a cold call (new Store, instantiate,
call, delete). Calling the C functions that wasmtime-py itself wraps skips that work.

Why it is fenced: `wasmtime._ffi`, the `dll` symbols, the value-kind constants and the
`_from_ptr` constructors are private to wasmtime-py and may change in any release. This is
the only module of labkit that touches them, and only inside `probe()`, which tries every
piece once on a real call, a real trap and a real error. If anything fails, `probe()`
returns the reason in one line and labkit runs wasm through the public Store/Instance API
instead: the same answers and caps, more time per call.

Both paths raise wasmtime's own `Trap` and `WasmtimeError`; the sandbox translates them.
"""

from __future__ import annotations

import ctypes
import functools
import importlib
import logging
from ctypes import POINTER, byref

import wasmtime

from ...errors import LIMIT_MEMORY, LimitExceeded

# wasmtime returns no Store only when it cannot allocate one.
NO_STORE = "wasmtime could not create a Store: this process is out of memory or address space"

# A module the probe runs: one answer, one trap, and a memory too large for its Store.
PROBE_WAT = """(module
  (func (export "twice") (param i64) (result i64) (i64.mul (local.get 0) (i64.const 2)))
  (func (export "crash") unreachable))"""
PROBE_TOO_BIG = "(module (memory 64))"
# Store limits for the probe: memory bytes, table elements, instances, tables, memories.
PROBE_LIMITS = (2**16, 100, 1, 1, 1)


class _Bindings:
    """The private pieces, looked up once; any missing one raises here, not mid-call."""

    def __init__(self):
        ffi = importlib.import_module("wasmtime._ffi")
        dll = ffi.dll
        self.store_new = dll.wasmtime_store_new
        self.store_context = dll.wasmtime_store_context
        self.store_delete = dll.wasmtime_store_delete
        self.store_limiter = dll.wasmtime_store_limiter
        self.set_epoch_deadline = dll.wasmtime_context_set_epoch_deadline
        self.instance_new = dll.wasmtime_instance_new
        self.export_get = dll.wasmtime_instance_export_get
        self.func_call = dll.wasmtime_func_call
        self.val_t, self.extern_t = ffi.wasmtime_val_t, ffi.wasmtime_extern_t
        self.instance_t, self.trap_t = ffi.wasmtime_instance_t, ffi.wasm_trap_t
        # C value kinds by union field name; f32/f64 are optional for the probe's module.
        self.kinds = {"i32": ffi.WASMTIME_I32.value, "i64": ffi.WASMTIME_I64.value,
                      "f32": ffi.WASMTIME_F32.value, "f64": ffi.WASMTIME_F64.value}
        self.error_from_ptr = wasmtime.WasmtimeError._from_ptr
        self.trap_from_ptr = wasmtime.Trap._from_ptr
        self.no_finalizer = ctypes.cast(0, ctypes.CFUNCTYPE(None, ctypes.c_void_p))


class CallSite:
    """One export's name and reusable C value buffers (one thread at a time)."""

    def __init__(self, bindings: _Bindings, name: str, params: list[str], results: list[str]):
        self.name_bytes = name.encode()
        self.fields = tuple(params)
        self.result_fields = tuple(results)
        self.args = (bindings.val_t * max(1, len(params)))()
        for i, field in enumerate(params):
            self.args[i].kind = bindings.kinds[field]
        self.out = (bindings.val_t * max(1, len(results)))()


class CApiCalls:
    """Cold calls and live instances straight through the C API (the fast path)."""

    name = "C API (fast path)"

    def __init__(self, bindings: _Bindings, engine: wasmtime.Engine, limits: tuple,
                 deadline_ticks: int):
        self._b, self._limits, self._deadline = bindings, limits, deadline_ticks
        self._engine_ptr = engine.ptr()
        self._extern = bindings.extern_t()

    def site(self, name: str, params: list[str], results: list[str]) -> CallSite:
        return CallSite(self._b, name, params, results)

    def call(self, module: wasmtime.Module, site: CallSite, args: tuple):
        """A Store, an Instance, one call, then the Store is deleted.

        Written out in one piece, with local names: it is the hot path, and every
        attribute lookup or extra Python call shows in the time of a cold call.
        """
        b, buffer = self._b, site.args
        for i, field in enumerate(site.fields):
            setattr(buffer[i].of, field, args[i])
        store = b.store_new(self._engine_ptr, None, b.no_finalizer)
        if not store:
            raise LimitExceeded("wasm", LIMIT_MEMORY, NO_STORE)
        try:
            context = b.store_context(store)
            b.store_limiter(store, *self._limits)
            b.set_epoch_deadline(context, self._deadline)
            trap = POINTER(b.trap_t)()
            instance = b.instance_t()
            error = b.instance_new(context, module.ptr(), None, 0, byref(instance), byref(trap))
            if error or trap:
                self._raise(error, trap)
            extern = self._extern
            if not b.export_get(context, byref(instance), site.name_bytes,
                                len(site.name_bytes), byref(extern)):
                raise LookupError(f"no export named {site.name_bytes.decode()!r}")
            error = b.func_call(context, byref(extern.of.func), buffer, len(site.fields),
                                site.out, len(site.result_fields), byref(trap))
            if error or trap:
                self._raise(error, trap)
            fields, out = site.result_fields, site.out
            if len(fields) == 1:  # the common case
                return getattr(out[0].of, fields[0])
            if not fields:
                return None
            return tuple(getattr(out[i].of, field) for i, field in enumerate(fields))
        finally:
            b.store_delete(store)

    def call_phases(self, module: wasmtime.Module, site: CallSite, args: tuple, clock):
        """`call`, with `clock()` read between its steps: (answer, [(name, t0, t1), ...])
        for a new Store (with its limits), instantiating, the call, deleting the Store."""
        b, buffer = self._b, site.args
        for i, field in enumerate(site.fields):
            setattr(buffer[i].of, field, args[i])
        t0 = clock()
        store = self._new_store()
        try:
            t1 = clock()
            instance = self._instantiate(b.store_context(store), module)
            t2 = clock()
            context, extern, trap = b.store_context(store), self._extern, POINTER(b.trap_t)()
            if not b.export_get(context, byref(instance), site.name_bytes,
                                len(site.name_bytes), byref(extern)):
                raise LookupError(f"no export named {site.name_bytes.decode()!r}")
            error = b.func_call(context, byref(extern.of.func), buffer, len(site.fields),
                                site.out, len(site.result_fields), byref(trap))
            if error or trap:
                self._raise(error, trap)
            answer = getattr(site.out[0].of, site.result_fields[0])
            t3 = clock()
        finally:
            b.store_delete(store)
        t4 = clock()
        return answer, [("store", t0, t1), ("instantiate", t1, t2), ("call", t2, t3),
                        ("drop", t3, t4)]

    def new_live(self, module: wasmtime.Module):
        """An instance kept live in its own Store; returns the Store, for `drop_live`."""
        store = self._new_store()
        try:
            self._instantiate(self._b.store_context(store), module)
        except BaseException:
            self._b.store_delete(store)
            raise
        return store

    def drop_live(self, store) -> None:
        self._b.store_delete(store)

    def _new_store(self):
        b = self._b
        store = b.store_new(self._engine_ptr, None, b.no_finalizer)
        if not store:
            raise LimitExceeded("wasm", LIMIT_MEMORY, NO_STORE)
        b.store_limiter(store, *self._limits)
        b.set_epoch_deadline(b.store_context(store), self._deadline)
        return store

    def _instantiate(self, context, module: wasmtime.Module):
        b = self._b
        trap = POINTER(b.trap_t)()
        instance = b.instance_t()
        error = b.instance_new(context, module.ptr(), None, 0, byref(instance), byref(trap))
        if error or trap:
            self._raise(error, trap)
        return instance

    def _raise(self, error, trap):
        if error:
            raise self._b.error_from_ptr(error) from None
        raise self._b.trap_from_ptr(trap) from None


@functools.cache
def probe() -> tuple[_Bindings | None, str]:
    """Try the fast path once per process: (bindings, "") or (None, why it cannot be used).

    Every private piece is exercised: symbol and constant lookup, a call with an answer, a
    trap, an instantiation error and a live instance. Any exception means "do not use it".
    """
    try:
        bindings = _Bindings()
        engine = wasmtime.Engine()
        calls = CApiCalls(bindings, engine, PROBE_LIMITS, 1)
        module = wasmtime.Module(engine, PROBE_WAT)
        if calls.call(module, calls.site("twice", ["i64"], ["i64"]), (21,)) != 42:
            raise ValueError("a test call gave a wrong answer")
        try:
            calls.call(module, calls.site("crash", [], []), ())
        except wasmtime.Trap as trap:
            if trap.trap_code is not wasmtime.TrapCode.UNREACHABLE:
                raise ValueError(f"a test trap came back as {trap.trap_code}") from None
        else:
            raise ValueError("a test trap was not reported")
        try:
            calls.new_live(wasmtime.Module(engine, PROBE_TOO_BIG))
        except wasmtime.WasmtimeError:
            pass
        else:
            raise ValueError("a Store's memory limit was not applied")
        calls.drop_live(calls.new_live(module))
    except Exception as exc:  # any failure at all means: use the public API
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())
        note = (f"wasmtime {_version()}'s private C bindings failed labkit's self-test "
                f"({detail[:160]}); wasm calls use the public API instead (same answers and "
                "caps, several times the time per call)")
        logging.getLogger("labkit").warning("labkit: %s", note)  # said once per process
        return None, note
    return bindings, ""


def fast_calls(engine: wasmtime.Engine, limits: tuple, deadline_ticks: int) -> CApiCalls | None:
    """The fast path for this engine, or None where the probe found it broken."""
    bindings, _ = probe()
    return None if bindings is None else CApiCalls(bindings, engine, limits, deadline_ticks)


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("wasmtime")
    except Exception:  # only for the message
        return "(unknown version)"


# --- the pooling allocator (wasm's warm path) -------------------------------------------------
# wasmtime-py's public Config has no setter for the pooling allocator; its C API does
# (`wasmtime_pooling_allocation_config_*`, `wasmtime_pooling_allocation_strategy_set`), and
# wasmtime-py ships ctypes bindings for them in its private `_bindings`. They are reached here
# and only here. Beware: a Config the engine rejects is not an error in that C API but a
# panic that aborts the whole process, so callers must hand in settings already known to be
# valid (memory_reservation >= the pool's max memory size; address space for every slot).
POOLING_SETTERS = ("total_core_instances_set", "total_memories_set", "total_tables_set",
                   "max_memory_size_set", "table_elements_set",
                   "max_core_instance_size_set", "max_memories_per_module_set")


def set_pooling(config: wasmtime.Config, slots: int, memory_bytes: int,
                table_elements: int, instance_bytes: int) -> None:
    """Switch `config` to the pooling allocator: `slots` instances, each with one linear
    memory of at most `memory_bytes` and its tables, reserved up front and reused; raises
    ImportError or AttributeError where this wasmtime-py has no such bindings."""
    bindings = importlib.import_module("wasmtime._bindings")
    setters = {name: getattr(bindings, f"wasmtime_pooling_allocation_config_{name}")
               for name in POOLING_SETTERS}
    pool = bindings.wasmtime_pooling_allocation_config_new()
    if not pool:
        raise MemoryError("wasmtime could not allocate a pooling configuration")
    try:
        setters["total_core_instances_set"](pool, slots)
        setters["total_memories_set"](pool, slots)
        setters["total_tables_set"](pool, slots)
        setters["max_memory_size_set"](pool, memory_bytes)
        setters["table_elements_set"](pool, table_elements)
        setters["max_core_instance_size_set"](pool, instance_bytes)
        setters["max_memories_per_module_set"](pool, 1)
        bindings.wasmtime_pooling_allocation_strategy_set(config.ptr(), pool)
    finally:
        bindings.wasmtime_pooling_allocation_config_delete(pool)
