"""Where a container's cgroup goes: under the cgroup of the lab that starts it.

A lab confined by a cgroup (a notebook server's memory cap, a CI job's) must not escape it
by starting containers: their memory and processes have to count against the lab's own
cgroup. runc does this by itself, controller by controller. crun, given no cgroupsPath,
creates its cgroups at the ROOT of each hierarchy, outside every cap of the caller; labkit
hands it an absolute path instead (`container_path`), computed from /proc/self/cgroup:

- cgroup v1 or hybrid: the memory controller's path (the cap that matters). crun uses one
  path for every controller, so in a hierarchy where the lab sits higher (often at the
  root), the folders leading down to it are created there too; labkit notes which did not
  exist and removes them when the sandbox closes (`remove_made`: an rmdir, which the kernel
  refuses while anything is inside, so nothing in use can go).
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
    made: list[Path] = field(default_factory=list)  # deepest first


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


def v1_hierarchies(mountinfo: str) -> list[Path]:
    """Mount points of the cgroup v1 hierarchies in /proc/self/mountinfo text."""
    found = []
    for line in mountinfo.splitlines():
        if " - " not in line:
            continue
        fstype = line.split(" - ", 1)[1].split()[0]
        if fstype == "cgroup":
            found.append(Path(line.split()[4].replace("\\040", " ")))
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
        for top in v1_hierarchies(mountinfo):
            steps = [top.joinpath(*parts[:i]) for i in range(1, len(parts) + 1)]
            made += [step for step in steps if not step.exists()]
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
