"""WebAssembly isolates on wasmtime: compile once, a fresh instance for every call.

The kitchen: one engine (the restaurant's stove and tools) is prepared when the sandbox
opens; each call gets its own Store and Instance (a personal chef with a private bench of
linear memory), runs, and is thrown away. The guest can touch nothing but its own memory
and what the host hands it: `cold_call` and `call_export` grant no imports at all,
`run_wasi` grants WASI with no pre-opened directories and no sockets, so no host files and
no network. WASI's one blocking call, `poll_oneoff` (sleep), is labkit's own: it sleeps at
most until the call's time cap, in short steps so Ctrl-C still works, then stops the guest.
`run_tool("python", ...)` runs CPython compiled to WASI (`_python.py`) the same way: a fresh
Store and instance per call, the input on its stdin, no files, no network.

Caps, all set per Store: time by epoch interruption (a ticker thread advances the
engine's epoch; a guest past its deadline traps: `Limits.cpu_seconds` is enforced as
wall-clock time, which also bounds the call's CPU time), memory by `Store.set_limits` (a
`memory.grow` past it returns -1 inside the guest; a module that needs more at start is
refused), stack by the engine's `max_wasm_stack`. Every trap comes back as a labkit
`LimitExceeded` or `GuestError` with a one-line reason, never a raw backtrace.

Speed: the hot path (new Store, instantiate, call, delete) calls wasmtime's C API through
the ctypes bindings that wasmtime-py itself uses, skipping the per-call type lookups and
conversions of `Func.__call__`, which cost about three times the rest. Those bindings are
private, so they live fenced in `_capi.py` behind a self-test: where it fails, calls
go through the public Store/Instance API with the same caps and answers, and labkit says
so in one line (`calls_via` names the path in use). Traps and errors of both paths go
through the same translation. One sandbox is meant for one thread at a time (it reuses
small call buffers).

Warm path (`warm_call`, `warm_tool`): the same fresh-instance calls on a second engine whose
allocator is wasmtime's pooling allocator with copy-on-write memory images (`_pooled.py`,
reached through the fenced C bindings in `_capi.py`), made at the first warm call.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import errno
import gc
import math
import os
import struct
import tempfile
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from importlib import metadata, resources

import psutil
import wasmtime

from ...errors import LIMIT_TIME, GuestError, LabkitError, LimitExceeded, NotSupported
from ...measure import Memory, check_count, processes_memory
from ...workload import (
    STANDARD_N,
    WORKLOAD_LANGUAGES,
    check_n,
    check_tool_output,
    expected,
    tool_input,
    tool_program,
    tool_source,
)
from .. import _tools
from ..base import Availability, Capabilities, Limits, Sandbox, phase_split
from . import _capi, _pooled, _python, _room
from ._room import (
    MEMORY_GUARD,
    MEMORY_RESERVATION,
    RESERVATION_FOR_GROWTH,
    LiveLimit,
)

KIND = "wasm"
# The epoch ticker's period: a runaway guest is stopped at most this much after its cap.
TICK_SECONDS = 0.01
# Wasm stack for one call; deeper recursion traps with STACK_OVERFLOW.
MAX_WASM_STACK = 512 * 2**10
# Per isolate: one linear memory (so the memory cap is the whole budget), a bounded
# number of tables and table elements (8 bytes each), one instance.
MAX_MEMORIES, MAX_TABLES, MAX_TABLE_ELEMENTS, MAX_INSTANCES = 1, 10, 1_000_000, 1
# Compiled modules kept (by source); the reader's experiments should not grow it forever.
MODULE_CACHE_SIZE = 64
MAX_SOURCE_BYTES = 16 * 2**20
# What a WASI guest may print before its output is cut off.
MAX_OUTPUT_BYTES = 2**20

# Open sandboxes, closed at interpreter exit: WASI output streams dropped during the
# interpreter's teardown call back into Python from wasmtime's tokio threads, which then
# panic. So they are dropped at exit first, with a moment for those threads to finish.
_open_boxes: weakref.WeakSet = weakref.WeakSet()
_wasi_used = False
EXIT_SETTLE_SECONDS = 0.2
# poll_oneoff's sleep, in steps this long, so a KeyboardInterrupt lands within one step.
SLEEP_STEP = 0.05
WASI_EINVAL, WASI_EFAULT = 28, 21
_SUBSCRIPTION, _EVENT = 48, 32

_WASM_MAGIC = b"\0asm"

# Value types a caller can pass and get back: wasm type -> (bits, accepted range) for
# integers (signed or unsigned, passed on as two's complement), None for floats.
_VALUE_KINDS = {
    "i32": (32, (-(2**31), 2**32)),
    "i64": (64, (-(2**63), 2**64)),
    "f32": None,
    "f64": None,
}


def guest_wat(name: str) -> str:
    """One of labkit's own WAT guests by file name (fib, spin, hog, recurse, ...)."""
    path = resources.files("labkit.guests").joinpath(f"{name}.wat")
    if not path.is_file():
        raise ValueError(f"no WAT guest named {name!r} in labkit/guests")
    return path.read_text()


@dataclass(frozen=True)
class WasiRun:
    """What a WASI guest printed and how it exited."""

    stdout: str
    stderr: str
    exit_code: int
    # The guest's linear memory when it ended (0 if it never started): evidence, unlike its
    # words, of whether a MemoryError met the Store's memory cap.
    memory_bytes: int = 0


class _Export:
    """One exported function: its value types, and its call site on the path in use."""

    def __init__(self, module: wasmtime.Module, name: str, calls):
        if not isinstance(name, str) or not name:
            raise TypeError(f"the export name must be a non-empty string, got {name!r}")
        found = {e.name: e.type for e in module.exports}
        if name not in found:
            names = ", ".join(sorted(found)) or "nothing"
            raise GuestError(KIND, f"the module has no export named {name!r} (it exports: "
                                   f"{names})")
        ty = found[name]
        if not isinstance(ty, wasmtime.FuncType):
            raise GuestError(KIND, f"the export {name!r} is a {type(ty).__name__}, "
                                   "not a function")
        self.name = name
        self.params = [self._value_type(name, str(t)) for t in ty.params]
        results = [self._value_type(name, str(t)) for t in ty.results]
        self.site = calls.site(name, self.params, results)

    @staticmethod
    def _value_type(name: str, wasm_type: str) -> str:
        if wasm_type not in _VALUE_KINDS:
            raise GuestError(KIND, f"the export {name!r} uses type {wasm_type}; labkit passes "
                                   "only numbers (i32, i64, f32, f64)")
        return wasm_type

    def checked_args(self, values: tuple) -> tuple:
        """The arguments, checked against the export's types (integers as signed)."""
        if len(values) != len(self.params):
            raise TypeError(f"{self.name} takes {len(self.params)} argument(s), "
                            f"got {len(values)}")
        checked = []
        for value, field in zip(values, self.params, strict=True):
            integer = _VALUE_KINDS[field]
            if integer is not None:
                bits, bounds = integer
                if isinstance(value, bool) or not isinstance(value, int):
                    raise TypeError(f"{self.name}: {field} arguments must be whole numbers, "
                                    f"got {value!r}")
                if not bounds[0] <= value < bounds[1]:
                    raise ValueError(f"{self.name}: {value} does not fit in an {field}")
                value = value - 2**bits if value >= 2 ** (bits - 1) else value
            elif isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{self.name}: {field} arguments must be numbers, got {value!r}")
            checked.append(value)
        return tuple(checked)


class _Compiled:
    """A compiled module and its exports, prepared on first use."""

    def __init__(self, module: wasmtime.Module):
        self.module = module
        self.imports = [f"{i.module}.{i.name}" for i in module.imports]
        self._exports: dict[str, _Export] = {}

    def export(self, name: str, calls) -> _Export:
        if name not in self._exports:
            self._exports[name] = _Export(self.module, name, calls)
        return self._exports[name]


class _PublicSite:
    """An export's name and result count, for the public API's calls."""

    def __init__(self, name: str, results: list[str]):
        self.name, self.multiple = name, len(results) > 1


class _PublicCalls:
    """Cold calls and live instances through wasmtime's public Store/Instance API.

    The path that needs nothing private: used where the fast path's self-test fails, or
    when asked for (`WasmSandbox(fast_path=False)`). Same Store limits, same deadline.
    """

    name = "public API"

    def __init__(self, engine: wasmtime.Engine, limits: tuple, deadline_ticks: int):
        self._engine, self._limits, self._deadline = engine, limits, deadline_ticks

    def site(self, name: str, params: list[str], results: list[str]) -> _PublicSite:
        return _PublicSite(name, results)

    def call(self, module: wasmtime.Module, site: _PublicSite, args: tuple):
        store = self._new_store()
        try:
            func = wasmtime.Instance(store, module, ()).exports(store).get(site.name)
            if not isinstance(func, wasmtime.Func):
                raise LookupError(f"no export named {site.name!r}")
            result = func(store, *args)
        finally:
            store.close()
        return tuple(result) if site.multiple else result

    def call_phases(self, module: wasmtime.Module, site: _PublicSite, args: tuple, clock):
        """`call`, with `clock()` read between its steps (as CApiCalls.call_phases)."""
        t0 = clock()
        store = self._new_store()
        try:
            t1 = clock()
            instance = wasmtime.Instance(store, module, ())
            t2 = clock()
            func = instance.exports(store).get(site.name)
            if not isinstance(func, wasmtime.Func):
                raise LookupError(f"no export named {site.name!r}")
            answer = func(store, *args)
            t3 = clock()
        finally:
            store.close()
        t4 = clock()
        return answer, [("store", t0, t1), ("instantiate", t1, t2), ("call", t2, t3),
                        ("drop", t3, t4)]

    def new_live(self, module: wasmtime.Module) -> wasmtime.Store:
        store = self._new_store()
        try:
            wasmtime.Instance(store, module, ())
        except BaseException:
            store.close()
            raise
        return store

    def drop_live(self, store: wasmtime.Store) -> None:
        store.close()

    def _new_store(self) -> wasmtime.Store:
        store = wasmtime.Store(self._engine)
        store.set_limits(*self._limits)
        store.set_epoch_deadline(self._deadline)
        return store


class _EpochTicker:
    """A thread that advances the engine's epoch, so deadlines turn into wall time."""

    def __init__(self, engine: wasmtime.Engine, interval: float = TICK_SECONDS):
        self._engine, self._interval = engine, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="labkit-wasm-epoch",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._engine.increment_epoch()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()


class _CappedOutput:
    """Collects what a WASI guest writes to one stream, up to MAX_OUTPUT_BYTES."""

    def __init__(self, limit: int = MAX_OUTPUT_BYTES):
        self.chunks: list[bytes] = []
        self.size, self.limit, self.overflowed = 0, limit, False

    def __call__(self, data: bytes) -> int:
        if self.size + len(data) > self.limit:
            self.overflowed = True
            return -errno.EFBIG  # the guest's write fails; the host stays in charge
        self.chunks.append(data)
        self.size += len(data)
        return len(data)

    def text(self) -> str:
        return b"".join(self.chunks).decode("utf-8", errors="replace")


class _WasiTimeUp(Exception):
    """Raised inside poll_oneoff when a guest's sleep would pass its time cap."""


def _one_line(message: str) -> str:
    """A runtime error on one line, without wasm backtrace frames."""
    kept = []
    for line in message.splitlines():
        line = line.strip()
        if not line or line in ("Caused by:", "wasm backtrace:") or line[:1].isdigit() or \
                line.startswith(("error while executing at", "note: using the")):
            continue
        kept.append(line)
    return "; ".join(kept[:3]) or "unknown error"


def _short(message: str, lines: int = 6) -> str:
    """wasmtime's multi-line error, condensed to its meaningful lines."""
    kept = [line.rstrip() for line in message.splitlines() if line.strip()]
    kept = [line for line in kept if line.strip() not in ("Caused by:",)]
    return "\n".join(kept[:lines])


def _as_text(data: bytes) -> str | None:
    """Bytes as WAT text, or None if they are not text (binary junk, another format)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any((ord(c) < 32 and c not in "\t\n\r") or c == "\x7f" for c in text):
        return None
    return text


def _trap_cause(trap: wasmtime.Trap) -> str:
    """The last line of a trap's message ('wasm trap: integer divide by zero')."""
    lines = [line.strip() for line in trap.message.splitlines() if line.strip()]
    cause = lines[-1] if lines else "unknown trap"
    return cause.removeprefix("wasm trap: ")


class WasmSandbox(Sandbox):
    """WebAssembly isolates: one engine, a fresh Store and Instance per call."""

    kind = KIND
    capabilities = Capabilities(family="isolate", cpu_cap="wall-clock",
                                memory_cap="linear memory per isolate (Store limits)",
                                guest_languages=("wat",), exports=True, tools=("python",),
                                held_tools=("python",), warm_calls=True)
    live_counts = {"quick": 1000, "full": 10_000}
    warm_how = _pooled.WARM_HOW

    def __init__(self, limits: Limits | None = None, fast_path: bool = True):
        """`fast_path=False` runs every call through the public API (for comparing)."""
        super().__init__(limits)
        self._fast_path = fast_path
        self._calls = None
        self._engine: wasmtime.Engine | None = None
        self._ticker: _EpochTicker | None = None
        self._modules: OrderedDict = OrderedDict()
        self._held: list = []
        self._held_tools: list = []  # CPython-on-WASI Stores kept live by hold
        self._wasi_linker: wasmtime.Linker | None = None
        # Set when opened, from the limits: Store memory, epoch deadline, the fib guest.
        self._memory_bytes = int(self.limits.memory_mb * 2**20)
        self._deadline_ticks = max(1, math.ceil(self.limits.cpu_seconds / TICK_SECONDS))
        self._fib: _Export | None = None
        self._fib_module: wasmtime.Module | None = None
        self._wasi_deadline = 0.0  # when the running WASI guest's time is up (monotonic)
        self._python: wasmtime.Module | None = None  # CPython-WASI, loaded at the first tool
        self.python_compiled_now = False  # whether that load had to compile it (tens of s)

    # --- availability -------------------------------------------------------------
    @classmethod
    def check(cls) -> Availability:
        # The import at the top of this module already proved wasmtime loads here; a fast
        # path that failed its self-test is worth a note, never a reason to refuse.
        _, note = _capi.probe()
        return Availability(cls.kind, True, note, "")

    def versions(self) -> dict:
        return {"wasmtime": metadata.version("wasmtime"), "wasm calls": self.calls_via,
                **_python.versions()}

    @property
    def calls_via(self) -> str:
        """Which path cold calls take here: wasmtime's C API (fast) or its public API."""
        if self._calls is not None:
            return self._calls.name
        fast = self._fast_path and _capi.probe()[0] is not None
        return _capi.CApiCalls.name if fast else _PublicCalls.name

    # --- life cycle ---------------------------------------------------------------
    def _engine_config(self) -> wasmtime.Config:
        """The engine's settings (the warm path's pooled engine starts from these too)."""
        config = wasmtime.Config()
        config.epoch_interruption = True
        # SIMD off: wasmtime's C API aborts the whole process when asked about a v128 value
        # type, so a module using v128 must be refused at compile time, cleanly.
        config.wasm_relaxed_simd = False
        config.wasm_simd = False
        config.max_wasm_stack = MAX_WASM_STACK
        config.memory_reservation = MEMORY_RESERVATION
        config.memory_guard_size = MEMORY_GUARD
        config.memory_reservation_for_growth = RESERVATION_FOR_GROWTH
        return config

    def open(self) -> None:
        self._engine = wasmtime.Engine(self._engine_config())
        store_limits = (self._memory_bytes, MAX_TABLE_ELEMENTS, MAX_INSTANCES, MAX_TABLES,
                        MAX_MEMORIES)
        fast = _capi.fast_calls(self._engine, store_limits, self._deadline_ticks) \
            if self._fast_path else None
        self._calls = fast or _PublicCalls(self._engine, store_limits, self._deadline_ticks)
        fib = _Compiled(self._compile_uncached(guest_wat("fib")))
        # Kept outside the module cache, so evicting the reader's modules never frees it.
        self._fib, self._fib_module = fib.export("fib", self._calls), fib.module
        self._ticker = _EpochTicker(self._engine)
        _open_boxes.add(self)

    def close(self) -> None:
        _open_boxes.discard(self)
        self._close_warm()
        self._release_held()
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        self._modules.clear()
        self._wasi_linker = None
        self._python = None
        self._calls = None
        self._engine = None

    @property
    def engine(self) -> wasmtime.Engine:
        """The engine every isolate of this sandbox runs on (for benchmarks/ comparing
        labkit's calls with bare wasmtime on the same engine)."""
        self._require_open()
        return self._engine

    @property
    def fib_module(self) -> wasmtime.Module:
        """The compiled standard workload (fib.wat) that cold calls instantiate."""
        self._require_open()
        return self._fib_module

    @property
    def ticking(self) -> bool:
        """Whether the epoch ticker thread is running (it must stop when the box closes)."""
        return self._ticker is not None and self._ticker.running

    # --- compiling ----------------------------------------------------------------
    def compile(self, source, cache: bool = True) -> wasmtime.Module:
        """Compile WAT text (str) or a wasm binary (bytes); cached by the source itself."""
        if not cache:
            return self._compile_uncached(source)
        return self._compile(source).module

    def _compile(self, source) -> _Compiled:
        key = bytes(source) if isinstance(source, (bytearray, memoryview)) else source
        compiled = self._modules.get(key)
        if compiled is None:
            compiled = _Compiled(self._compile_uncached(key))
            self._modules[key] = compiled
            if len(self._modules) > MODULE_CACHE_SIZE:
                self._modules.popitem(last=False)
        else:
            self._modules.move_to_end(key)
        return compiled

    def _compile_uncached(self, source) -> wasmtime.Module:
        if isinstance(source, (bytearray, memoryview)):
            source = bytes(source)
        if not isinstance(source, (str, bytes)):
            raise TypeError("a module is WAT text (str) or a wasm binary (bytes), "
                            f"got {type(source).__name__}")
        if len(source) > MAX_SOURCE_BYTES:
            raise ValueError(f"the module is {len(source):,} bytes; labkit accepts at most "
                             f"{MAX_SOURCE_BYTES:,}")
        if isinstance(source, bytes) and not source.startswith(_WASM_MAGIC):
            text = _as_text(source)
            if text is None:
                raise GuestError(KIND, "invalid wasm bytes: a WebAssembly binary starts with "
                                       rf"b'\0asm', these start with {source[:4]!r} (and "
                                       "they are not WAT text either)")
            source = text
        what = "invalid WAT (WebAssembly text)" if isinstance(source, str) else \
            "invalid wasm binary"
        if isinstance(source, str) and not source.strip():
            raise GuestError(KIND, f"{what}: the text is empty")
        try:
            return wasmtime.Module(self._engine, source)
        except wasmtime.WasmtimeError as exc:
            detail = _short(str(exc))
            if isinstance(source, bytes):  # no source lines to point at: one line is clearer
                detail = ": ".join(" ".join(line.split()) for line in detail.splitlines())
            raise GuestError(KIND, f"{what}: {detail}") from None

    # --- running ------------------------------------------------------------------
    def cold_call(self, n: int = STANDARD_N) -> int:
        """A fresh isolate: new Store and Instance, fib(n), torn down; returns the answer."""
        check_n(n)
        return self._run(self._fib_module, self._fib, (n,))

    def call_export(self, source, export: str, *args):
        """Run one exported function of the reader's own WAT or wasm in a fresh isolate.

        The module gets no imports at all (no WASI, no host functions); arguments and
        results are numbers. A trap or a cap comes back as GuestError or LimitExceeded.
        """
        compiled = self._compile(source)
        if compiled.imports:
            raise GuestError(KIND, f"the module imports {', '.join(compiled.imports)}; "
                                   "call_export grants no imports (run_wasi grants WASI)")
        target = compiled.export(export, self._calls)
        return self._run(compiled.module, target, target.checked_args(args))

    def _run(self, module: wasmtime.Module, target: _Export, args: tuple):
        """The hot path: a Store, an Instance, one call, then the Store is deleted."""
        try:
            return self._calls.call(module, target.site, args)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            raise self.translate(exc) from None
        except LookupError as exc:
            raise GuestError(KIND, str(exc)) from None

    def translate(self, exc: Exception) -> LabkitError:
        """A wasmtime trap or error as labkit's error, with a one-line reason."""
        if isinstance(exc, wasmtime.Trap):
            code = exc.trap_code
            if code is wasmtime.TrapCode.INTERRUPT:
                return LimitExceeded(KIND, LIMIT_TIME, f"{self.limits.cpu_seconds:g} s of "
                                     "wall-clock time; stopped by epoch interruption")
            if code is wasmtime.TrapCode.OUT_OF_FUEL:
                return LimitExceeded(KIND, "CPU fuel", "stopped when its fuel ran out")
            if code is wasmtime.TrapCode.STACK_OVERFLOW:
                return LimitExceeded(KIND, "stack", f"{MAX_WASM_STACK // 1024} KiB; the call "
                                     "stack overflowed (deep or endless recursion)")
            return GuestError(KIND, f"the guest trapped: {_trap_cause(exc)}")
        text = str(exc)
        if "memory limits" in text or "memory minimum size" in text:
            return LimitExceeded(KIND, "memory", f"{self.limits.memory_mb:g} MiB; "
                                 f"{_short(text, 1)}")
        if "memory count" in text:
            return LimitExceeded(KIND, "memory", f"{MAX_MEMORIES} linear memory per isolate; "
                                 f"{_short(text, 1)}")
        if "table" in text and ("limits" in text or "count" in text):
            return LimitExceeded(KIND, "table", f"{MAX_TABLES} tables of at most "
                                 f"{MAX_TABLE_ELEMENTS:,} elements; {_short(text, 1)}")
        return GuestError(KIND, f"the module could not run: {_one_line(text)}")

    def run_wasi(self, source, argv: tuple[str, ...] | list[str] = ()) -> WasiRun:
        """Run a WASI program's `_start` in a fresh isolate; its stdout/stderr captured.

        WASI is the only door: no pre-opened directories (so no host files), no sockets
        (so no network), no environment variables; argv is what you pass.
        """
        if isinstance(argv, str) or not all(isinstance(a, str) for a in argv):
            raise TypeError("argv must be a list of strings")
        return self._start_wasi(self._compile(source).module, ["guest", *argv])

    def _start_wasi(self, module: wasmtime.Module, argv: list[str],
                    stdin_path: str | None = None, keep: list | None = None) -> WasiRun:
        """`_start` of a WASI module in a fresh Store: argv as given, stdin from a file.
        With `keep`, the Store is appended to it, live, instead of closed (a held instance:
        whoever keeps it closes it)."""
        if self._wasi_linker is None:
            self._wasi_linker = self._make_wasi_linker()
        global _wasi_used
        _wasi_used = True
        out, err = _CappedOutput(), _CappedOutput()
        wasi = wasmtime.WasiConfig()
        wasi.argv = argv
        if stdin_path is not None:
            wasi.stdin_file = stdin_path
        wasi.stdout_custom = out
        wasi.stderr_custom = err
        store = wasmtime.Store(self._engine)
        try:
            store.set_limits(self._memory_bytes, MAX_TABLE_ELEMENTS, MAX_INSTANCES,
                             MAX_TABLES, MAX_MEMORIES)
            store.set_epoch_deadline(self._deadline_ticks)
            store.set_wasi(wasi)
            exit_code, instance = 0, None
            self._wasi_deadline = time.monotonic() + self.limits.cpu_seconds
            try:
                instance = self._wasi_linker.instantiate(store, module)
                start = instance.exports(store).get("_start")
                if not isinstance(start, wasmtime.Func):
                    raise GuestError(KIND, "a WASI program must export a function `_start`")
                start(store)
            except wasmtime.ExitTrap as exc:
                exit_code = exc.code
            except _WasiTimeUp:
                raise LimitExceeded(KIND, LIMIT_TIME, f"{self.limits.cpu_seconds:g} s; a "
                                    "WASI sleep (poll_oneoff) would have passed it") from None
            except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
                raise self.translate(exc) from None
            memory = instance.exports(store).get("memory") if instance is not None else None
            size = memory.data_len(store) if isinstance(memory, wasmtime.Memory) else 0
        except BaseException:
            store.close()
            raise
        if keep is None:
            store.close()
        else:
            keep.append(store)
        for name, stream in (("stdout", out), ("stderr", err)):
            if stream.overflowed:
                raise LimitExceeded(KIND, "output", f"more than {MAX_OUTPUT_BYTES:,} bytes "
                                                    f"written to {name}")
        return WasiRun(out.text(), err.text(), exit_code, size)

    # --- tool calls and the floor --------------------------------------------------------
    def _engine_settings(self) -> str:
        """What a compiled module depends on besides wasmtime's version (its cache key)."""
        return (f"simd=0 epoch=1 stack={MAX_WASM_STACK} reservation={MEMORY_RESERVATION} "
                f"guard={MEMORY_GUARD} growth={RESERVATION_FOR_GROWTH}")

    def _run_tool(self, language: str, source: str, input_json: str,
                  keep: list | None = None) -> str:
        """A Python tool in CPython-on-WASI: a fresh Store and instance, the input on stdin.
        The first call of a sandbox loads the interpreter (compiling it once per machine).
        With `keep`, the instance's Store is kept live there after the call (`hold`)."""
        _tools.check_tool_call(language, source, input_json)
        if self._python is None:
            self._python, self.python_compiled_now = _python.load_module(
                self._engine, self._engine_settings())
        argv = ["python", "-I", "-S", "-c", tool_program(language, source)]
        fd, stdin_path = tempfile.mkstemp(prefix="labkit-tool-", suffix=".json")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(input_json.encode())
            run = self._start_wasi(self._python, argv, stdin_path, keep)
        finally:
            os.unlink(stdin_path)
        # CPython turns a memory.grow the Store refused into MemoryError: a cap only if the
        # memory really stood near it (a tool can raise MemoryError by itself).
        said = run.stderr.strip().splitlines()[-1:] == ["MemoryError"]
        if run.exit_code != 0 and said and run.memory_bytes >= 0.5 * self._memory_bytes:
            raise LimitExceeded(KIND, "memory", f"{self.limits.memory_mb:g} MiB of linear "
                                f"memory; CPython's allocation was refused at "
                                f"{run.memory_bytes / 2**20:.0f} MiB")
        return _tools.tool_answer(KIND, run.exit_code, run.stdout, run.stderr)

    def floor_call(self) -> None:
        """An empty call from Python into wasmtime (the engine's epoch tick, through the same
        ctypes bindings): the in-process path with no Store, no instance, no guest."""
        self._engine.increment_epoch()

    def _make_wasi_linker(self) -> wasmtime.Linker:
        """WASI, with poll_oneoff replaced by a sleep bounded by the call's time cap."""
        linker = wasmtime.Linker(self._engine)
        linker.define_wasi()
        linker.allow_shadowing = True
        i32 = wasmtime.ValType.i32()
        linker.define_func("wasi_snapshot_preview1", "poll_oneoff",
                           wasmtime.FuncType([i32, i32, i32, i32], [i32]),
                           self._poll_oneoff, access_caller=True)
        return linker

    def _poll_oneoff(self, caller, subs_ptr: int, events_ptr: int, count: int,
                     nevents_ptr: int) -> int:
        """WASI poll_oneoff: fd subscriptions are ready at once (there is no real fd to wait
        on); clock subscriptions sleep, but never past the call's time cap."""
        memory = caller.get("memory")
        if not isinstance(memory, wasmtime.Memory) or count <= 0 or count > 4096:
            return WASI_EINVAL
        try:
            raw = memory.read(caller, subs_ptr, subs_ptr + count * _SUBSCRIPTION)
        except Exception:
            return WASI_EFAULT
        subs = []
        for i in range(count):
            base = i * _SUBSCRIPTION
            userdata, tag = struct.unpack_from("<QB", raw, base)
            if tag == 0:
                clock, timeout, _, flags = struct.unpack_from("<I4xQQH", raw, base + 16)
                seconds = timeout / 1e9
                if flags & 1:  # an absolute time on that clock
                    clock_id = time.CLOCK_REALTIME if clock == 0 else time.CLOCK_MONOTONIC
                    seconds -= time.clock_gettime(clock_id)
                subs.append((userdata, tag, max(0.0, seconds)))
            else:
                subs.append((userdata, tag, None))
        ready = [sub for sub in subs if sub[2] is None]
        if not ready:
            wait = min(sub[2] for sub in subs)
            self._sleep_within_cap(wait)
            ready = [sub for sub in subs if sub[2] <= wait]
        events = b"".join(struct.pack("<QHBxxxxxQH6x", userdata, 0, tag, 0, 0)
                          for userdata, tag, _ in ready)
        try:
            memory.write(caller, events, events_ptr)
            memory.write(caller, struct.pack("<I", len(ready)), nevents_ptr)
        except Exception:
            return WASI_EFAULT
        return 0

    def _sleep_within_cap(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while True:
            now = time.monotonic()
            if now >= end:
                return
            if now >= self._wasi_deadline:
                raise _WasiTimeUp
            time.sleep(min(SLEEP_STEP, end - now, max(0.0, self._wasi_deadline - now)))

    # --- where the time goes and what is shared ------------------------------------------
    def _phases(self, workload: str) -> dict[str, float]:
        """One cold fib call, on the path cold calls take, as its steps: a new Store with
        its limits, instantiating the precompiled module, the call, deleting the Store;
        "other" is the Python around them. Compiling fib.wat is not a step of a cold call:
        it happened once, when the sandbox opened."""
        if workload != "fib":
            raise NotSupported(self.kind, f"phases() of the {workload} workload (only fib)",
                               [])
        clock = time.perf_counter_ns
        start = clock()
        try:
            answer, spans = self._calls.call_phases(self._fib_module, self._fib.site,
                                                    (STANDARD_N,), clock)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            raise self.translate(exc) from None
        end = clock()
        if answer != expected(STANDARD_N):
            raise GuestError(KIND, f"phases: fib({STANDARD_N}) answered {answer!r}")
        return phase_split(spans, start, end)

    def _shared_footprint(self) -> tuple[Memory, str]:
        """What every wasm isolate here shares: wasmtime's library mapped into this Python
        process (its PSS, from /proc/self/smaps); the engine's own small heap is not told
        apart from Python's and is left out."""
        total, python = 0, False
        with contextlib.suppress(psutil.Error, OSError):
            for region in psutil.Process().memory_maps(grouped=True):
                name = os.path.basename(region.path)
                if "wasmtime" in name:
                    total += region.pss
                elif name.startswith("python-") and name.endswith(".cwasm"):
                    total, python = total + region.pss, True
        what = "wasmtime's library in this Python process (the engine's code)"
        if python:
            what = ("wasmtime's library and CPython-on-WASI's compiled code, mapped into "
                    "this Python process")
        return Memory(pss=total, processes=0), what

    # --- the warm path: the same calls on a pooled engine (_pooled.py) -------------------
    def warm_call(self, n: int = STANDARD_N) -> int:
        """fib(n) in a fresh instance from the pooling allocator's reserved slots."""
        return self._pooled_side().cold_call(n)

    def warm_tool(self, language: str, source: str, input_json: str) -> str:
        """A Python tool in CPython-on-WASI, instantiated from a pooled slot (copy-on-write
        memory image), the same program and caps as `run_tool`."""
        self._require_open()
        return self._pooled_side().run_tool(language, source, input_json)

    def _pooled_side(self):
        self._require_open()
        if getattr(self, "_pooled", None) is None:
            self._pooled = _pooled.open_pooled(type(self), self.limits, self._fast_path)
        return self._pooled

    def _close_warm(self) -> None:
        pooled, self._pooled = getattr(self, "_pooled", None), None
        if pooled is not None:
            _pooled.close_pooled(pooled)

    # --- density ------------------------------------------------------------------
    def live_limit(self) -> LiveLimit:
        """The most live instances this process can hold, and the limit that decides it."""
        return _room.live_limit(len(self._held))

    def max_live(self) -> int:
        return self.live_limit().count

    def check_live_count(self, count) -> int:
        """Refuse a count that is not a whole number >= 1 or more than fits, saying why."""
        check_count("count", count)
        limit = self.live_limit()
        if count > limit.count:
            raise ValueError(f"cannot hold {count:,} live wasm instances here; at most "
                             f"{limit.count:,} fit, because {limit.reason}")
        return count

    @contextlib.contextmanager
    def hold(self, count: int, workload: str = "fib"):
        """Keep `count` idle instances live (each with one touched page of memory); for
        "tool-py", CPython-on-WASI instances, each kept after one run of the standard tool
        (its linear memory as the tool left it)."""
        self.check_live_count(count)
        if self.held_language(workload) is not None:
            with self._hold_tools(count, workload) as held:
                yield held
            return
        module = self._compile(guest_wat("resident")).module
        held = self._held
        try:
            for _ in range(count):
                try:
                    held.append(self._calls.new_live(module))
                except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
                    raise self.translate(exc) from None
            yield list(held)
        finally:
            self._release_held()

    def _prepare_hold(self, workload: str) -> None:
        """CPython-on-WASI is loaded and run once (its compiled code, shared by every
        instance, paged in) before a tool hold is weighed, so it counts as shared."""
        language = self.held_language(workload)
        if language is not None and self._python is None:  # loaded = already run once
            source, given = tool_source(language), tool_input(0)
            check_tool_output(given, self._run_tool(language, source, given))

    @contextlib.contextmanager
    def _hold_tools(self, count: int, workload: str):
        language = WORKLOAD_LANGUAGES[workload]
        source, given = tool_source(language), tool_input(0)
        try:
            for _ in range(count):
                check_tool_output(given, self._run_tool(language, source, given,
                                                        keep=self._held_tools))
            yield list(self._held_tools)
        finally:
            self._release_held()

    @property
    def live(self) -> int:
        """How many instances `hold` is keeping alive right now."""
        return len(self._held) + len(self._held_tools)

    def _release_held(self) -> None:
        released = bool(self._held or self._held_tools)
        while self._held:
            self._calls.drop_live(self._held.pop())
        while self._held_tools:
            self._held_tools.pop().close()
        if released:
            _return_free_heap()

    def footprint(self) -> Memory:
        """This process's memory: wasm isolates live inside it, not in processes of their own."""
        return processes_memory([psutil.Process()])


def _return_free_heap() -> None:
    """Hand freed heap back to the OS (glibc keeps it otherwise), so the next density
    measurement starts from a true baseline instead of reusing the last one's pages."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


@atexit.register
def _close_open_boxes() -> None:
    """Close what the reader left open, while the interpreter can still do it cleanly."""
    for box in list(_open_boxes):
        with contextlib.suppress(Exception):
            box.close()
    gc.collect()
    if _wasi_used:
        time.sleep(EXIT_SETTLE_SECONDS)
