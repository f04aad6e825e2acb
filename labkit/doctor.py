"""What this machine can run, why not, and how to fix it.

Each kind is checked by a real trial (one instance started, the workload run, the answer
checked), so "available" means it really starts here, not that a binary is on PATH.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

from .sandboxes import KINDS, Availability, availability

PACKAGES = ["numpy", "plotly", "ipywidgets", "wasmtime", "psutil", "tqdm", "jupyterlab"]


def check_all(kinds=None) -> list[Availability]:
    """Availability of each kind, by trial."""
    return [availability(kind) for kind in (kinds or KINDS)]


def package_versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "missing"
    return versions


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def cgroup_mode() -> str:
    """'v2' (unified), 'hybrid' (v1 with a v2 mount) or 'v1', as runc and crun see it."""
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():
        return "v2"
    if Path("/sys/fs/cgroup/unified").is_dir():
        return "hybrid"
    return "v1" if Path("/sys/fs/cgroup").is_dir() else "none"


def system_facts() -> dict:
    """Facts that decide which sandboxes can run: privileges, namespaces, cgroups, limits."""
    userns = _read("/proc/sys/user/max_user_namespaces")
    return {
        "root": os.geteuid() == 0,
        "user namespaces": "disabled" if userns in (None, "0") else f"up to {userns}",
        "cgroup mode": cgroup_mode(),
        "vm.max_map_count": _read("/proc/sys/vm/max_map_count") or "unknown",
        "in a container": Path("/.dockerenv").exists() or Path("/run/.containerenv").exists(),
        # Open-source workerd has no hard per-isolate memory cap: say how labkit contains it.
        "v8 memory cap": "JS heap per isolate; ArrayBuffers and wasm memories only through "
                         "labkit's cap on all of workerd (stopped and restarted past it)",
    }


def format_table(results: list[Availability]) -> str:
    """A plain-text table that reads well in a terminal and in a notebook."""
    width = max(len(r.kind) for r in results)
    lines = [f"{'kind':<{width}}  available  reason / fix"]
    for r in results:
        mark = "yes" if r.available else "NO"
        if r.available:  # an available kind may still carry a note (a slower path, say)
            detail = f"note: {r.reason}" if r.reason else ""
        else:
            detail = r.reason + (f"\n{'':<{width + 13}}fix: {r.fix}" if r.fix else "")
        lines.append(f"{r.kind:<{width}}  {mark:<9}  {detail}")
    return "\n".join(lines)


def format_tried() -> str:
    """Platforms tried for real but not kinds of the lab (Hyperlight), and why not."""
    from .sandboxes import hyperlight

    found = hyperlight.trial()
    line = f"hyperlight (tried; not a kind of this lab): {found.reason}"
    return line + (f"\n  fix: {found.fix}" if found.fix else "")


def format_facts() -> str:
    items = {**package_versions(), **system_facts()}
    width = max(map(len, items))
    return "\n".join(f"{key:<{width}}  {value}" for key, value in items.items())


# ---------------------------------------------------------------- the pre-workshop verdict

# Kinds without which the hands-on part cannot run live: the WebAssembly isolates and the
# process baseline. Every other kind falls back to recorded numbers in the notebooks.
ESSENTIAL = ("wasm", "process")


def _short_cause(result: Availability) -> str:
    """Why a kind is missing, in a few words for the one-line verdict."""
    if "needs root" in result.reason:
        return "no root"
    if result.kind == "v8" and "not installed" in result.reason:
        return "no workerd"
    words = result.reason.split(":")[0].split("(")[0].strip()
    return words if len(words) <= 60 else words[:57].rsplit(" ", 1)[0] + "..."


def verdict(results: list[Availability], versions: dict | None = None) -> str:
    """One line a facilitator can collect from each attendee 48 hours before a workshop:
    'READY: wasm, v8, process live; runc, crun, podman, docker recorded (no root)'."""
    versions = package_versions() if versions is None else versions
    missing_packages = [name for name in PACKAGES if versions.get(name) == "missing"]
    by_kind = {r.kind: r for r in results}
    broken = [by_kind[k] for k in ESSENTIAL if k in by_kind and not by_kind[k].available]
    if missing_packages or broken:
        problems = [f"missing {', '.join(missing_packages)}"] if missing_packages else []
        problems += [f"{r.kind}: {_short_cause(r)}" for r in broken]
        fix = "make lab" if missing_packages else (broken[0].fix or "make lab")
        return f"NOT READY: {'; '.join(problems)} (fix: {fix})"
    live = [r.kind for r in results if r.available]
    causes: dict[str, list[str]] = {}
    for r in results:
        if not r.available:
            causes.setdefault(_short_cause(r), []).append(r.kind)
    parts = [f"{', '.join(live)} live"]
    parts += [f"{', '.join(kinds)} recorded ({cause})" for cause, kinds in causes.items()]
    return "READY: " + "; ".join(parts)
