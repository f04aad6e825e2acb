"""Names that say who made them: what lets a lab remove what a killed lab left behind.

Containers and bundle folders carry their owner's pid, its start time and its pid
namespace (`labkit-<pid>-t<start>n<pidns>-<n>`), so leftovers of a killed kernel can be told
apart from another live kernel's, even once the pid is reused. A lab in ANOTHER pid
namespace (a container sharing /run/runc or /tmp with this one) has pids this lab cannot
look up: its names are never taken for leftovers here (they are left to a lab in its own
namespace, or to a reboot), so no lab deletes another's live containers.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import re
import shutil
import signal
import stat
import tempfile
from pathlib import Path

PR_SET_PDEATHSIG = 1  # linux/prctl.h
PREFIX = "labkit-"
BUNDLE_PREFIX = "labkit-oci-"
_counter = itertools.count(1)


def process_start(pid: int) -> int | None:
    """When a process started (clock ticks since boot), None if it is gone or unknown.

    With the pid it names one process for good: a reused pid has another start time.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def die_with_parent(parent_pid: int | None = None):
    """A preexec function: the child gets SIGKILL when the thread that started it dies.

    (Linux's parent-death signal: what ends labkit's helpers when a kernel is killed with
    SIGKILL and runs no cleanup.) If the parent died before the signal took effect, the
    child exits at once. `parent_pid` defaults to this process.
    """
    parent_pid = os.getpid() if parent_pid is None else parent_pid
    libc = ctypes.CDLL(None, use_errno=True)

    def apply():
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:
            os._exit(1)

    return apply


def pid_namespace() -> int | None:
    """This process's pid namespace (its inode number), None if /proc cannot tell."""
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None


def owner_tag() -> str:
    """This process as it appears in names: `<pid>-t<start>n<pidns>` (parts left out when
    unknown)."""
    pid = os.getpid()
    start, namespace = process_start(pid), pid_namespace()
    if start is None:
        return str(pid)
    return f"{pid}-t{start}" + (f"n{namespace}" if namespace is not None else "")


def new_container_id() -> str:
    """A fresh container id: the labkit prefix, this process's pid and start, a counter."""
    return f"{PREFIX}{owner_tag()}-{next(_counter)}"


def owner_pid(name: str, prefix: str = PREFIX) -> int | None:
    """The pid of the process that made a labkit container or folder, from its name."""
    match = re.match(re.escape(prefix) + r"(\d+)-", name)
    return int(match.group(1)) if match else None


def is_leftover(name: str, prefix: str = PREFIX) -> bool:
    """True for a labkit name whose owner process is gone (a killed kernel's).

    The owner is the pid AND its start time when the name carries one: a live process
    that merely reuses the pid does not keep a dead lab's containers alive. A name made in
    another pid namespace is never a leftover here: its pid means another process there.
    """
    pid = owner_pid(name, prefix)
    if pid is None:
        return False
    tagged = re.match(re.escape(prefix) + r"\d+-t(\d+)(?:n(\d+))?-", name)
    if tagged is not None:
        namespace = tagged.group(2)
        if namespace is not None and int(namespace) != pid_namespace():
            return False
        return process_start(pid) != int(tagged.group(1))
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def remove_leftover_folders() -> list[Path]:
    """Delete this user's temporary bundle folders whose owner process is gone.

    Only real folders owned by this user: never another user's, never through a symlink.
    """
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(f"{BUNDLE_PREFIX}*"):
        try:
            st = os.lstat(folder)
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
            continue
        if is_leftover(folder.name, BUNDLE_PREFIX):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


