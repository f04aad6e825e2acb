"""Load: C clients issuing cold calls at once against each kind, and where each saturates.

`bench --concurrency 1,2,4,8` adds, for every kind and each C above 1, one row measured
here: C client threads start together and each makes cold calls of the run's workload, one
after another, until its call cap or the time budget is reached (a call under way always
finishes). The row's `per_second` is the throughput (successful calls / wall time of the
whole burst), its p50/p99 the latency of one call under that load, `extras["failures"]`
the calls that failed (counted, never raised; the first error kept as a message). C = 1 is
the ordinary bench row of the same run: one client, sequential cold calls.

Is it safe to call one open sandbox from C threads at once? Decided per kind (SHARING), by
reading each kind's code: where every call keeps all its state to itself (a process, a
container started by Podman, a VM) the clients share ONE box; where a box keeps per-call
state of its own (a reused C buffer, one HTTP connection, one runtime log file, "the
container under way" for a mid-call close) each client gets its own box, opened before
the burst. Every row says which (`extras["clients"]`) and why (`extras["clients_why"]`).

`saturation(rows)` reads the rows back as the figure a notebook shows: per kind, the C
where throughput stops growing, and what ran out there, from the CPU figures each row
carries (the whole machine's CPU busy share, and this Python process's own CPU).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace

import psutil

from . import results
from .errors import LabkitError
from .measure import Stats, check_count, machine_info
from .results import KindResult, ResultWarning
from .sandboxes import availability, open_sandbox, parse_kinds, sandbox_class
from .workload import can_host, check_workload, workload_call

# Client counts a typo cannot turn into a fork bomb: each client is a thread (and, for
# some kinds, an open sandbox of its own: a workerd, a folder of bundles).
MAX_CONCURRENCY = 256
DEFAULT_CONCURRENCY = (1,)
# Seconds each C may start new calls for (a call under way always finishes; every client
# makes at least one call): a couple of seconds keeps a quick run over all kinds near 90 s.
SECONDS = {"quick": 1.0, "full": 10.0}
# Calls each client makes at most; slow kinds take fewer, and their rows say how many.
# Fast kinds stop at the time budget long before the cap.
CALLS_PER_CLIENT = {"quick": 50_000, "full": 500_000}
SLOW_CALLS_PER_CLIENT = {
    "podman": {"quick": 1, "full": 10},
    "docker": {"quick": 1, "full": 10},
    "gvisor": {"quick": 3, "full": 20},
    "microvm": {"quick": 1, "full": 3},
}
# The most clients a quick run gives a kind whose every call boots a VM (about 10 s each,
# emulated, on a 2-core machine): more are measured by --size full, and the rows say so.
QUICK_MAX_CLIENTS = {"microvm": 2}
# A throughput that grows by less than this from one C to the next has stopped growing.
GROWTH = 1.10

SHARED = "one box shared by all clients"
PER_CLIENT = "one box per client"
# Per kind: how C clients reach it, and why that is what is safe (read from each kind's
# code; a kind not listed gets a box per client, the safe choice).
SHARING: dict[str, tuple[str, str]] = {
    "wasm": (PER_CLIENT, "the fast call path reuses one C value buffer per export and one "
             "extern slot per box (one thread at a time); a call from another thread could "
             "run a function against the wrong Store"),
    "v8": (PER_CLIENT, "a box talks to its workerd over ONE kept-alive HTTP connection and "
           "counts its requests; so each client has its own workerd"),
    "process": (SHARED, "each call is its own subprocess with its own pipes; the box keeps "
                "no per-call state"),
    "bwrap": (SHARED, "each call is its own bwrap process with its own pipes; the box keeps "
              "no per-call state"),
    "runc": (PER_CLIENT, "a box keeps one runtime log file (rewritten each call) and the one "
             "container under way (removed if the box closes mid-call)"),
    "crun": (PER_CLIENT, "a box keeps one runtime log file (rewritten each call) and the one "
             "container under way (removed if the box closes mid-call)"),
    "podman": (SHARED, "each call is its own `podman run --rm` with a unique name; the box "
               "keeps no per-call state"),
    "docker": (SHARED, "each call is its own `docker run --rm` with a unique name; the box "
               "keeps no per-call state"),
    "gvisor": (PER_CLIENT, "a box keeps the one sandbox under way (stopped if the box closes "
               "mid-call)"),
    "microvm": (SHARED, "each call boots its own QEMU with a unique name; the box keeps no "
                "per-call state"),
}
# What a kind's calls spend, to read its saturation by (the CPU figures say which ran out).
HOW_IT_SCALES = {
    "wasm": "in-process: Python glue around each call holds the GIL, wasmtime releases it "
            "only inside its C calls",
    "v8": "one workerd per client; each answers on its own thread",
    "process": "a fork and exec per call (a shell, or node or python3 for a tool call)",
    "bwrap": "namespaces made and torn down per call, in the kernel",
    "runc": "runc's own start-up plus namespace and cgroup creation per call",
    "crun": "crun's start-up plus namespace and cgroup creation per call",
    "podman": "podman's CLI, conmon and runc per call",
    "docker": "the docker CLI and the daemon per call",
    "gvisor": "a user-space kernel (the Sentry) started per call",
    "microvm": "a whole VM booted per call (emulated where there is no KVM)",
}
# Kinds whose guests run inside this Python process (their clients share its GIL).
IN_PROCESS = ("wasm",)
# A machine whose CPUs were this busy (0-1, all cores) during a burst had no CPU to spare.
CPU_BOUND = 0.9


def parse_concurrency(value) -> tuple[int, ...]:
    """'1,2,4,8' (or 4, or [1, 2]) -> (1, 2, 4, 8): sorted, each from 1 to MAX_CONCURRENCY;
    anything else is a one-line ValueError or TypeError naming the valid choices."""
    valid = f"whole numbers from 1 to {MAX_CONCURRENCY}, such as 1,2,4,8"
    if isinstance(value, str):
        parts = [part.strip() for part in value.split(",")]
        if not any(parts):
            raise ValueError(f"no concurrency given; valid: {valid}")
        counts = []
        for part in parts:
            try:
                counts.append(int(part))
            except ValueError:
                raise ValueError(f"concurrency {part!r} is not a whole number; valid: "
                                 f"{valid}") from None
    elif isinstance(value, (list, tuple)):
        counts = list(value)
        if not counts:
            raise ValueError(f"no concurrency given; valid: {valid}")
    else:
        counts = [value]
    checked = []
    for count in counts:
        try:
            checked.append(check_count("concurrency", count, maximum=MAX_CONCURRENCY))
        except TypeError:
            raise TypeError(f"concurrency must be {valid}; got {count!r}") from None
    return tuple(sorted(set(checked)))


def calls_per_client(kind: str, size: str) -> int:
    """The most calls one client makes at one C: fewer for the slow kinds."""
    return SLOW_CALLS_PER_CLIENT.get(kind, CALLS_PER_CLIENT)[size]


def peak_in_flight(spans: Iterable[tuple[int, int]]) -> int:
    """The most calls under way at one instant, from (start, end) clock readings: the
    evidence that clients really overlapped."""
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans],
                    key=lambda event: (event[0], event[1]))
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


class _Burst:
    """C clients started together, each calling its own `call` until its cap or the
    deadline; `stop` ends it early (each client finishes the call it is in)."""

    def __init__(self, calls: list, cap: int, seconds: float):
        self.calls, self.cap, self.seconds = calls, cap, seconds
        self.stop = threading.Event()
        self.spans: list[tuple[int, int]] = []
        self.ok_ns: list[int] = []
        self.failures = 0
        self.first_failure = ""
        self._lock = threading.Lock()
        self._barrier = threading.Barrier(len(calls))
        # Set by each client as it ends: waited on instead of Thread.join, which an
        # interrupt can leave believing a running thread has ended (CPython 3.11).
        self._ended = [threading.Event() for _ in calls]

    def _client(self, call, ended: threading.Event) -> None:
        try:
            self._calls(call)
        finally:
            ended.set()

    def _calls(self, call) -> None:
        clock = time.perf_counter_ns
        with contextlib.suppress(threading.BrokenBarrierError):
            self._barrier.wait()
        deadline = clock() + int(self.seconds * 1e9)
        for i in range(self.cap):
            if self.stop.is_set() or (i and clock() >= deadline):
                return
            t0 = clock()
            try:
                call()
                error = None
            except Exception as exc:  # under load a failure is a figure, not a crash
                error = f"{type(exc).__name__}: {exc}"
            t1 = clock()
            with self._lock:
                self.spans.append((t0, t1))
                if error is None:
                    self.ok_ns.append(t1 - t0)
                else:
                    self.failures += 1
                    self.first_failure = self.first_failure or " ".join(error.split())[:300]

    def run(self) -> float:
        """Run the burst; its wall time in seconds (first call's start to last one's end).
        An interrupt stops new calls, waits for those under way, then goes on up."""
        threads = [threading.Thread(target=self._client, args=(call, ended), daemon=True,
                                    name=f"labkit-load-{i}")
                   for i, (call, ended) in enumerate(zip(self.calls, self._ended, strict=True))]
        try:
            for thread in threads:
                thread.start()
            for ended in self._ended:
                while not ended.wait(0.2):
                    pass
        except BaseException:
            self.stop.set()
            self._barrier.abort()
            for thread, ended in zip(threads, self._ended, strict=True):
                if thread.ident is not None:  # started: let it finish the call it is in
                    ended.wait()
            raise
        for thread in threads:
            thread.join()
        if not self.spans:
            return 0.0
        return (max(end for _, end in self.spans) - min(start for start, _ in self.spans)) / 1e9


def _cpu_busy_and_harness(run) -> tuple[float, float, float]:
    """Run `run()`; its result, the machine's CPU busy share (0-1, all cores) meanwhile,
    and this process's CPU seconds per wall second (above 1: more than one core)."""
    me = psutil.Process()
    before, mine, t0 = psutil.cpu_times(), me.cpu_times(), time.perf_counter()
    value = run()
    after, mine_after, wall = psutil.cpu_times(), me.cpu_times(), time.perf_counter() - t0
    idle = (after.idle + getattr(after, "iowait", 0)) - (before.idle + getattr(before, "iowait", 0))
    total = sum(after) - sum(before)
    busy = 1 - idle / total if total > 0 else 0.0
    harness = ((mine_after.user + mine_after.system) - (mine.user + mine.system)) / wall \
        if wall > 0 else 0.0
    return value, max(0.0, min(1.0, busy)), harness


def _row(kind: str, workload: str, concurrency: int, burst: _Burst, wall: float,
         machine: Mapping, versions: Mapping, cap: int, seconds: float, sharing: tuple,
         busy: float, harness: float, baseline: Mapping) -> KindResult:
    """One measured burst as a KindResult (unavailable, saying why, if every call failed).
    Its raw timings are not kept (a fast kind makes tens of thousands); `baseline` is the
    one-client burst of the same harness (c1_per_second, c1_p50_ms, c1_p99_ms)."""
    total = len(burst.spans)
    if not burst.ok_ns:
        row = results.unavailable(kind, f"all {total} calls failed at {concurrency} clients: "
                                  f"{burst.first_failure}", "run with fewer clients",
                                  machine, workload)
        return replace(row, concurrency=concurrency)
    stats = Stats.from_ns(burst.ok_ns)
    warnings = []
    spread = stats.spread_warning()
    if spread:
        warnings.append(ResultWarning(results.WIDE_SPREAD, spread))
    extras = {**baseline, "failures": burst.failures, "first_failure": burst.first_failure,
              "calls_per_client": cap, "seconds_budget": seconds,
              "clients": sharing[0], "clients_why": sharing[1],
              "peak_in_flight": peak_in_flight(burst.spans),
              "cpu_busy": round(busy, 3), "harness_cpu": round(harness, 3)}
    return KindResult(
        kind, True, calls=len(burst.ok_ns), start_ms_p50=stats.median_ms,
        start_ms_p99=stats.p99_ms, per_second=len(burst.ok_ns) / wall if wall > 0 else 0.0,
        mem_mb_per_instance=None, versions=versions, extras=extras, workload=workload,
        machine=machine, warnings=warnings, concurrency=concurrency)


def load_kind(kind: str, counts, workload: str = "fib", size: str = "quick",
              machine: Mapping | None = None, seconds: float | None = None,
              cap: int | None = None) -> list[KindResult]:
    """One row per C in `counts` for one kind (unavailable rows say why); the boxes are
    closed before it returns, also after an interrupt."""
    counts = parse_concurrency(list(counts))
    workload = check_workload(workload)
    if size not in SECONDS:
        raise ValueError(f"unknown size {size!r}; valid ones are: {', '.join(SECONDS)}")
    machine = machine if machine is not None else machine_info()
    seconds = SECONDS[size] if seconds is None else seconds
    cap = calls_per_client(kind, size) if cap is None else check_count("cap", cap)

    def missing(reason: str, fix: str) -> list[KindResult]:
        return [replace(results.unavailable(kind, reason, fix, machine, workload),
                        concurrency=c) for c in counts]

    found = availability(kind, trial=False)
    if not found.available:
        return missing(found.reason, found.fix)
    if not can_host(sandbox_class(kind).capabilities, workload):
        return missing(f"{kind} cannot host the {workload} workload",
                       "choose --workload fib, or a kind that hosts it")
    sharing = SHARING.get(kind, (PER_CLIENT, "not yet read for shared use: the safe choice"))
    rows = []
    with contextlib.ExitStack() as stack:
        boxes, calls = [], []
        try:
            boxes.append(stack.enter_context(open_sandbox(kind)))
            calls.append(workload_call(boxes[0], workload))
            calls[0]()  # the trial, as bench's
            versions = boxes[0].versions()
        except (LabkitError, OSError) as exc:
            return missing(f"a trial run failed: {exc}", found.fix)
        solo = _Burst([calls[0]], cap, seconds)
        wall, _, _ = _cpu_busy_and_harness(solo.run)
        baseline = {}
        if solo.ok_ns:
            stats = Stats.from_ns(solo.ok_ns)
            baseline = {"c1_per_second": len(solo.ok_ns) / wall if wall > 0 else 0.0,
                        "c1_p50_ms": stats.median_ms, "c1_p99_ms": stats.p99_ms}
        for count in counts:
            most = QUICK_MAX_CLIENTS.get(kind) if size == "quick" else None
            if most is not None and count > most:
                rows.append(replace(results.unavailable(
                    kind, f"not measured at quick size above {most} clients: every {kind} "
                    "call boots a whole VM, and more at once would take minutes here",
                    "--size full measures every C", machine, workload), concurrency=count))
                continue
            try:
                while sharing[0] == PER_CLIENT and len(boxes) < count:
                    box = stack.enter_context(open_sandbox(kind))
                    call = workload_call(box, workload)
                    call()  # each box's own trial: a box that cannot run is no client
                    boxes.append(box)
                    calls.append(call)
            except (LabkitError, OSError) as exc:
                rows.append(replace(results.unavailable(
                    kind, f"could not open {count} boxes ({len(boxes)} opened): {exc}",
                    "run with fewer clients", machine, workload), concurrency=count))
                continue
            clients = calls[:count] if sharing[0] == PER_CLIENT else [calls[0]] * count
            burst = _Burst(clients, cap, seconds)
            wall, busy, harness = _cpu_busy_and_harness(burst.run)
            rows.append(_row(kind, workload, count, burst, wall, machine, versions, cap,
                             seconds, sharing, busy, harness, baseline))
    return rows


def load_rows(kinds=None, concurrency=DEFAULT_CONCURRENCY, workload: str = "fib",
              size: str = "quick", machine: Mapping | None = None,
              show_progress: bool = False) -> list[KindResult]:
    """The load rows of a bench run: every kind, every C above 1 (C = 1 is bench's own row)."""
    counts = [c for c in parse_concurrency(concurrency) if c > 1]
    if not counts:
        return []
    machine = machine if machine is not None else machine_info()
    rows = []
    for kind in parse_kinds(kinds):
        if show_progress:
            import sys
            print(f"load: {kind} at {', '.join(map(str, counts))} clients", file=sys.stderr)
        rows.extend(load_kind(kind, counts, workload, size, machine))
    return rows


def saturation(rows: Iterable[Mapping]) -> list[dict]:
    """Per kind and workload: throughput by C, the C where it stops growing (by less than
    GROWTH to the next C; None if it still grew at the largest C), and what ran out there,
    read from the rows' CPU figures. C = 1 is the one-client burst each load row carries
    (`c1_per_second`: the same harness), else bench's ordinary row."""
    groups: dict[tuple, dict[int, Mapping]] = {}
    for row in rows:
        if row.get("available") is False or row.get("per_second") is None:
            continue
        groups.setdefault((row["kind"], row.get("workload", "fib")), {})[
            row.get("concurrency", 1)] = row
    figure = []
    for (kind, workload), by_c in groups.items():
        solo = next((row for row in by_c.values() if row.get("c1_per_second")), None)
        if solo is not None:  # one client through the same harness, just before the burst
            by_c[1] = {**by_c.get(1, {}), "per_second": solo["c1_per_second"],
                       "start_ms_p99": solo["c1_p99_ms"], "machine": solo.get("machine")}
        cs = sorted(by_c)
        if len(cs) < 2:
            continue
        per_second = {c: by_c[c]["per_second"] for c in cs}
        at = next((c for c, nxt in zip(cs, cs[1:], strict=False)
                   if per_second[nxt] < GROWTH * per_second[c]), None)
        peak_c = max(cs, key=per_second.get)
        where = by_c[at] if at is not None else by_c[cs[-1]]
        figure.append({
            "kind": kind, "workload": workload, "per_second": per_second,
            "p99_ms": {c: by_c[c]["start_ms_p99"] for c in cs},
            "saturates_at": at, "peak_per_second": per_second[peak_c], "peak_at": peak_c,
            "speedup": per_second[peak_c] / per_second[cs[0]] if per_second[cs[0]] else None,
            "failures": sum(by_c[c].get("failures", 0) or 0 for c in cs),
            "cores": (where.get("machine") or {}).get("cores"),
            "why": _why(kind, by_c, at, cs),
        })
    return figure


def _why(kind: str, by_c: Mapping, at: int | None, cs: list) -> str:
    """What ran out where throughput stopped growing, from the CPU figures of the next C:
    the machine's CPU busy share (all cores, every process on it) and the cores this
    Python process used itself."""
    how = HOW_IT_SCALES.get(kind, "")
    if at is None:
        return f"still growing at {cs[-1]} clients ({how})"
    nxt = cs[cs.index(at) + 1]
    busy, harness = by_c[nxt].get("cpu_busy"), by_c[nxt].get("harness_cpu")
    if busy is None or harness is None:
        return how
    used = f"cores {busy:.0%} busy, this process {harness:.2f} cores, at {nxt} clients"
    if kind in IN_PROCESS and harness <= 1.2:
        return f"the GIL: {used}: one Python thread at a time ({how})"
    if busy >= CPU_BOUND:
        return f"the CPU: {used} ({how})"
    return f"waiting, not the CPU: {used}; a lock or queue in the runtime's path ({how})"
