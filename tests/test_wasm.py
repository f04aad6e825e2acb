"""WebAssembly isolates: right answers, caps that hold, nothing outliving its block.

Every test of an open box runs twice: on the fast path (wasmtime's C API through its
private bindings) and on the public Store/Instance API that labkit falls back to.
"""

import json
import os
import re
import subprocess
import sys
import time

import pytest
import wasmtime
from conftest import more_than_fit
from contract import SandboxContract

from labkit import paths
from labkit.errors import GuestError, LimitExceeded, NotOpen
from labkit.sandboxes import Limits, wasm
from labkit.sandboxes.wasm import WasmSandbox, _capi, _room, guest_wat
from labkit.workload import expected

pytestmark = pytest.mark.usefixtures("nothing_left_behind")

ADD = """(module (func (export "add") (param i32 i32) (result i32)
           (i32.add (local.get 0) (local.get 1))))"""
CALL_PATHS = {"fast": _capi.CApiCalls.name, "public": wasm._PublicCalls.name}


class TestWasm(SandboxContract):
    kind = "wasm"
    # One touched 4 KiB page plus the Store's bookkeeping: kilobytes, not megabytes.
    memory_range = (2_000, 200_000)
    memory_count = 2000
    hold_count = 50
    density_counts = (100, 1000)
    export_call = (ADD, "add", (2, 40), 42)

    def spin(self, limits):
        with WasmSandbox(limits) as box:
            box.call_export(guest_wat("spin"), "spin")

    def live_instances(self, box):
        return box.live

    def hog(self, limits):
        with WasmSandbox(limits) as box:  # memory.grow returns -1 at the cap
            return box.call_export(guest_wat("hog"), "grow") * 2**16


@pytest.fixture(params=sorted(CALL_PATHS))
def box(request):
    fast = request.param == "fast"
    with WasmSandbox(Limits(cpu_seconds=0.5, memory_mb=8), fast_path=fast) as sandbox:
        assert sandbox.calls_via == CALL_PATHS[request.param]
        yield sandbox


def test_compiles_once_and_caches_by_source(box):
    assert box.compile(ADD) is box.compile(ADD)
    assert box.compile(ADD, cache=False) is not box.compile(ADD)


def test_module_cache_is_bounded(box):
    for i in range(wasm.MODULE_CACHE_SIZE + 5):
        box.call_export(f'(module (func (export "k") (result i32) (i32.const {i})))', "k")
    assert len(box._modules) <= wasm.MODULE_CACHE_SIZE
    assert box.run_standard() == expected()  # the standard module survives eviction


def test_runs_the_readers_own_function(box):
    assert box.call_export(ADD, "add", 2, 40) == 42
    assert box.call_export(ADD.encode(), "add", -1, 1) == 0


def test_runs_a_wasm_binary_and_returns_several_results(box):
    binary = wasmtime.wat2wasm('(module (func (export "pair") (param f64) (result f64 i64) '
                               '(f64.mul (local.get 0) (f64.const 2)) (i64.const 7)))')
    assert bytes(binary).startswith(b"\0asm")
    assert box.call_export(bytes(binary), "pair", 1.5) == (3.0, 7)


@pytest.mark.parametrize("args, error, message", [
    ((1,), TypeError, "takes 2 argument"),
    ((1, "x"), TypeError, "whole numbers"),
    ((1, 2**40), ValueError, "does not fit in an i32"),
])
def test_bad_arguments_are_named(box, args, error, message):
    with pytest.raises(error, match=message):
        box.call_export(ADD, "add", *args)


def test_missing_export_lists_what_there_is(box):
    with pytest.raises(GuestError, match="no export named 'sub'.*exports: add"):
        box.call_export(ADD, "sub", 1, 2)


@pytest.mark.parametrize("source, message", [
    ('(module (func (export "f")', "invalid WAT"),
    ("", "invalid WAT.*empty"),
    (b"\0asm\x02\0\0\0", "invalid wasm binary.*binary version"),
    (b"\xff\xfe\x00", "invalid wasm bytes.*\\\\0asm"),
    (b"\x7fELF\x02\x01", "invalid wasm bytes.*ELF"),
])
def test_invalid_code_gives_a_clear_error(box, source, message):
    with pytest.raises(GuestError, match=message) as caught:
        box.call_export(source, "f")
    assert "backtrace" not in str(caught.value)


def test_a_module_is_text_or_bytes(box):
    with pytest.raises(TypeError, match="WAT text"):
        box.call_export(42, "f")


def test_a_module_with_imports_gets_none(box):
    with pytest.raises(GuestError, match="imports env.read_file.*grants no imports"):
        box.call_export('(module (import "env" "read_file" (func)))', "f")


def test_a_trap_is_a_one_line_guest_error(box):
    with pytest.raises(GuestError, match="trapped: .*unreachable") as caught:
        box.call_export('(module (func (export "f") unreachable))', "f")
    assert "\n" not in str(caught.value)


def test_runaway_loop_stops_at_its_cpu_cap(box):
    started = time.perf_counter()
    with pytest.raises(LimitExceeded, match="time") as caught:
        box.call_export(guest_wat("spin"), "spin")
    elapsed = time.perf_counter() - started
    assert caught.value.limit == "time" and "wall-clock" in str(caught.value)
    assert 0.4 < elapsed < 10  # cap 0.5 s, generous upper bound for a busy machine
    assert box.run_standard() == expected()  # the box still works afterwards


def test_memory_growth_stops_at_its_cap(box):
    pages = box.call_export(guest_wat("hog"), "grow")  # returns when memory.grow says -1
    cap_pages = 8 * 2**20 // 2**16
    assert 1 < pages <= cap_pages


def test_a_module_needing_more_memory_than_the_cap_is_refused(box):
    with pytest.raises(LimitExceeded, match="memory limit") as caught:
        box.call_export('(module (memory 1000) (func (export "f")))', "f")
    assert caught.value.limit == "memory"


@pytest.mark.parametrize("source, limit", [
    ("(module (memory 1) (memory 1))", "memory"),
    ("(module (table 100000000 funcref))", "table"),
])
def test_other_resources_are_capped_too(box, source, limit):
    with pytest.raises(LimitExceeded) as caught:
        box.call_export(source[:-1] + ' (func (export "f")))', "f")
    assert caught.value.limit == limit


def test_deep_recursion_stops_at_its_stack_cap(box):
    with pytest.raises(LimitExceeded, match="stack") as caught:
        box.call_export(guest_wat("recurse"), "down", 0)
    assert "backtrace" not in str(caught.value)


def test_wasi_output_is_captured(box):
    run = box.run_wasi(guest_wat("hello_wasi"))
    assert run.stdout == "hello from inside the isolate\n"
    assert run.exit_code == 0


def test_a_guest_cannot_open_host_files_or_sockets(box):
    run = box.run_wasi(guest_wat("open_file"))
    assert run.exit_code == 8  # EBADF: no pre-opened directory (nor socket) to use


def test_wasi_output_is_capped(box):
    chatty = """(module
      (import "wasi_snapshot_preview1" "fd_write"
        (func $w (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 0) "\\10\\00\\00\\00\\00\\10\\00\\00")
      (func (export "_start")
        (loop $again (br_if $again (i32.eqz
          (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))))"""
    with pytest.raises(LimitExceeded, match="output"):
        box.run_wasi(chatty)


def test_wasi_program_without_start_is_named(box):
    with pytest.raises(GuestError, match="_start"):
        box.run_wasi(ADD)


def test_hold_refuses_more_than_fit_before_trying(box):
    maps_before = _room.count_maps()
    with pytest.raises(ValueError, match="vm.max_map_count"):
        with box.hold(more_than_fit(box)):
            pass
    assert box.live == 0
    assert _room.count_maps() <= maps_before + 10


def test_max_live_allows_ten_thousand():
    with WasmSandbox() as sandbox:
        limit = sandbox.live_limit()
        if limit.count < 10_000:  # a property of the machine, not of labkit
            pytest.skip(f"this machine fits {limit.count:,} live instances: {limit.reason}")
        assert sandbox.max_live() >= 10_000


def test_held_instances_are_live_then_gone(box):
    maps_before = _room.count_maps()
    with box.hold(500) as held:
        assert len(held) == box.live == 500
        maps_during = _room.count_maps()
    assert box.live == 0
    assert maps_during - maps_before >= 500  # each live memory is a real mapping
    assert (maps_during - maps_before) / 500 <= _room.MAPS_PER_LIVE_INSTANCE + 0.1
    assert _room.count_maps() <= maps_before + 10


@pytest.mark.parametrize("interruption", [KeyError, KeyboardInterrupt])
def test_an_exception_inside_hold_releases_everything(box, interruption):
    maps_before = _room.count_maps()
    with pytest.raises(interruption):
        with box.hold(200):
            raise interruption("boom")
    assert box.live == 0
    assert _room.count_maps() <= maps_before + 10


def test_the_engine_and_standard_module_are_reachable_while_open():
    sandbox = WasmSandbox()
    with sandbox:
        assert isinstance(sandbox.engine, wasmtime.Engine)
        store = wasmtime.Store(sandbox.engine)
        store.set_epoch_deadline(10**6)
        fib = wasmtime.Instance(store, sandbox.fib_module, ()).exports(store)
        assert fib["fib"](store, 20) == expected(20)
    with pytest.raises(NotOpen):
        getattr(sandbox, "engine")  # noqa: B009 (a property read for its exception)


def test_closing_releases_held_instances_and_stops_the_ticker():
    sandbox = WasmSandbox()
    with sandbox:
        assert sandbox.ticking
        holding = sandbox.hold(100)
        holding.__enter__()  # left open on purpose: close() must still release
        assert sandbox.live == 100
    assert sandbox.live == 0
    assert not sandbox.ticking


def test_bench_reports_the_contract():
    from labkit.bench import run_bench
    (result,) = run_bench(["wasm"], calls=50, live=200, show_progress=False)
    for key in ("kind", "n", "start_ms_p50", "start_ms_p99", "per_second",
                "mem_mb_per_instance", "machine"):
        assert key in result
    assert result["available"] and result["recorded"] is False
    assert 0 < result["start_ms_p50"] < 50


def test_unsigned_and_signed_arguments_agree_on_both_paths(box):
    echo = '(module (func (export "id") (param i32) (result i32) (local.get 0)))'
    assert box.call_export(echo, "id", 2**32 - 1) == -1  # the same 32 bits, read as signed
    assert box.call_export(echo, "id", -(2**31)) == -(2**31)


# --- the fast path, fenced --------------------------------------------------------------
def test_the_pinned_wasmtime_passes_the_fast_path_self_test():
    bindings, note = _capi.probe()
    assert bindings is not None and note == "", note
    with WasmSandbox() as sandbox:
        assert sandbox.versions()["wasm calls"] == _capi.CApiCalls.name


def _requirement(text: str) -> str:
    return next(line for line in text.splitlines() if re.search(r"['\"\s-]wasmtime[<>=]", line))


def test_wasmtime_is_bounded_below_its_next_major_version():
    from importlib.metadata import version

    from packaging.requirements import Requirement
    from packaging.version import Version

    installed = Version(version("wasmtime"))
    next_major = Version(f"{installed.major + 1}")
    for name in ("pyproject.toml", "environment.yml"):
        line = _requirement((paths.PROJECT_ROOT / name).read_text())
        spec = Requirement(line.strip(" \"',-")).specifier
        assert installed in spec, f"{name}: {line.strip()} excludes the installed {installed}"
        assert next_major not in spec, f"{name}: {line.strip()} admits wasmtime {next_major}"


# Ways a future wasmtime-py could break the private bindings, applied before labkit loads.
BREAKAGES = {
    "symbols renamed": "import wasmtime._ffi as f\nclass NoSymbols: pass\nf.dll = NoSymbols()",
    "module gone": "import sys, wasmtime\ndel wasmtime._ffi\nsys.modules['wasmtime._ffi'] = None",
    "constructor gone": "import wasmtime\ndel wasmtime.Trap._from_ptr",
    "a call that does nothing": (
        "import wasmtime._ffi as f\nreal = f.dll\n"
        "class Quiet:\n"
        "    def __getattr__(self, name):\n"
        "        if name == 'wasmtime_func_call':\n"
        "            return lambda *args: None\n"
        "        return getattr(real, name)\n"
        "f.dll = Quiet()"),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_doctor_reports_wasm_available_when_the_private_bindings_break(breakage):
    code = (BREAKAGES[breakage] + "\nimport runpy, sys\n"
            "sys.argv = ['labkit', 'doctor', '--json', '--kinds', 'wasm']\n"
            "runpy.run_module('labkit', run_name='__main__')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=os.path.dirname(sys.executable))
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(done.stdout)
    assert row["available"] is True, row  # the trial run went through the public API
    assert "public API" in row["reason"]
    assert "Traceback" not in done.stderr
    said = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(said) == 1 and "public API" in said[0], said  # one line, once


def test_a_sandbox_falls_back_when_the_self_test_fails(monkeypatch):
    def broken():
        raise AttributeError("wasmtime_store_new")

    monkeypatch.setattr(_capi, "_Bindings", broken)
    _capi.probe.cache_clear()
    try:
        assert "public API" in wasm.WasmSandbox.check().reason
        with WasmSandbox(Limits(cpu_seconds=0.5)) as sandbox:
            assert sandbox.calls_via == wasm._PublicCalls.name
            assert sandbox.run_standard() == expected()
            with pytest.raises(LimitExceeded, match="time"):
                sandbox.call_export(guest_wat("spin"), "spin")
    finally:
        _capi.probe.cache_clear()
