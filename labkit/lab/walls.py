"""Notebook 04b (stronger walls): what production platforms chose, what each wall costs and
what it stops, measured live or read from a recording.

The probe battery itself lives in the library (labkit.walls); this module adds what the
notebook shows around it: the platforms' choices (data/platforms.csv), this machine's
virtualisation (a micro-VM here may boot by software emulation), start time and memory
per kind through the sandbox protocol, one recording of it all, a text table of the
probes and the one chart of cost against reach. Kinds are found through the registry by
family, so kinds of the new families (namespaces, user-space kernel, micro-VM) appear as
soon as they are registered.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .. import paths, walls
from ..errors import LabkitError
from ..measure import machine_info, time_calls
from ..sandboxes import FAMILIES, availability, kinds, open_sandbox, sandbox_class
from . import style

RECORDING = paths.RECORDED_DIR / "walls-04b.json"
PLATFORMS_CSV = paths.DATA_DIR / "platforms.csv"
NEW_FAMILIES = ("namespaces", "user-space kernel", "micro-VM")
# Cold calls timed per kind, at most; a slow kind gets fewer (BUDGET_SECONDS of calls).
CALLS = 20
MIN_CALLS = 3
BUDGET_SECONDS = 3.0
# Live instances held to measure memory per instance, at most (a kind's quick count if
# smaller): enough to spread the shared pages, few enough for a minute's notebook.
MAX_LIVE = 20
VERDICT_MARKS = {walls.ALLOWED: "ALLOWED", walls.BLOCKED: "blocked",
                 walls.NOT_APPLICABLE: "n/a", walls.NOT_PROBED: "-"}


def platforms() -> list[dict]:
    """data/platforms.csv: which wall each production platform chose, with its source.

    Defined in notebook 04b § What production platforms chose
    """
    with open(PLATFORMS_CSV, newline="") as f:
        return list(csv.DictReader(f))


def virtualisation_here() -> dict:
    """Whether a micro-VM can use hardware virtualisation on this machine, and why not.

    /dev/kvm alone is not enough: inside a VM without nested hardware support (no vmx or
    svm CPU flag) KVM may exist as a software fallback that a stock guest kernel cannot
    boot on, so a micro-VM falls back to emulation, tens of times slower.

    Defined in notebook 04b § The micro-VM caveat on this machine
    """
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    flags = {word for line in cpuinfo.splitlines() if line.startswith("flags")
             for word in line.split(":", 1)[1].split()}
    hardware = sorted(flags & {"vmx", "svm"})
    kvm = os.path.exists("/dev/kvm")
    if hardware and kvm:
        summary = f"hardware virtualisation ({hardware[0]}) and /dev/kvm: micro-VMs can use KVM"
    elif kvm:
        summary = ("/dev/kvm exists but the CPU shows no vmx/svm flag: nested virtualisation "
                   "without hardware support, so micro-VMs boot by software emulation")
    else:
        summary = "no /dev/kvm: micro-VMs can only boot by software emulation"
    return {"cpu_flags": hardware, "kvm_device": kvm,
            "hardware": bool(hardware and kvm), "summary": summary}


def kinds_to_measure(per_family: int = 2) -> list[str]:
    """Up to `per_family` kinds of each family that run here (cheap check), registry order.

    Defined in notebook 04b § What a stronger wall costs
    """
    chosen = []
    for family in FAMILIES:
        here = [k for k in kinds(family) if availability(k, trial=False).available]
        chosen += here[:per_family]
    return chosen


def _accelerator(versions: Mapping) -> str:
    return str(versions.get("accelerator", "")) if isinstance(versions, Mapping) else ""


def cost_of(kind: str, calls: int = CALLS) -> dict:
    """Start time (p50, p99 of fresh cold calls) and PSS per live instance of one kind.

    A slow kind gets fewer calls (MIN_CALLS at least), so the notebook stays short; the
    row says how many. Its versions (and a micro-VM's accelerator) travel with it.

    Defined in notebook 04b § What a stronger wall costs
    """
    cls = sandbox_class(kind)
    with open_sandbox(kind) as box:
        started = time.perf_counter()
        box.run_standard()
        first = time.perf_counter() - started
        # A kind that says how many cold calls a quick bench takes (a micro-VM: 3) gets no more.
        most = min(calls, getattr(cls, "bench_calls", {}).get("quick", calls))
        n = max(MIN_CALLS, min(most, int(BUDGET_SECONDS / max(first, 1e-6))))
        stats = time_calls(box.run_standard, n, warmup=1).stats
        live = max(1, min(MAX_LIVE, cls.live_counts["quick"]))
        per_instance = box.memory_per_instance(live)
        versions = box.versions()
    return {"kind": kind, "family": cls.capabilities.family, "calls": n,
            "start_ms_p50": stats.median_ms, "start_ms_p99": stats.p99_ms,
            "mem_mb_per_instance": per_instance / 1e6, "live": live,
            "versions": versions, "accelerator": _accelerator(versions)}


def measure(probe_kinds: Iterable[str] | None = None,
            cost_kinds: Iterable[str] | None = None) -> dict:
    """The probe table (every registered kind) and the costs (kinds_to_measure), one run.

    Defined in notebook 04b § What a stronger wall costs
    """
    rows = walls.probe_table(probe_kinds)
    costs, missing = [], {}
    for kind in (kinds_to_measure() if cost_kinds is None else cost_kinds):
        try:
            costs.append(cost_of(kind))
        except LabkitError as exc:
            missing[kind] = str(exc)
    for family in NEW_FAMILIES:
        if not kinds(family):
            missing[family] = "no kind of this family is registered in this labkit"
    return {"rows": rows, "costs": costs, "missing": missing,
            "virtualisation": virtualisation_here()}


def record(path: Path = RECORDING) -> Path:
    """Run the whole notebook's measurements once and save them with this machine's facts.

    Defined in notebook 04b § What each wall stops
    """
    data = measure()
    payload = {"format": 1, "recorded": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
               "machine": machine_info(), "host": walls.host_facts(),
               "probes": [vars(p) for p in walls.PROBES], **data,
               "command": "python -c 'from labkit.lab import walls; walls.record()'"}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1) + "\n")
    return path


def load(path: Path = RECORDING) -> dict:
    """The recording, marked as such.

    Defined in notebook 04b § What each wall stops
    """
    return walls.load(path)


def probe_text_table(rows: Sequence[Mapping]) -> str:
    """kind x probe as aligned text: ALLOWED (capitals: the guest reached the host),
    blocked, n/a (the host itself lacks it), - (not probed).

    Defined in notebook 04b § What each wall stops
    """
    kinds_seen = list(dict.fromkeys(row["kind"] for row in rows))
    verdict = {(row["kind"], row["probe"]): row["verdict"] for row in rows}
    width = max(len(name) for name in walls.PROBE_NAMES)
    lines = [" " * width + "  " + "".join(f"{kind:>9}" for kind in kinds_seen)]
    for probe in walls.PROBE_NAMES:
        marks = "".join(f"{VERDICT_MARKS[verdict.get((kind, probe), walls.NOT_PROBED)]:>9}"
                        for kind in kinds_seen)
        lines.append(f"{probe:<{width}}  {marks}")
    reach = walls.reach(rows)
    probed = {row["kind"] for row in rows if row["verdict"] != walls.NOT_PROBED}
    lines.append(f"{'reached':<{width}}  " + "".join(
        f"{reach[k] if k in probed else '-':>9}" for k in kinds_seen))
    return "\n".join(lines)


def cost_and_reach_figure(costs: Sequence[Mapping], rows: Sequence[Mapping],
                          title: str = "What a wall costs against what it lets a guest reach",
                          ) -> go.Figure:
    """Two panels sharing one x axis, the probes a guest of each kind passed: its start
    time (p50, log) and its memory per live instance (log). Emulated boots are labelled.

    Defined in notebook 04b § Cost against reach
    """
    reach = walls.reach(rows)
    fig = make_subplots(rows=1, cols=2, subplot_titles=(
        "start: fresh guest, workload, torn down (ms, p50)", "memory per live guest (MB, PSS)"))
    families = [f for f in FAMILIES if any(c["family"] == f for c in costs)]
    for index, family in enumerate(families):
        mine = [c for c in costs if c["family"] == family and c["kind"] in reach]
        labels = [c["kind"] + (f" ({c['accelerator']}, emulated)"
                               if c.get("accelerator") == "tcg" else "") for c in mine]
        for col, key in ((1, "start_ms_p50"), (2, "mem_mb_per_instance")):
            fig.add_trace(go.Scatter(
                x=[reach[c["kind"]] for c in mine], y=[max(c[key], 1e-3) for c in mine],
                mode="markers+text", text=labels, textposition="top center",
                marker=dict(size=12, color=style.colour(index)), name=family,
                legendgroup=family, showlegend=col == 1), row=1, col=col)
    top = len(walls.PROBE_NAMES)
    fig.update_xaxes(title_text=f"probes the guest passed (of {top})", range=[-0.5, top + 0.5])
    fig.update_yaxes(type="log")
    return style.layout(fig, title, height=420)
