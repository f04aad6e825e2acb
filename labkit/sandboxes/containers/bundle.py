"""Building what an OCI runtime (runc, crun) runs: a root filesystem and a config.json.

labkit writes both itself rather than asking `runc spec`, so every isolation choice is
visible in one place (`container_config`): its own pid, mount, ipc, uts and network
namespaces (the network one holds only a loopback interface), a read-only root, no new
privileges, no capabilities, a seccomp allow list like Docker's (seccomp.py), cgroup caps
on memory and processes, and rlimits.

The root filesystem is Debian's busybox-static copied into rootfs/bin (one 2 MB binary
that is also sh, ps, hostname, ip, nc...), plus the guest script. Without a static
busybox, the host's /bin, /lib and /usr are bind-mounted read-only instead. One root
filesystem is shared by every container of a sandbox: it is read-only, so they cannot
disturb each other.

Bundle folders are named after their owner (see `_owned.py`), so a killed lab's are
removed at the next start.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import LabkitError
from ...workload import guest_source
from .. import _owned
from ..base import Limits
from . import seccomp

HOSTNAME = "labkit-guest"
# Where the guest script sits inside every container.
GUEST_PATH = "/labkit/fib.sh"
# What build_rootfs made, kept inside the rootfs folder.
MARKER = "labkit/rootfs.json"
# Host folders bind-mounted read-only when there is no static busybox to copy.
HOST_FOLDERS = ("/bin", "/sbin", "/lib", "/lib64", "/usr")
# Applets linked into rootfs/bin: what the workload and the notebook's tours use.
APPLETS = ("sh", "ash", "cat", "echo", "env", "head", "hostname", "id", "ip", "kill", "ls",
           "mount", "nc", "ps", "seq", "sleep", "tail", "touch", "tr", "true", "uname", "wc",
           "wget", "yes", "df", "free", "mkdir", "rm", "grep", "test", "[")
_counter = itertools.count(1)


def is_static_elf(path: str | Path) -> bool:
    """True if an ELF binary has no program interpreter, i.e. runs without host libraries."""
    try:
        with open(path, "rb") as f:
            header = f.read(64)
            if header[:4] != b"\x7fELF" or header[4] != 2:  # 64-bit ELF only
                return False
            phoff, = struct.unpack_from("<Q", header, 0x20)
            phentsize, phnum = struct.unpack_from("<HH", header, 0x36)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
    except OSError:
        return False
    types = (struct.unpack_from("<I", table, i * phentsize)[0] for i in range(phnum))
    return 3 not in types  # PT_INTERP


def static_busybox() -> Path | None:
    """Debian's busybox-static (or any static busybox on PATH), if installed."""
    for candidate in (shutil.which("busybox"), "/bin/busybox", "/usr/bin/busybox"):
        if candidate and is_static_elf(candidate):
            return Path(candidate)
    return None


@dataclass
class RootFS:
    """A root filesystem folder and how it was made."""

    path: Path
    source: str  # "busybox-static", "host binaries (read-only)" or "given"
    host_binds: list[str] = field(default_factory=list)


def build_rootfs(folder: Path, busybox: Path | None = None, use_host: bool = False) -> RootFS:
    """Make a minimal root filesystem in `folder`: busybox, the guest, empty mount points."""
    folder = Path(folder)
    for sub in ("proc", "dev", "tmp", "etc", "labkit"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / "labkit" / "fib.sh").write_text(guest_source("sh"))
    (folder / "etc" / "hostname").write_text(HOSTNAME + "\n")
    busybox = None if use_host else (busybox or static_busybox())
    if busybox is not None:
        (folder / "bin").mkdir(exist_ok=True)
        shutil.copy2(busybox, folder / "bin" / "busybox")
        for applet in APPLETS:
            (folder / "bin" / applet).symlink_to("busybox")
        rootfs = RootFS(folder, "busybox-static")
    else:
        if not Path("/bin/sh").exists():
            raise LabkitError("no static busybox and no /bin/sh on this host to run the "
                              "guest; fix: sudo apt-get install busybox-static")
        binds = [d for d in HOST_FOLDERS if Path(d).is_dir() and not Path(d).is_symlink()]
        for host_dir in binds:
            (folder / host_dir.lstrip("/")).mkdir(parents=True, exist_ok=True)
        for host_dir in HOST_FOLDERS:  # merged /usr: /bin -> usr/bin, kept as a link
            if Path(host_dir).is_symlink():
                (folder / host_dir.lstrip("/")).symlink_to(os.readlink(host_dir))
        rootfs = RootFS(folder, "host binaries (read-only)", binds)
    # Remembered, so a folder built once can be handed back as `rootfs=` later.
    (folder / MARKER).write_text(json.dumps({"source": rootfs.source,
                                             "host_binds": rootfs.host_binds}))
    return rootfs


def given_rootfs(path: str | Path) -> RootFS:
    """A root filesystem the caller made; it must exist and hold /bin/sh and the guest."""
    path = Path(path)
    if not path.is_dir():
        raise LabkitError(f"no root filesystem at {path}: the folder does not exist")
    with contextlib.suppress(OSError, ValueError):
        made = json.loads((path / MARKER).read_text())
        return RootFS(path.resolve(), made["source"], list(made["host_binds"]))
    missing = [p for p in ("bin/sh", GUEST_PATH.lstrip("/"))
               if not os.path.lexists(path / p)]
    if missing:
        raise LabkitError(f"the root filesystem at {path} lacks {', '.join(missing)}; "
                          "build one with labkit.sandboxes.oci.build_rootfs(folder)")
    return RootFS(path.resolve(), "given")


def container_config(rootfs: RootFS, args: list[str], limits: Limits) -> dict:
    """The OCI runtime config (spec 1.0) for one container of labkit's kind."""
    cpu = limits.cpu_rlimit
    memory = int(limits.memory_mb * 2**20)
    no_caps = {"bounding": [], "effective": [], "permitted": [], "inheritable": [],
               "ambient": []}
    mounts = [
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=1024k"]},
        # The only writable place, in memory, counted against the memory cap.
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "nodev", "mode=1777", "size=8m"]},
    ]
    mounts += [{"destination": d, "type": "bind", "source": d,
                "options": ["rbind", "ro", "nosuid", "nodev"]} for d in rootfs.host_binds]
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": list(args),
            "env": ["PATH=/bin:/sbin:/usr/bin:/usr/sbin", "HOME=/tmp", "LANG=C"],
            "cwd": "/",
            "capabilities": no_caps,
            "rlimits": [
                # The guest is its pid namespace's init, which ignores SIGXCPU: the hard
                # limit's SIGKILL stops it (labkit tells that from an OOM kill by evidence).
                {"type": "RLIMIT_CPU", "hard": cpu, "soft": cpu},
                {"type": "RLIMIT_NOFILE", "hard": 256, "soft": 256},
                {"type": "RLIMIT_CORE", "hard": 0, "soft": 0},
            ],
            "noNewPrivileges": True,
        },
        "root": {"path": str(Path(rootfs.path).resolve()), "readonly": True},
        "hostname": HOSTNAME,
        "mounts": mounts,
        "linux": {
            # No cgroupsPath here: runc names the cgroup after the container id and places
            # it under the caller's own cgroup; crun is given one per container (cgroups.py).
            "resources": {
                "devices": [{"allow": False, "access": "rwm"}],
                "memory": {"limit": memory},
                "pids": {"limit": int(limits.pids)},
            },
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "seccomp": seccomp.profile(),
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                            "/proc/sched_debug", "/proc/scsi", "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                              "/proc/sysrq-trigger"],
        },
    }


def write_bundle(folder: Path, config: dict) -> Path:
    """A bundle folder holding config.json (its root points at the shared rootfs)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config, indent=1))
    return folder


def make_workdir() -> Path:
    """A private temporary folder for one sandbox's bundles, named after this process."""
    return Path(tempfile.mkdtemp(prefix=f"{_owned.BUNDLE_PREFIX}{_owned.owner_tag()}-"))


