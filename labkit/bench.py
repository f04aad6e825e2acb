"""The head-to-head: the same workload in each kind of sandbox, in one run.

For every kind, on ONE open sandbox: a trial call (its failure means "not available
here"), warm-up calls, then `calls` cold calls (a fresh instance each: created, workload
run, answer checked, torn down) timed one at a time from the caller's side, then a number
of instances held live at once to measure memory per instance. A kind that cannot run here
is reported with its reason and fix, never dropped. Results are `labkit.results` records;
saving and loading them lives there too.
"""

from __future__ import annotations

import statistics
from dataclasses import replace
from pathlib import Path

from tqdm.auto import tqdm

from . import load_bench, results
from .errors import LabkitError, NotSupported
from .measure import check_count, machine_info, time_calls

# The live-or-recorded path lives in labkit.results; notebooks reach it through bench too.
from .results import (  # noqa: F401
    IDLE_NOT_RUNTIME,
    TOOL_RUNTIME_HELD,
    BenchRun,
    KindResult,
    ResultWarning,
    fill_from_recorded,
    load_recorded,
    source_line,
)
from .sandboxes import availability, open_sandbox, parse_kinds, sandbox_class
from .sandboxes._warm import (
    no_precreated_reason,
    no_warm_reason,
    precreated_workload_call,
    warm_how,
    warm_workload_call,
)
from .sandboxes.base import Sandbox
from .workload import (
    WORKLOAD_LANGUAGES,
    WORKLOADS,  # noqa: F401 (the command line's choices)
    can_host,
    check_workload,
    workload_call,
)

# Bounds that keep a typo from running for ever: measured (or warm-up) calls per kind, and
# instances held live at once (each kind also caps this at what its machine allows).
MAX_CALLS = 100_000
MAX_LIVE = 100_000
# "quick" finishes in about a minute for every kind on a 2-core machine; "full" is a
# careful run with ten times the cold calls. How many calls each size times and how many
# instances it holds live are the kind's own `bench_calls[size]` and `live_counts[size]`.
SIZES = ("quick", "full")
DEFAULT_WORKLOAD = "fib"
# A tool call costs far more than fib: at most this many calls per size (fewer where the
# kind's own bench_calls are fewer).
TOOL_CALLS = {"quick": 20, "full": 200}
# Harness-floor calls per kind (the path with no sandbox work, timed in the same run):
# enough for a median, cheap next to the cold calls.
FLOOR_CALLS = 20
DEFAULT_WARMUP = 5
# Warm-up never costs more than a fifth of the measured calls (at least one): a slow kind
# timed over 3 calls would otherwise spend more on warming up than on measuring.
WARMUP_SHARE = 5
# Ratios divide by this kind's figures from the same run: the WebAssembly isolate, the
# lightest kind, so every other kind reads as "so many times an isolate".
BASELINE = "wasm"


# One memory method: every kind holds the SAME number of live instances per size, so "MB per
# instance" means one thing in every row; a kind that cannot hold that many here (its
# max_live) or in a bench of this size (its live_counts: a VM boots in seconds) holds fewer,
# and its row says so (LIVE_CLAMPED).
# The memory figures a warm row copies from the cold row of the same run.
MEMORY_KEYS = ("mem_n", "shared_mb", "shared_what", "mem_mb_amortised")
MEMORY_N = {"quick": 10, "full": 50}
# Cold calls split into intervals (phases) per kind: a median over a few, in the same run.
PHASE_CALLS = 5


def phase_calls(calls: int) -> int:
    """Cold calls split for a row of `calls` measured ones: PHASE_CALLS, or a tenth of the
    row's (at least one) where that is fewer, so a slow kind's quick row stays quick."""
    return max(1, min(PHASE_CALLS, calls // 10))


def phases_ms(box, workload: str, calls: int = PHASE_CALLS) -> dict | None:
    """The median of each named interval of a cold call (the kind's `phases`) over `calls`
    calls, in the kind's order, "other" last; None where the kind cannot split one."""
    try:
        runs = [box.phases(workload) for _ in range(calls)]
    except NotSupported:
        return None
    return {name: float(statistics.median(run[name] for run in runs)) for name in runs[0]}


def check_calls(calls, name: str = "calls") -> int:
    """Measured calls per kind: a whole number from 1 to MAX_CALLS."""
    return check_count(name, calls, maximum=MAX_CALLS)


def check_warmup(warmup, name: str = "warmup") -> int:
    """Unmeasured calls first: a whole number from 0 to MAX_CALLS."""
    return check_count(name, warmup, minimum=0, maximum=MAX_CALLS)


def check_live(live, name: str = "live") -> int:
    """Instances held live at once: a whole number from 1 to MAX_LIVE."""
    return check_count(name, live, maximum=MAX_LIVE)


def capped_warmup(warmup: int, calls: int) -> int:
    """The warm-up calls actually made before `calls` measured ones (see WARMUP_SHARE)."""
    return min(warmup, max(1, calls // WARMUP_SHARE))


def fewer_calls_note(run, size: str = "quick", workload: str = DEFAULT_WORKLOAD) -> str:
    """One sentence naming the kinds timed over fewer cold calls than the default for the
    workload, and why: slow kinds take fewer so that the whole run stays short ('' when
    none did). Rows of other workloads are not counted."""
    default = Sandbox.bench_calls[size] if workload == "fib" else TOOL_CALLS[size]
    fewer = [f"{r.kind} {r.calls}" for r in run
             if r.available and r.workload == workload and r.calls is not None
             and r.calls < default]
    if not fewer:
        return ""
    return (f"fewer cold calls for the slow kinds (default {default}): {', '.join(fewer)}; "
            "their p99 is then close to their slowest call")


def check_workloads(workloads) -> list[str]:
    """'fib,tool-js' (or a list) -> the workloads in table order (fib, tool-js, tool-py),
    each once; an unknown or missing name is a ValueError naming the valid ones."""
    names = workloads.split(",") if isinstance(workloads, str) else list(workloads or ())
    names = [check_workload(str(name).strip()) for name in names if str(name).strip()]
    if not names:
        raise ValueError(f"no workload given; valid ones are: {', '.join(WORKLOADS)}")
    return [name for name in WORKLOADS if name in names]


# Paths: "cold" (a fresh sandbox per call, the contract's start_ms), "precreated" (a fresh
# sandbox per call, made ahead off the clock and started on the call: the containers'
# `create` ahead, `start` on the call) and "warm" (what the kind keeps ready). A row off the
# cold path says what it timed in extras["warm_how"]. Default: cold only.
PATHS = ("cold", "precreated", "warm")
DEFAULT_PATH = "cold"


def check_paths(paths) -> list[str]:
    """'warm,cold' (or a list) -> ['cold', 'warm']: in PATHS order, so the cold row that
    lends its memory figures comes first; anything else names the valid ones."""
    names = paths.split(",") if isinstance(paths, str) else list(paths or ())
    names = [str(name).strip().lower() for name in names if str(name).strip()]
    unknown = [name for name in names if name not in PATHS]
    if not names or unknown:
        raise ValueError(f"unknown path {(unknown or [paths])[0]!r}; valid ones are: "
                         f"{', '.join(PATHS)} (a comma list for several)")
    return [name for name in PATHS if name in names]


def _floor_ms(box, warmup: int) -> float | None:
    """The kind's harness floor (median ms over FLOOR_CALLS), None if it has none."""
    try:
        return time_calls(box.floor_call, FLOOR_CALLS, min(warmup, 2)).stats.median_ms
    except NotSupported:
        return None


def bench_kind(kind: str, calls: int | None, warmup: int = DEFAULT_WARMUP, live: int | None = None,
               show_progress: bool = True, size: str = "quick",
               machine: dict | None = None, workload: str = DEFAULT_WORKLOAD,
               path: str = DEFAULT_PATH, memory_from: KindResult | None = None) -> KindResult:
    """Measure one kind on one open sandbox; an unavailable kind comes back with its reason
    and fix, and so does a kind that cannot host the workload. Arguments are taken as
    checked (`run_bench` checks them); no `calls` means the kind's own `bench_calls[size]`
    (for a tool call, at most TOOL_CALLS[size]). `path="warm"` times the kind's warm path
    instead, `path="precreated"` a fresh sandbox made ahead off the clock and started on
    the call (a kind without the path comes back unavailable, saying why); `memory_from`, a
    row of the same kind measured cold in this run, lends its memory figure to the row."""
    machine = machine if machine is not None else machine_info()
    found = availability(kind, trial=False)
    if not found.available:
        return replace(results.unavailable(kind, found.reason, found.fix, machine, workload),
                       path=path)
    capabilities = sandbox_class(kind).capabilities
    if not can_host(capabilities, workload):
        hosts = ", ".join(capabilities.tools) or "none"
        return replace(results.unavailable(
            kind, f"{kind} cannot host the {workload} workload (the tool languages it hosts: "
            f"{hosts})", "choose --workload fib, or a kind that hosts it", machine, workload),
            path=path)
    if path == "warm" and not capabilities.warm_calls:
        return results.unavailable(kind, no_warm_reason(kind), "compare its cold row",
                                   machine, workload, path)
    if path == "precreated" and not capabilities.precreated:
        return results.unavailable(kind, no_precreated_reason(kind), "compare its cold row",
                                   machine, workload, path)
    # a tool workload's memory weighs its runtime where the kind can hold one
    held_language = WORKLOAD_LANGUAGES.get(workload)
    weighed = workload if held_language in capabilities.held_tools else "fib"
    trial_passed = False
    try:
        with open_sandbox(kind) as box:
            prepare = None
            if path == "precreated":  # made ahead before each call, off the clock
                prepare, call = precreated_workload_call(box, workload)
                prepare()
            else:
                call = (warm_workload_call(box, workload) if path == "warm" else
                        workload_call(box, workload))
            call()  # the trial: the kind runs this workload here, on the box measured next
            trial_passed = True
            calls = calls or (box.bench_calls[size] if workload == "fib" else
                              min(box.bench_calls[size], TOOL_CALLS[size]))
            warmup = capped_warmup(warmup, calls)
            timing = time_calls(call, calls, warmup,
                                progress=f"{kind}: {path} calls" if show_progress else None,
                                prepare=prepare)
            floor_ms = _floor_ms(box, warmup)
            if memory_from is not None and memory_from.available:
                # a warm row weighs the same instances as the cold row of this run
                held = asked = memory_from.live_instances
                per_instance = memory_from.mem_mb_per_instance * 1e6
                memory = {key: memory_from.extras[key] for key in MEMORY_KEYS
                          if key in memory_from.extras}
            else:
                asked = live or MEMORY_N[size]
                held = min(asked, box.max_live(), live or box.live_counts[size])
                memory = box.memory_figures(held, weighed)
                per_instance = memory.pop("mem_bytes_per_instance")
            versions = box.versions()
            # figures only some kinds have (V8's warm call), with a cold row only
            extras = box.extra_figures(calls) if path == "cold" else {}
            extras = {**extras, "floor_ms": floor_ms, **memory}
            if path == "cold":
                phases = phases_ms(box, workload, phase_calls(calls))
                if phases is not None:
                    extras["phases_ms"] = phases
            else:
                extras["warm_how"] = warm_how(box, path)
                if memory_from is not None and memory_from.available:
                    extras["mem_of"] = "the cold row's held instances (same run)"
            if workload != "fib":  # what memory_per_instance held: say so beside the figure
                extras["mem_of"] = TOOL_RUNTIME_HELD if weighed == workload else IDLE_NOT_RUNTIME
    except Exception as exc:
        if trial_passed and not isinstance(exc, LabkitError):
            raise  # a bug mid-run is a bug, not a machine's state
        why = "the run failed" if trial_passed else "a trial run failed"
        return results.unavailable(kind, f"{why}: {exc}", found.fix, machine, workload, path)
    stats = timing.stats
    warnings = []
    spread = stats.spread_warning()
    if spread:
        warnings.append(ResultWarning(results.WIDE_SPREAD, spread))
    if held < asked:
        warnings.append(ResultWarning(results.LIVE_CLAMPED, (
            f"held {held:,} live instances, not the {asked:,} asked: the most {kind} allows "
            "on this machine now (or holds in a bench of this size); memory per instance is "
            "measured over fewer")))
    return KindResult(
        kind, True, calls=calls, start_ms_p50=stats.median_ms, start_ms_p99=stats.p99_ms,
        per_second=stats.per_second, mem_mb_per_instance=per_instance / 1e6,
        live_instances=held, versions=versions, extras=extras, workload=workload,
        samples_ms=[round(x, 4) for x in timing.ms.tolist()], machine=machine,
        warnings=warnings, path=path)


def run_bench(kinds=None, calls: int | None = None, warmup: int = DEFAULT_WARMUP,
              live: int | None = None, show_progress: bool = True, size: str = "quick",
              baseline: str = BASELINE, workload: str = DEFAULT_WORKLOAD,
              concurrency=load_bench.DEFAULT_CONCURRENCY, path=DEFAULT_PATH) -> BenchRun:
    """Measure each kind in turn in this one run; the machine is recorded with each.

    `size` picks the calls and the instances held live per kind (each kind's own
    `bench_calls` and `live_counts`: slow kinds take fewer) unless `calls` or `live` are
    given. `workload` is "fib" (the smallest program in each kind's own language) or a tool
    call ("tool-js", "tool-py"), or several ("fib,tool-js,tool-py" or a list: every kind
    runs each, in that table order); each row says which, and its harness floor
    (`floor_ms`, measured in the same run; None for a kind without one). Each measured kind
    gets its figures as ratios to `baseline`'s for the same workload, when the baseline kind
    ran it in this same run.
    `concurrency` (such as "1,2,4,8") adds, per kind and workload, a row for each C above
    1: C clients calling at once (labkit.load_bench); C = 1 is the ordinary row.
    `path` "cold" (default), "precreated", "warm" or a comma list ("cold,precreated,warm"):
    a row per kind, workload and path, beside the cold one; extras["warm_how"] says what a
    row off the cold path timed (what the kind made ahead, or keeps ready).
    """
    kinds = parse_kinds(kinds)
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; valid ones are: {', '.join(SIZES)}")
    workloads = check_workloads(workload)
    calls = None if calls is None else check_calls(calls)
    warmup = check_warmup(warmup)
    live = None if live is None else check_live(live)
    concurrency = load_bench.parse_concurrency(concurrency)
    paths = check_paths(path)
    machine = machine_info()
    measured = []
    for workload in workloads:  # ratios within one workload: tool-js x wasm's fib is no ratio
        rows = []
        for kind in tqdm(kinds, desc=f"bench {workload}",
                         disable=not show_progress or len(kinds) < 2):
            cold = None
            for one in paths:  # a row off the cold path borrows the cold row's memory
                row = bench_kind(kind, calls, warmup, live, show_progress, size, machine,
                                 workload, one, memory_from=cold)
                cold = row if one == "cold" else cold
                rows.append(row)
        measured.extend(_ratios_by_path(rows, baseline))
    for workload in workloads:  # rows under load, after the ordinary ones
        measured.extend(load_bench.load_rows(kinds, concurrency, workload, size, machine,
                                             show_progress))
    return BenchRun(tuple(measured))


def _ratios_by_path(measured: list[KindResult], baseline: str) -> tuple:
    """Ratios to the baseline kind's row on the SAME path (warm to warm, cold to cold)."""
    rated = {}
    for one in dict.fromkeys(r.path for r in measured):
        group = [i for i, r in enumerate(measured) if r.path == one]
        for i, r in zip(group, results.with_ratios([measured[i] for i in group], baseline),
                        strict=True):
            rated[i] = r
    return tuple(rated[i] for i in range(len(measured)))


def save(run, folder: Path | None = None) -> Path:
    """Write a run to data/recorded/ so readers without the runtimes see real numbers."""
    return results.save_run(run, folder)
