"""The head-to-head: the same workload in each kind of sandbox, in one run.

For every kind, on ONE open sandbox: a trial call (its failure means "not available
here"), warm-up calls, then `calls` cold calls (a fresh instance each: created, workload
run, answer checked, torn down) timed one at a time from the caller's side, then a number
of instances held live at once to measure memory per instance. A kind that cannot run here
is reported with its reason and fix, never dropped. Results are `labkit.results` records;
saving and loading them lives there too.
"""

from __future__ import annotations

from pathlib import Path

from tqdm.auto import tqdm

from . import results
from .errors import LabkitError
from .measure import check_count, machine_info, time_calls

# The live-or-recorded path lives in labkit.results; notebooks reach it through bench too.
from .results import (  # noqa: F401
    BenchRun,
    KindResult,
    ResultWarning,
    fill_from_recorded,
    load_recorded,
    source_line,
)
from .sandboxes import availability, open_sandbox, parse_kinds

# Bounds that keep a typo from running for ever: measured (or warm-up) calls per kind, and
# instances held live at once (each kind also caps this at what its machine allows).
MAX_CALLS = 100_000
MAX_LIVE = 100_000
# "quick" finishes in about a minute for every kind on a 2-core machine; "full" is a
# careful run with ten times the cold calls. How many calls each size times and how many
# instances it holds live are the kind's own `bench_calls[size]` and `live_counts[size]`.
SIZES = ("quick", "full")
DEFAULT_WARMUP = 5
# Ratios divide by this kind's figures from the same run: the WebAssembly isolate, the
# lightest kind, so every other kind reads as "so many times an isolate".
BASELINE = "wasm"


def check_calls(calls, name: str = "calls") -> int:
    """Measured calls per kind: a whole number from 1 to MAX_CALLS."""
    return check_count(name, calls, maximum=MAX_CALLS)


def check_warmup(warmup, name: str = "warmup") -> int:
    """Unmeasured calls first: a whole number from 0 to MAX_CALLS."""
    return check_count(name, warmup, minimum=0, maximum=MAX_CALLS)


def check_live(live, name: str = "live") -> int:
    """Instances held live at once: a whole number from 1 to MAX_LIVE."""
    return check_count(name, live, maximum=MAX_LIVE)


def bench_kind(kind: str, calls: int | None, warmup: int = DEFAULT_WARMUP, live: int | None = None,
               show_progress: bool = True, size: str = "quick",
               machine: dict | None = None) -> KindResult:
    """Measure one kind on one open sandbox; an unavailable kind comes back with its reason
    and fix. Arguments are taken as checked (`run_bench` checks them); no `calls` means
    the kind's own `bench_calls[size]`."""
    machine = machine if machine is not None else machine_info()
    found = availability(kind, trial=False)
    if not found.available:
        return results.unavailable(kind, found.reason, found.fix, machine)
    trial_passed = False
    try:
        with open_sandbox(kind) as box:
            box.run_standard()  # the trial: the kind works here, on the box measured next
            trial_passed = True
            calls = calls or box.bench_calls[size]
            timing = time_calls(box.run_standard, calls, warmup,
                                progress=f"{kind}: cold calls" if show_progress else None)
            asked = live or box.live_counts[size]
            held = min(asked, box.max_live())
            per_instance = box.memory_per_instance(held)
            versions = box.versions()
            extras = box.extra_figures(calls)  # figures only some kinds have: a warm call
    except Exception as exc:
        if trial_passed and not isinstance(exc, LabkitError):
            raise  # a bug mid-run is a bug, not a machine's state
        why = "the run failed" if trial_passed else "a trial run failed"
        return results.unavailable(kind, f"{why}: {exc}", found.fix, machine)
    stats = timing.stats
    warnings = []
    spread = stats.spread_warning()
    if spread:
        warnings.append(ResultWarning(results.WIDE_SPREAD, spread))
    if held < asked:
        warnings.append(ResultWarning(results.LIVE_CLAMPED, (
            f"held {held:,} live instances, not the {asked:,} asked: the most {kind} allows "
            "on this machine now; memory per instance is measured over fewer")))
    return KindResult(
        kind, True, calls=calls, start_ms_p50=stats.median_ms, start_ms_p99=stats.p99_ms,
        per_second=stats.per_second, mem_mb_per_instance=per_instance / 1e6,
        live_instances=held, versions=versions, extras=extras,
        samples_ms=[round(x, 4) for x in timing.ms.tolist()], machine=machine,
        warnings=warnings)


def run_bench(kinds=None, calls: int | None = None, warmup: int = DEFAULT_WARMUP,
              live: int | None = None, show_progress: bool = True, size: str = "quick",
              baseline: str = BASELINE) -> BenchRun:
    """Measure each kind in turn in this one run; the machine is recorded with each.

    `size` picks the calls and the instances held live per kind (each kind's own
    `bench_calls` and `live_counts`: slow kinds take fewer) unless `calls` or `live` are
    given. Each measured kind gets its figures as ratios to `baseline`'s, when the
    baseline kind ran in this same run.
    """
    kinds = parse_kinds(kinds)
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; valid ones are: {', '.join(SIZES)}")
    calls = None if calls is None else check_calls(calls)
    warmup = check_warmup(warmup)
    live = None if live is None else check_live(live)
    machine = machine_info()
    measured = [bench_kind(kind, calls, warmup, live, show_progress, size, machine)
                for kind in tqdm(kinds, desc="bench",
                                 disable=not show_progress or len(kinds) < 2)]
    return BenchRun(results.with_ratios(measured, baseline))


def save(run, folder: Path | None = None) -> Path:
    """Write a run to data/recorded/ so readers without the runtimes see real numbers."""
    return results.save_run(run, folder)
