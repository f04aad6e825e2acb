"""The seccomp filter every labkit container runs under: an allow list, like Docker's.

A guest may make only the system calls Docker's default profile allows a process without
capabilities (the names live in labkit/guests/container_seccomp.json, with their source);
every other call fails with EPERM. Namespaces cannot be made inside: unshare and setns are
not on the list, clone is allowed only without namespace flags, and clone3 (whose flags
live in memory a filter cannot read) answers ENOSYS so that libc falls back to clone.

A name this machine's libseccomp does not know (a system call newer than it, or another
architecture's) is left out before the runtime sees it: some runtime versions refuse a
whole profile over one unknown name.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import json
import platform
from importlib import resources

DATA_FILE = "container_seccomp.json"
EPERM, ENOSYS = 1, 38
# clone() flags that make namespaces: NEWNS CGROUP UTS IPC USER PID NET (Docker's mask).
CLONE_NAMESPACE_MASK = 0x7E020000
# socket() families Docker's profile refuses: AF_ALG (38) and AF_VSOCK (40).
SOCKET_RULES = ({"value": 38, "op": "SCMP_CMP_LT"}, {"value": 39, "op": "SCMP_CMP_EQ"},
                {"value": 40, "op": "SCMP_CMP_GT"})
# personality() values Docker allows: Linux, Linux32, UNAME26 with each, and "query".
PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)
# The machine names Python reports, as the data file spells them.
ARCHES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


@functools.lru_cache(maxsize=1)
def allowed_names() -> tuple[str, ...]:
    """The allow list for this machine: the common names plus its architecture's own,
    without those its libseccomp cannot resolve."""
    data = json.loads(resources.files("labkit.guests").joinpath(DATA_FILE).read_text())
    arch = ARCHES.get(platform.machine().lower(), "")
    names = [*data["allow"], *data.get(f"allow_{arch}", [])]
    return tuple(name for name in names if known_here(name) is not False)


@functools.lru_cache(maxsize=1)
def _libseccomp():
    """libseccomp, the library runc and crun compile filters with; None if absent."""
    name = ctypes.util.find_library("seccomp")
    try:
        lib = ctypes.CDLL(name or "libseccomp.so.2")
    except OSError:
        return None
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_syscall_resolve_name.restype = ctypes.c_int
    return lib


def known_here(name: str) -> bool | None:
    """True if this machine's libseccomp knows a system call of that name for its own
    architecture, False if not, None if libseccomp cannot be asked (then the name is
    kept: runc 1.1 and crun 1.8 skip names they do not know)."""
    lib = _libseccomp()
    if lib is None:
        return None
    return lib.seccomp_syscall_resolve_name(name.encode()) >= 0


def profile() -> dict:
    """The OCI `linux.seccomp` section: Docker's allow list, EPERM for everything else."""
    rules: list[dict] = [{"names": list(allowed_names()), "action": "SCMP_ACT_ALLOW"}]
    rules += [{"names": ["socket"], "action": "SCMP_ACT_ALLOW",
               "args": [{"index": 0, "valueTwo": 0, **rule}]} for rule in SOCKET_RULES]
    rules += [{"names": ["personality"], "action": "SCMP_ACT_ALLOW",
               "args": [{"index": 0, "value": value, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]}
              for value in PERSONALITIES]
    rules += [{"names": ["clone"], "action": "SCMP_ACT_ALLOW",
               "args": [{"index": 0, "value": CLONE_NAMESPACE_MASK, "valueTwo": 0,
                         "op": "SCMP_CMP_MASKED_EQ"}]},
              {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS}]
    return {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": EPERM, "syscalls": rules}
