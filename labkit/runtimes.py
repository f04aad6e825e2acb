"""Finding and installing the runtimes the lab uses, where this machine allows it.

Python packages come from pyproject.toml; these are the others: workerd (V8 isolates) from
npm into the project's own .runtimes/ folder, and runc, crun and busybox-static (containers
and their root filesystem) from apt on Debian/Ubuntu when running as root, and the
micro-VM's Debian kernel and busybox initramfs (apt-get download, no root needed) into
.runtimes/microvm/. Where labkit may not install something, it prints the one command that
would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from . import paths

# A workerd release known to work with the lab's config (Worker Loader binding).
WORKERD_VERSION = "1.20261117.1"
# Binaries the container kinds need -> the Debian/Ubuntu package that brings each.
APT_PACKAGES = {"runc": "runc", "crun": "crun", "busybox": "busybox-static",
                # the stronger walls: bubblewrap (namespaces) and gVisor (runsc)
                "bwrap": "bubblewrap", "runsc": "runsc"}
SETUP_PARTS = ("containers", "v8", "microvm", "python-wasm")


def find_workerd() -> str | None:
    """The workerd binary: the project's own install first, then PATH."""
    if paths.WORKERD_LOCAL.exists():
        return str(paths.WORKERD_LOCAL)
    return shutil.which("workerd")


def workerd_install_command() -> list[str]:
    return ["npm", "install", "--prefix", str(paths.RUNTIMES_DIR), "--no-audit", "--no-fund",
            "--loglevel=error", f"workerd@{WORKERD_VERSION}"]


def setup_v8() -> str:
    """Install workerd from npm into .runtimes/ unless it is already there."""
    if find_workerd():
        return f"v8: workerd is installed ({find_workerd()})"
    if not shutil.which("npm"):
        return ("v8: workerd needs npm, which is missing; install Node.js and npm "
                "(Debian/Ubuntu: sudo apt-get install -y nodejs npm), then run "
                "`python -m labkit setup v8`")
    paths.RUNTIMES_DIR.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(workerd_install_command(), capture_output=True, text=True)
    if done.returncode != 0 or not find_workerd():
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"v8: npm could not install workerd: {tail[0]}"
    return f"v8: installed workerd {WORKERD_VERSION} into {paths.RUNTIMES_DIR}"


def missing_apt_packages() -> list[str]:
    return [pkg for binary, pkg in APT_PACKAGES.items() if not shutil.which(binary)]


def setup_containers() -> str:
    """apt-get install runc, crun and busybox-static when missing, if we are allowed to."""
    missing = missing_apt_packages()
    if not missing:
        return "containers: runc, crun and busybox are installed"
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
    if not sys.platform.startswith("linux") or not shutil.which("apt-get"):
        return (f"containers: missing {', '.join(missing)}; install them with your system's "
                "package manager, or use Docker/Podman (see README, Requirements)")
    if os.geteuid() != 0:
        return f"containers: missing {', '.join(missing)}; run: sudo {' '.join(command)}"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:  # the package lists may be missing or stale: refresh once
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env)
        done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        return f"containers: apt-get could not install {', '.join(missing)}: " + \
            (done.stderr.strip().splitlines() or ["no output"])[-1]
    return f"containers: installed {', '.join(missing)}"


def setup_microvm() -> str:
    """The micro-VM's kernel and initramfs into .runtimes/microvm/ (apt-get download: no
    root needed); QEMU itself comes from apt (.ci/run, or the line this prints)."""
    from .sandboxes.microvm import QEMU, QEMU_FIX, _image
    line = _image.setup()
    if not shutil.which(QEMU):
        line += f"; QEMU is missing: {'' if os.geteuid() == 0 else 'ask your admin: '}{QEMU_FIX}"
    return line


def setup_python_wasm() -> str:
    """CPython-on-WASI compiled once for this wasmtime (tens of seconds), so the first Python
    tool call in WebAssembly, in a notebook or a workshop, does not pay for it."""
    from .errors import LabkitError
    from .sandboxes.wasm import WasmSandbox
    try:
        with WasmSandbox() as box:
            box.run_tool("python", "def tool(input):\n    return input", "{}")
            fresh = box.python_compiled_now
    except (LabkitError, OSError) as exc:
        return f"python-wasm: could not prepare CPython for WebAssembly: {exc}"
    return ("python-wasm: compiled CPython for WebAssembly into .runtimes/wasm/" if fresh
            else "python-wasm: CPython for WebAssembly is ready (compiled before)")


def setup(parts=SETUP_PARTS) -> list[str]:
    """Install each part that is missing; return one line per part saying what happened."""
    actions = {"containers": setup_containers, "v8": setup_v8, "microvm": setup_microvm,
               "python-wasm": setup_python_wasm}
    unknown = [part for part in parts if part not in actions]
    if unknown:
        raise ValueError(f"unknown setup part {unknown[0]!r}; valid ones are: "
                         f"{', '.join(SETUP_PARTS)}")
    return [actions[part]() for part in parts]
