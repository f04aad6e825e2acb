"""Where a container's cgroup goes: under the cgroup of the lab that starts it.

A lab confined by a cgroup (a notebook server's memory cap, a CI job's) must not escape it
by starting containers: their memory and processes have to count against the lab's own
cgroup. runc does this by itself, controller by controller. crun, given no cgroupsPath,
creates its cgroups at the ROOT of each hierarchy, outside every cap of the caller; labkit
hands it an absolute path instead (`container_path`), computed from /proc/self/cgroup:

- cgroup v1 or hybrid: the memory controller's path (the cap that matters). crun uses one
  path for every controller, so in a hierarchy where the lab sits higher (often at the
  root), the folders leading down to it are created there too. They are not the lab's own
  cgroup nor its parents there, so labkit removes them when the sandbox closes, also those
  a killed lab left (`remove_made`: an rmdir, which the kernel refuses while anything is
  inside, so nothing in use can go).
- cgroup v2: the PARENT of the lab's own cgroup, as runc does. The lab's own cgroup holds
  processes, and the kernel lets no cgroup hold both processes and child cgroups with
  controllers ("no internal processes"); the parent is the nearest place that contains the
  lab and can have them.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class Placement:
    """Where this lab's containers' cgroups go, and the folders made to get there."""

    parent: str  # an absolute cgroup path ("/" is a hierarchy's root)
    made: list[Path] = field(default_factory=list)  # crun's folders on the way, deepest first


def unified_only(root: Path = CGROUP_ROOT) -> bool:
    """True on a cgroup v2-only host (no v1 hierarchies)."""
    return (root / "cgroup.controllers").exists()


def parent_path(proc_cgroup: str, v2: bool) -> str:
    """The cgroup path (from /proc/<pid>/cgroup text) to create containers' cgroups under."""
    v1, unified = {}, "/"
    for line in proc_cgroup.splitlines():
        number, controllers, path = line.split(":", 2)
        if number == "0" and not controllers:
            unified = path or "/"
        for controller in controllers.split(","):
            v1[controller] = path or "/"
    if v2:
        return str(PurePosixPath(unified).parent) if unified != "/" else "/"
    return v1.get("memory") or v1.get("pids") or "/"


def v1_hierarchies(mountinfo: str, proc_cgroup: str) -> dict[Path, str]:
    """Mount points of the cgroup v1 hierarchies (/proc/self/mountinfo text), each with
    this process's own cgroup path in it (from /proc/self/cgroup text)."""
    own = {}
    for line in proc_cgroup.splitlines():
        number, controllers, path = line.split(":", 2)
        if number != "0":
            own[frozenset(controllers.split(","))] = path or "/"
    found = {}
    for line in mountinfo.splitlines():
        if " - " not in line:
            continue
        fstype, _, options = line.split(" - ", 1)[1].split()[:3]
        if fstype == "cgroup":
            controllers = frozenset(options.split(",")) - {"rw", "ro"}
            path = next((p for c, p in own.items() if c <= controllers), "/")
            found[Path(line.split()[4].replace("\\040", " "))] = path
    return found


def placement() -> Placement | None:
    """Where crun's cgroups go for this process; None if the cgroups cannot be read."""
    try:
        own = Path("/proc/self/cgroup").read_text()
        mountinfo = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return None
    v2 = unified_only()
    parent = parent_path(own, v2)
    made = []
    if not v2 and parent != "/":
        parts = PurePosixPath(parent).parts[1:]
        for top, mine in v1_hierarchies(mountinfo, own).items():
            for depth in range(1, len(parts) + 1):
                step = PurePosixPath("/", *parts[:depth])
                if not PurePosixPath(mine).is_relative_to(step):  # not the lab's own there
                    made.append(top.joinpath(*parts[:depth]))
    made.sort(key=lambda p: len(p.parts), reverse=True)
    return Placement(parent, made)


def container_path(where: Placement, cid: str) -> str:
    """The absolute cgroupsPath of one container."""
    return f"{where.parent.rstrip('/')}/{cid}"


def remove_made(where: Placement | None) -> None:
    """Remove the folders created on the way down to the parent, if they are empty now."""
    for folder in where.made if where else ():
        with contextlib.suppress(OSError):
            os.rmdir(folder)
