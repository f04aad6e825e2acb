"""One agent's timeline per kind and the many-agents table, measured and saved, so a
machine that cannot run a kind still sees real numbers, labelled with the machine they
came from (data/recorded/agent-*.json)."""

from __future__ import annotations

from pathlib import Path

from .. import paths, results
from ..errors import LabkitError
from ..measure import timestamp
from ..sandboxes import KINDS, open_sandbox, sandbox_class
from .load import run_load
from .loop import STYLES, run_agent, sandbox_overhead, timeline
from .tasks import make_tasks

# What an agent recording holds, as results.py names recordings.
HOLDS = "agent"


def kinds_with_tools() -> list[str]:
    """Registered kinds whose run_tool hosts JavaScript or Python."""
    found = []
    for kind in KINDS:
        try:
            tools = sandbox_class(kind).capabilities.tools
        except LabkitError:
            continue
        if {"javascript", "python"} & set(tools):
            found.append(kind)
    return found


def measure_kind(kind: str, seed: int = 0, agents=(1, 20, 50)) -> dict:
    """One task in both styles (with timelines) and a load run per agent count, live."""
    task = make_tasks(1, seed)[0]
    with open_sandbox(kind) as box:
        overhead = sandbox_overhead(box)
        runs = {style: run_agent(task, box, style, seed=seed) for style in STYLES}
    return {"kind": kind, "overhead_s": overhead,
            "runs": {s: r.to_dict() for s, r in runs.items()},
            "timelines": {s: timeline(r, overhead) for s, r in runs.items()},
            "load": [run_load(kind, n, seed=seed) for n in agents]}


def save(measured: list[dict], folder: Path | None = None) -> Path:
    """Write measured kinds to data/recorded/agent-<time>.json, with this machine's facts
    (a versioned recording, as results.py keeps every recording)."""
    folder = Path(folder or paths.RECORDED_DIR)
    path = folder / f"agent-{timestamp(compact=True)}.json"
    return results.save_recording(HOLDS, {"kinds": measured}, path)


def record(kinds=None, folder: Path | None = None, seed: int = 0) -> Path:
    """Measure every kind here that hosts tool calls (or `kinds`) and save the run."""
    return save([measure_kind(k, seed) for k in (kinds or kinds_with_tools())], folder)


def load_recorded(path: Path | None = None) -> dict:
    """A saved run (the newest if no path), with its machine and its file name as `source`."""
    if path is None:
        runs = sorted(Path(paths.RECORDED_DIR).glob("agent-*.json"))
        if not runs:
            raise FileNotFoundError(f"no recorded agent runs in {paths.RECORDED_DIR}")
        path = runs[-1]
    recording = results.load_recording(path, HOLDS)
    return {**recording.data, "machine": recording.machine, "saved": recording.saved,
            "source": recording.file}
