"""The head-to-head: the same workload in each kind of sandbox, in one run.

For every kind: warm-up calls, then n cold calls (a fresh sandbox each: created, workload
run, answer checked, torn down) timed one at a time from the caller's side, then a number
of instances held live at once to measure memory per instance. A kind that cannot run here
is reported with its reason and fix, never dropped.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from tqdm.auto import tqdm

from . import paths
from .errors import LabkitError
from .measure import check_count, machine_info, time_calls
from .sandboxes import availability, open_sandbox, parse_kinds

# Version of the JSON written by --save, so later readers can tell formats apart.
FORMAT_VERSION = 1
MAX_N = 100_000
# "quick" finishes in under a minute for every kind on a 2-core machine; "full" is a
# careful run: ten times the cold calls and far more instances held live at once.
SIZES = {"quick": {"n": 100, "live": {}},
         "full": {"n": 1000, "live": {"wasm": 10_000, "v8": 500, "process": 500, "runc": 100,
                                      "crun": 100, "podman": 50, "docker": 50}}}
# Figures compared across kinds, each as a ratio to the WebAssembly isolate's.
RATIO_FIGURES = ("start_ms_p50", "start_ms_p99", "per_second", "mem_mb_per_instance")


def bench_kind(kind: str, n: int, warmup: int = 5, live: int | None = None,
               show_progress: bool = True) -> dict:
    """Measure one kind; an unavailable kind comes back with its reason and fix."""
    found = availability(kind)
    if not found.available:
        return {"kind": kind, "available": False, "reason": found.reason, "fix": found.fix,
                "recorded": False}
    try:
        with open_sandbox(kind) as box:
            timing = time_calls(box.run_standard, n, warmup,
                                progress=f"{kind}: cold calls" if show_progress else None)
            live = min(live or box.default_live, box.max_live())
            per_instance = box.memory_per_instance(live)
            versions = box.versions()
            # Figures only some kinds have (a warm call, a compile time), in extra keys.
            extras = box.extra_figures(n) if hasattr(box, "extra_figures") else {}
    except LabkitError as exc:
        return {"kind": kind, "available": False, "reason": f"the run failed: {exc}",
                "fix": found.fix, "recorded": False}
    stats = timing.stats
    result = {
        "kind": kind,
        "available": True,
        "n": n,
        "start_ms_p50": stats.median_ms,
        "start_ms_p99": stats.p99_ms,
        "per_second": stats.per_second,
        "mem_mb_per_instance": per_instance / 1e6,
        "live_instances": live,
        "recorded": False,
        "versions": versions,
        **extras,
        "samples_ms": [round(x, 4) for x in timing.ms.tolist()],
    }
    warning = stats.spread_warning()
    if warning:
        result["warning"] = warning
    return result


def run_bench(kinds=None, n: int | None = None, warmup: int = 5, live: int | None = None,
              show_progress: bool = True, size: str = "quick") -> list[dict]:
    """Measure each kind in turn in this one run; the machine is recorded with each.

    `size` picks n and the number held live per kind unless n or live are given.
    """
    kinds = parse_kinds(kinds)
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; valid ones are: {', '.join(SIZES)}")
    n = check_count("n", SIZES[size]["n"] if n is None else n, maximum=MAX_N)
    machine = machine_info()
    results = []
    for kind in tqdm(kinds, desc="bench", disable=not show_progress or len(kinds) < 2):
        result = bench_kind(kind, n, warmup, live or SIZES[size]["live"].get(kind),
                            show_progress)
        result["machine"] = machine
        results.append(result)
    add_ratios(results)
    return results


def add_ratios(results: list[dict], baseline: str = "wasm") -> None:
    """Give each measured kind its figures as multiples of the baseline's, same run only."""
    base = next((r for r in results if r["kind"] == baseline and r.get("available")), None)
    if base is None:
        return
    for result in results:
        if result.get("available"):
            result[f"ratio_to_{baseline}"] = {
                key: result[key] / base[key] if base[key] else None for key in RATIO_FIGURES}


def save(results: list[dict], folder: Path | None = None) -> Path:
    """Write a run to data/recorded/ so readers without the runtimes see real numbers."""
    folder = Path(folder or paths.RECORDED_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = folder / f"bench-{stamp}.json"
    payload = {"format": FORMAT_VERSION, "saved": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
               "results": results}
    path.write_text(json.dumps(payload, indent=1) + "\n")
    return path


def load_recorded(path: Path | None = None) -> list[dict]:
    """A saved run (the newest if no path), each result marked as recorded."""
    if path is None:
        runs = sorted(Path(paths.RECORDED_DIR).glob("bench-*.json"))
        if not runs:
            raise FileNotFoundError(f"no recorded runs in {paths.RECORDED_DIR}")
        path = runs[-1]
    payload = json.loads(Path(path).read_text())
    results = payload["results"]
    for result in results:
        result["recorded"] = True
        result["source"] = Path(path).name
    return results


def fill_from_recorded(live: list[dict], recorded: list[dict]) -> list[dict]:
    """Live results, with each kind that could not run here replaced by its recorded result
    (marked recorded, with the machine it came from) when a recording has one."""
    by_kind = {r["kind"]: r for r in recorded if r.get("available")}
    filled = []
    for result in live:
        stand_in = by_kind.get(result["kind"])
        if not result.get("available") and stand_in is not None:
            stand_in = {**stand_in, "recorded": True,
                        "missing_here": result.get("reason", "")}
            filled.append(stand_in)
        else:
            filled.append(result)
    return filled


def source_line(result: dict) -> str:
    """Where a result came from, in words a reader can check."""
    if not result.get("available"):
        return f"{result['kind']}: not available here: {result['reason']} (fix: {result['fix']})"
    if result.get("recorded"):
        m = result.get("machine", {})
        system = m.get("distro") or m.get("os", "?")
        return (f"{result['kind']}: RECORDED in {result.get('source', 'data/recorded')} on "
                f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores, {system}")
    return f"{result['kind']}: measured live on this machine"
