"""The essay, claim by claim: each claim the lab can address, its verdict and evidence.

Home notebook: notebooks/06_the_essay_claim_by_claim.ipynb.

data/claims.csv holds one row per claim (the seed's wording), a typed verdict and evidence
for claims no number can change, and, for the rest, the name of a check in CHECKS. A check
computes its verdict and evidence from the fleet model (labkit.scaling, labkit.fleet) and,
where the claim is about sandboxes, from a bench run, live or recorded
(labkit.bench.run_bench or load_recorded): run it on another machine and the verdict may
change, which is the point.
"""

from __future__ import annotations

import csv
import html
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from . import fleet, paths, scaling
from .results import is_headline
from .sandboxes import kinds

CLAIMS_CSV = paths.DATA_DIR / "claims.csv"
VERDICTS = ("reproduced", "corrected", "measured: holds", "measured: does not hold",
            "not testable here")
TOOL_CALLS_PER_MINUTE = 6  # notebook 05's assumption: a tool call every 10 s
# How close a ratio must come to a claimed "~100x" to count as holding: a factor of three.
ROUGHLY = 3.0


@dataclass(frozen=True)
class Claim:
    """One row of data/claims.csv."""

    id: str
    claim: str
    verdict: str      # typed verdict, or "computed" when `check` decides it
    evidence: str
    caveat: str
    check: str        # a key of CHECKS, or ""


@dataclass(frozen=True)
class Assessment:
    """A claim with its verdict and evidence decided (typed or computed)."""

    id: str
    claim: str
    verdict: str
    evidence: str
    caveat: str
    computed: bool
    recorded: bool    # the evidence uses recorded (not live) measurements


@lru_cache(maxsize=1)
def claims() -> tuple[Claim, ...]:
    """Every claim in data/claims.csv, in file order; a bad row is a clear error."""
    with open(CLAIMS_CSV, newline="") as f:
        rows = tuple(Claim(**row) for row in csv.DictReader(f))
    for row in rows:
        if row.check and row.check not in CHECKS:
            raise ValueError(f"claims.csv {row.id}: unknown check {row.check!r}; "
                             f"valid ones are: {', '.join(CHECKS)}")
        if not row.check and row.verdict not in VERDICTS:
            raise ValueError(f"claims.csv {row.id}: verdict {row.verdict!r} is not one of "
                             f"{', '.join(VERDICTS)}")
        if row.check and row.verdict != "computed":
            raise ValueError(f"claims.csv {row.id}: a row with a check must say 'computed'")
    return rows


def assess(results: list[dict] | None = None) -> list[Assessment]:
    """Every claim's verdict: typed rows as written, checked rows computed now.

    results: a bench run (live, recorded, or live filled from recorded); without one, the
    claims about sandboxes are "not testable here".
    """
    measured = {r["kind"]: r for r in results or [] if r.get("available") and is_headline(r)}
    out = []
    for row in claims():
        if not row.check:
            out.append(Assessment(row.id, row.claim, row.verdict, row.evidence, row.caveat,
                                  computed=False, recorded=False))
            continue
        verdict, evidence, used = CHECKS[row.check](measured)
        if verdict not in VERDICTS:
            raise AssertionError(f"check {row.check} returned {verdict!r}")
        out.append(Assessment(row.id, row.claim, verdict, evidence, row.caveat, computed=True,
                              recorded=any(measured[k].get("recorded") for k in used)))
    return out


def table(assessments: list[Assessment], width: int = 60) -> str:
    """The verdicts as a plain-text table (the notebook also renders them as HTML)."""
    lines = [f"{'id':<4} {'verdict':<24} claim"]
    for a in assessments:
        claim = a.claim if len(a.claim) <= width else a.claim[:width - 3] + "..."
        mark = " *" if a.computed else ""
        lines.append(f"{a.id:<4} {a.verdict + mark:<24} {claim}")
    lines.append("* computed now, from the fleet model and, for sandboxes, the bench run given")
    return "\n".join(lines)


# ---------------------------------------------------------------- the checks
# Each takes {kind: bench result} and returns (verdict, evidence, kinds whose numbers it used).

Check = Callable[[dict], tuple[str, str, tuple[str, ...]]]


def _essay() -> scaling.EssayClaim:
    return scaling.essay_claim()


def _sessions(_measured):
    claim = _essay()
    us = scaling.Scenario(claim.workers, claim.concurrency)
    if abs(us.sessions / claim.sessions_stated - 1) < 0.05:
        return "reproduced", f"{us.sessions:,.0f} sessions, as stated", ()
    workers = scaling.workers_needed(claim.sessions_stated, claim.concurrency)
    share = scaling.concurrency_needed(claim.sessions_stated, claim.workers)
    return ("corrected", f"{claim.workers / 1e6:g}M x {claim.concurrency:.0%} = "
            f"{us.sessions / 1e6:g}M, not {claim.sessions_stated / 1e6:g}M; "
            f"{claim.sessions_stated / 1e6:g}M needs {workers / 1e6:.0f}M workers or "
            f"{share:.0%} concurrency (nb02, step 1)", ())


def _cpus(_measured):
    claim = _essay()
    per_cpu = np.array(claim.sessions_per_cpu[::-1])
    stated = np.array(claim.cpus_stated)
    from_stated = scaling.Scenario(scaling.workers_needed(claim.sessions_stated,
                                                          claim.concurrency),
                                   claim.concurrency, sessions_per_cpu=per_cpu).cpus
    from_inputs = scaling.Scenario(claim.workers, claim.concurrency,
                                   sessions_per_cpu=per_cpu).cpus
    evidence = (f"from the stated 24M: {from_stated[0]:,.0f}-{from_stated[1]:,.0f} vCPUs; "
                f"from 100M x 15%: {from_inputs[0]:,.0f}-{from_inputs[1]:,.0f} (nb02, step 2)")
    if np.allclose(from_inputs, stated, rtol=0.1):
        return "reproduced", evidence, ()
    return "corrected", evidence, ()


def _per_cpu(_measured):
    container = scaling.container_sessions_per_cpu()
    low, high = _essay().sessions_per_cpu
    largest = 8 * scaling.MB_PER_GB / (2 * low)  # MB per session for 25 per vCPU on 2/8 GiB
    verdict = "reproduced" if container >= low else "corrected"
    return (verdict, f"{low:g}-{high:g} per vCPU is 2-4% of a CPU each and holds only for "
            f"sessions under {largest:.0f} MB on a 2 vCPU / 8 GiB server; a 300 MB container "
            f"session fits {container:g} per vCPU (nb02, step 3)", ())


def _peak(_measured):
    claim = _essay()
    us = scaling.Scenario(claim.workers, claim.concurrency,
                          sessions_per_cpu=np.array(claim.sessions_per_cpu[::-1]))
    peak = scaling.at_peak(us)
    return ("not testable here", f"an assumption; read as the daily average (nb01), the "
            f"{scaling.PEAK_TO_AVERAGE:g}x peak needs {peak.sessions / 1e6:g}M sessions, "
            f"{peak.cpus[0]:,.0f}-{peak.cpus[1]:,.0f} vCPUs (nb02)", ())


def _workers(_measured):
    bls = scaling.us_bls_professional_workers()
    cpus = scaling.Scenario(bls, 0.15, sessions_per_cpu=np.array([50.0, 25.0])).cpus
    return ("corrected", f"the BLS 'management, professional, and related' group is "
            f"{bls / 1e6:.1f}M; at {bls / 1e6:.0f}M the US needs {cpus[0]:,.0f}-{cpus[1]:,.0f} "
            "vCPUs; >100M needs a wider definition (up to ~161M, all employment)", ())


def _world(_measured):
    claim = _essay()
    world = scaling.Scenario(claim.world_workers, claim.concurrency,
                             sessions_per_cpu=np.array(claim.sessions_per_cpu[::-1]))
    return ("reproduced", f">1B is Gartner's published estimate; at 15% it means "
            f"{world.cpus[0] / 1e6:g}-{world.cpus[1] / 1e6:g}M vCPUs (nb02, step 4)", ())


def _punchline(_measured):
    claim = _essay()
    us = scaling.Scenario(claim.workers, claim.concurrency, sessions_per_cpu=25.0)
    worst = scaling.at_peak(scaling.Scenario(claim.world_workers, claim.concurrency,
                                             agents_per_worker=2.0, sessions_per_cpu=25.0))
    big, small = scaling.server_shapes()
    us_big, us_small = scaling.physical(us.cpus, big), scaling.physical(us.cpus, small)
    w_big = scaling.physical(worst.cpus, big)
    return ("corrected", f"{us.cpus:,.0f} vCPUs are {us_big.servers:,.0f} (384-vCPU) to "
            f"{us_small.servers:,.0f} (64-vCPU) servers drawing ~{us_big.cpu_megawatts:.1f} MW "
            f"of CPU power, {us_big.share_of_us_data_centres:.3%} of US data centres' average "
            f"draw; the world at peak with 2 agents each ({worst.cpus / 1e6:.0f}M vCPUs) is "
            f"{w_big.servers:,.0f} servers, {w_big.share_of_us_data_centres:.1%} (nb02)", ())


def _millions(measured):
    claim = _essay()
    sessions = scaling.Scenario(claim.workers, claim.concurrency).sessions
    need = scaling.sandbox_starts_per_second(sessions, TOOL_CALLS_PER_MINUTE)
    evidence = (f"{sessions / 1e6:g}M sessions x a tool call every "
                f"{60 / TOOL_CALLS_PER_MINUTE:g} s = {need / 1e6:g}M fresh sandboxes a second "
                "for the US alone")
    used = ()
    if "v8" in measured:
        rate = measured["v8"]["per_second"]
        evidence += (f"; one client here starts {rate:,.0f} V8 isolates a second, so that is "
                     f"~{need / rate:,.0f} such clients")
        used = ("v8",)
    verdict = "reproduced" if need >= 1e6 else "corrected"
    return verdict, evidence, used


def _cold_starts(measured):
    if "v8" not in measured:
        return "not testable here", "V8 isolates not measured (no workerd, no recording)", ()
    v8 = measured["v8"]
    if v8["start_ms_p50"] > 0.1:
        return ("measured: does not hold", f"a cold V8 isolate takes {v8['start_ms_p50']:.1f} "
                "ms (median, create + run + tear down): small, not zero (nb03, nb05)", ("v8",))
    return "measured: holds", f"a cold V8 isolate takes {v8['start_ms_p50']:.3f} ms", ("v8",)


def _isolate_size(measured):
    if "v8" not in measured:
        return "not testable here", "V8 isolates not measured (no workerd, no recording)", ()
    v8 = measured["v8"]
    start, mb = v8["start_ms_p50"], v8["mem_mb_per_instance"]
    holds = start < 20 and mb < 10  # "milliseconds" and "a few megabytes"
    return ("measured: holds" if holds else "measured: does not hold",
            f"V8 isolate: {start:.1f} ms to start (median), {mb:.1f} MB PSS per live "
            "isolate, workerd's own base excluded (nb03)", ("v8",))


def _containers(measured):
    return [measured[k] for k in kinds("container") if k in measured]


def _container_weight(measured):
    boxes = _containers(measured)
    if not boxes:
        return "not testable here", "no container runtime measured (and no recording)", ()
    fastest = min(boxes, key=lambda r: r["start_ms_p50"])
    heaviest = max(boxes, key=lambda r: r["mem_mb_per_instance"])
    holds = fastest["start_ms_p50"] >= 100 and heaviest["mem_mb_per_instance"] >= 100
    return ("measured: holds" if holds else "measured: does not hold",
            f"a bare container starts in {fastest['start_ms_p50']:.0f} ms ({fastest['kind']}) "
            f"and holds at most {heaviest['mem_mb_per_instance']:.2f} MB "
            f"({heaviest['kind']}): the walls are cheap (nb04, nb05)",
            tuple(r["kind"] for r in boxes))


def _hundred_x(measured):
    boxes = _containers(measured)
    if "v8" not in measured or not boxes:
        return ("not testable here", "needs both V8 isolates and a container measured", ())
    v8 = measured["v8"]
    speed = {r["kind"]: r["start_ms_p50"] / v8["start_ms_p50"] for r in boxes}
    memory = {r["kind"]: r["mem_mb_per_instance"] / v8["mem_mb_per_instance"] for r in boxes}
    fast = min(speed.values()) >= 100 / ROUGHLY
    lean = min(memory.values()) >= 10
    parts = ", ".join(f"{k} {speed[k]:.0f}x slower, {memory[k]:.2g}x the memory" for k in speed)
    return ("measured: holds" if fast and lean else "measured: does not hold",
            f"against a V8 isolate: {parts} (nb05)", ("v8", *speed))


def _server_ratio(measured, session: fleet.Session | None = None):
    """Servers a container fleet needs per server of a V8 fleet (the worst container)."""
    session = session or fleet.Session()
    fits = {k: fleet.fit_kind(measured[k], session)
            for k in ("v8", *(r["kind"] for r in _containers(measured)))}
    worst = min((f for k, f in fits.items() if k != "v8"), key=lambda f: f.sessions_per_server)
    v8 = fits["v8"].sessions_per_server
    ratio = v8 / worst.sessions_per_server if worst.sessions_per_server else float("inf")
    return ratio, worst, v8, tuple(fits)


def _faster_and_cheaper(measured):
    boxes = _containers(measured)
    if "v8" not in measured or not boxes:
        return ("not testable here", "needs both V8 isolates and a container measured", ())
    v8 = measured["v8"]["start_ms_p50"]
    slowest_ratio = min(r["start_ms_p50"] / v8 for r in boxes)
    ratio, _, _, used = _server_ratio(measured)
    holds = slowest_ratio > 1 and ratio > 1
    return ("measured: holds" if holds else "measured: does not hold",
            f"every container measured starts at least {slowest_ratio:.1f}x slower than a V8 "
            f"isolate; a container fleet needs {ratio:.2f}x the servers of an isolate fleet "
            "(nb05)", used)


def _expensive(measured):
    if "v8" not in measured or not _containers(measured):
        return ("not testable here", "needs both V8 isolates and a container measured", ())
    ratio, worst, v8, used = _server_ratio(measured)
    holds = ratio >= 2  # "prohibitively": at least twice the servers
    return ("measured: holds" if holds else "measured: does not hold",
            f"at 4% CPU, 10 MB per task and a tool call every 10 s: V8 {v8:.0f} sessions per "
            f"2-vCPU server, {worst.kind} {worst.sessions_per_server:.0f}, so "
            f"{ratio:.2f}x the servers (nb05)", used)


CHECKS: dict[str, Check] = {
    "sessions": _sessions, "cpus": _cpus, "per_cpu": _per_cpu, "peak": _peak,
    "workers": _workers, "world": _world, "punchline": _punchline, "millions": _millions,
    "cold_starts": _cold_starts, "isolate_size": _isolate_size,
    "container_weight": _container_weight, "hundred_x": _hundred_x, "expensive": _expensive,
    "faster_and_cheaper": _faster_and_cheaper,
}


# ---------------------------------------------------------------- for the notebook


def html_table(assessments: list[Assessment]) -> str:
    """The verdicts as an HTML table: claim, verdict, evidence, caveat."""
    colours = {"reproduced": "#009E73", "corrected": "#E69F00", "measured: holds": "#0072B2",
               "measured: does not hold": "#D55E00", "not testable here": "#999999"}
    rows = []
    for a in assessments:
        source = (" (computed, RECORDED run)" if a.recorded else " (computed)") if a.computed \
            else ""
        rows.append(
            f"<tr><td>{a.id}</td><td>{html.escape(a.claim)}</td>"
            f"<td style='color:{colours[a.verdict]};font-weight:bold'>{a.verdict}</td>"
            f"<td>{html.escape(a.evidence)}<i>{source}</i></td>"
            f"<td>{html.escape(a.caveat)}</td></tr>")
    head = ("<tr><th>#</th><th>the essay says</th><th>verdict</th><th>evidence</th>"
            "<th>caveat</th></tr>")
    return f"<table style='text-align:left'>{head}{''.join(rows)}</table>"


CHANGES = {
    "a bigger working set (300 MB per session)": fleet.Session(working_set_mb=300),
    "a tool call every second": fleet.Session(tool_calls_per_minute=60),
    "half the CPU per session (2%)": fleet.Session(cpu_share=0.02),
}


def server_ratio_with(results: list[dict], change: str) -> float:
    """E21's container-to-isolate server ratio after one change to notebook 05's session."""
    if change not in CHANGES:
        raise ValueError(f"unknown change {change!r}; valid ones are: {', '.join(CHANGES)}")
    measured = {r["kind"]: r for r in results if r.get("available") and is_headline(r)}
    if "v8" not in measured or not _containers(measured):
        raise ValueError("needs both V8 isolates and a container in the results")
    return _server_ratio(measured, CHANGES[change])[0]


def changes_that_flip(results: list[dict]) -> list[str]:
    """The changes after which a container fleet needs at least twice the servers."""
    return [c for c in CHANGES if server_ratio_with(results, c) >= 2]


def change_that_matters_most(results: list[dict]) -> str:
    """The one change that raises E21's container-to-isolate server ratio the most."""
    return max(CHANGES, key=lambda change: server_ratio_with(results, change))
