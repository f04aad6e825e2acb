"""The essay's two headline claims, judged per workload and per pair from measured rows.

The claim ("~100x faster and 10x-100x more memory efficient than a typical container",
`labkit.reference`) is judged for each isolate kind against each container kind that ran
the SAME workload in the SAME run: a ratio across two runs would measure two machines or two
moments, and a ratio across two workloads would measure two programs. `judge` returns the
verdicts as data; `sentence` / `sentences` write the words from that data, so every
comparative sentence a notebook prints is generated from the numbers it shows.

Start is read two ways: the raw ratio of cold-call medians, and (where both kinds report a
harness floor, `floor_ms`, below their cold call) the ratio of cold minus floor, the
sandbox's own cost with the harness's path taken out. The verdict word goes with the floor
reading where there is one, the raw reading otherwise; both are kept.

Thresholds (stated, so a reader can disagree with them): a claim "holds" when the measured
advantage reaches the claim's low end (for an approximate claim, "~100x", within a factor of
two of it: 50x); "roughly" within a further factor of two below that (25x for "~100x", 5x
for "10x-100x"); "does not hold" below.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .reference import figure, numbers_in
from .results import TOOL_RUNTIME_HELD
from .sandboxes import kinds

CLAIM_METRIC = "Isolate vs container: start speedup"  # data/reference_figures.csv
HOLDS, ROUGHLY, NOT = "holds", "roughly", "does not hold"
WORDS = (HOLDS, ROUGHLY, NOT)
APPROX_SLACK = 2.0  # "~100x" holds from 100 / 2
ROUGHLY_SLACK = 2.0  # "roughly" a further factor of two below where it holds


@dataclass(frozen=True)
class Claim:
    """One headline claim: what it says, its low end, and the thresholds it is judged by."""

    name: str  # "start" or "memory"
    says: str  # "~100x faster"
    low: float  # the smallest advantage it claims (100 for "~100x", 10 for "10x-100x")
    approximate: bool  # "~": within APPROX_SLACK of low still holds
    high: float  # the largest it claims (100 for both)

    @property
    def holds_from(self) -> float:
        return self.low / APPROX_SLACK if self.approximate else self.low

    @property
    def roughly_from(self) -> float:
        return self.holds_from / ROUGHLY_SLACK

    def word(self, ratio: float | None) -> str | None:
        """The verdict for a measured advantage (container / isolate), None if unread."""
        if ratio is None:
            return None
        if ratio >= self.holds_from:
            return HOLDS
        return ROUGHLY if ratio >= self.roughly_from else NOT

    def thresholds(self) -> str:
        """'holds from 50x, roughly from 25x, does not hold below 25x'."""
        return (f"{HOLDS} from {self.holds_from:g}x, {ROUGHLY} from {self.roughly_from:g}x, "
                f"{NOT} below {self.roughly_from:g}x")


def claims() -> tuple[Claim, Claim]:
    """The start and memory claims, read from the reference figure (value '~100x / 10x-100x')."""
    value = figure(CLAIM_METRIC).value
    start_text, memory_text = (part.strip() for part in value.split("/"))
    return (Claim("start", f"{start_text} faster", min(numbers_in(start_text)),
                  start_text.startswith("~"), max(numbers_in(start_text))),
            Claim("memory", f"{memory_text} more memory efficient",
                  min(numbers_in(memory_text)), memory_text.startswith("~"),
                  max(numbers_in(memory_text))))


def thresholds_text() -> str:
    """The thresholds of both claims, one line each, for a notebook to print."""
    return "\n".join(f'"{c.says}": {c.thresholds()}' for c in claims())


@dataclass(frozen=True)
class Verdict:
    """One claim for one pair (an isolate kind vs a container kind) on one workload."""

    claim: Claim
    workload: str
    isolate: str
    container: str
    isolate_value: float  # start: cold p50 ms; memory: MB per live instance
    container_value: float
    raw_ratio: float | None  # container / isolate
    floor_ratio: float | None  # start only: (cold - floor) / (cold - floor), both floors known
    floors_ms: tuple  # (isolate's, container's), None where a kind has none
    source: str  # where both rows came from ("measured live on this machine", "RECORDED ...")
    caveat: str = ""  # what the figure measured, where a row says (memory of a tool workload)

    @property
    def ratio(self) -> float | None:
        """The reading judged: cold minus floor where both floors are known, else raw."""
        return self.floor_ratio if self.floor_ratio is not None else self.raw_ratio

    @property
    def basis(self) -> str:
        if self.claim.name == "memory":
            return "memory per live instance"
        return "cold minus harness floor" if self.floor_ratio is not None else "cold call"

    @property
    def word(self) -> str | None:
        """holds / roughly / does not hold; None when there is no ratio to read, or the
        memory figure weighs something else than the workload (the row's `mem_of` says what)."""
        return None if self.caveat else self.claim.word(self.ratio)

    @property
    def raw_word(self) -> str | None:
        return self.claim.word(self.raw_ratio)

    @property
    def recorded(self) -> bool:
        return self.source.startswith("RECORDED")

    def as_row(self) -> dict:
        """The verdict as plain data (a table row)."""
        return {"claim": self.claim.name, "workload": self.workload,
                "pair": f"{self.isolate} vs {self.container}", "ratio": self.ratio,
                "basis": self.basis, "raw_ratio": self.raw_ratio, "verdict": self.word,
                "raw_verdict": self.raw_word, "source": self.source}


def run_of(row: Mapping) -> tuple:
    """Which run a row was measured in: live in this process, or the file (and its save
    time) that recorded it. Rows of two runs never form a pair."""
    source = getattr(row, "source", None)
    if source is not None and hasattr(source, "live"):
        return (source.live, source.file, source.saved)
    return (not row.get("recorded", False), row.get("source", ""), "")


def _where(row: Mapping) -> str:
    line = getattr(row, "source_line", None)
    if callable(line):
        return line().partition(": ")[2]
    return f"RECORDED in {row.get('source', 'a recording')}" if row.get("recorded") \
        else "measured live on this machine"


def _ratio(top: float | None, bottom: float | None) -> float | None:
    if top is None or bottom is None or bottom <= 0 or top <= 0:
        return None
    return top / bottom


def _net(row: Mapping) -> float | None:
    """Cold p50 minus the harness floor, when there is a floor below the cold call."""
    floor = row.get("floor_ms")
    if floor is None or floor >= row["start_ms_p50"]:
        return None
    return row["start_ms_p50"] - floor


def _pair(claim: Claim, workload: str, iso: Mapping, box: Mapping) -> Verdict:
    if claim.name == "start":
        a, b = iso["start_ms_p50"], box["start_ms_p50"]
        floors = (iso.get("floor_ms"), box.get("floor_ms"))
        floor_ratio = _ratio(_net(box), _net(iso))
        caveat = ""
    else:
        a, b = iso["mem_mb_per_instance"], box["mem_mb_per_instance"]
        floors, floor_ratio = (None, None), None
        # a tool row whose figure weighs an idle instance, not the tool's runtime, is a caveat
        weighed = (row.get("mem_of") for row in (box, iso))
        caveat = next((w for w in weighed if w and w != TOOL_RUNTIME_HELD), "")
    return Verdict(claim, workload, iso["kind"], box["kind"], a, b, _ratio(b, a), floor_ratio,
                   floors, _where(iso), caveat)


def judge(*runs: Iterable[Mapping]) -> list[Verdict]:
    """Both claims for every isolate-vs-container pair that ran one workload in one run.

    Each argument is a list of rows (bench results or their JSON rows); rows are grouped
    by the run that measured them (`run_of`) and by workload, and pairs form only inside a
    group. A pair and workload already judged from an earlier argument is not judged again
    from a later one: pass the live run first, the recording after, and the recording
    fills only what this machine could not measure. Only the default cold path at one
    client is judged (rows that say otherwise are left out).
    """
    isolates, containers = kinds("isolate"), kinds("container")
    groups: dict[tuple, dict] = {}
    order = []
    for position, rows in enumerate(runs):
        for row in rows:
            if not row.get("available") or row.get("path", "cold") != "cold" or \
                    row.get("concurrency", 1) != 1:
                continue
            key = (position, run_of(row), row.get("workload", "fib"))
            if key not in groups:
                groups[key] = {}
                order.append(key)
            groups[key].setdefault(row["kind"], row)
    verdicts, seen = [], set()
    for key in order:
        group, workload = groups[key], key[2]
        for iso in isolates:
            for box in containers:
                if iso not in group or box not in group or (workload, iso, box) in seen:
                    continue
                seen.add((workload, iso, box))
                verdicts.extend(_pair(claim, workload, group[iso], group[box])
                                for claim in claims())
    return sorted(verdicts, key=lambda v: (_workload_rank(v.workload), v.claim.name != "start",
                                           isolates.index(v.isolate),
                                           containers.index(v.container)))


def _workload_rank(workload: str) -> int:
    from .workload import WORKLOADS
    return WORKLOADS.index(workload) if workload in WORKLOADS else len(WORKLOADS)


def _x(ratio: float | None) -> str:
    if ratio is None:
        return "no ratio"
    return f"{ratio:,.1f}x" if ratio < 100 else f"{ratio:,.0f}x"


def sentence(v: Verdict) -> str:
    """One verdict in words, every number in it from the verdict's data."""
    if v.claim.name == "start":
        what = (f"{v.container}'s cold call takes {v.container_value:,.3g} ms, {v.isolate}'s "
                f"{v.isolate_value:,.3g} ms: {_x(v.raw_ratio)} as long")
        if v.raw_ratio is not None and v.raw_ratio < 1:
            what += f" (the isolate is the slower, by {_x(1 / v.raw_ratio)})"
        if v.floor_ratio is not None:
            what += (f"; less each kind's harness floor ({v.floors_ms[1]:,.3g} ms and "
                     f"{v.floors_ms[0]:,.3g} ms), {_x(v.floor_ratio)}")
        else:
            missing = [k for k, f in ((v.isolate, v.floors_ms[0]), (v.container, v.floors_ms[1]))
                       if f is None]
            what += (f" (no floor for {' or '.join(missing)}, so the raw ratio is judged)"
                     if missing else " (a floor not below its cold call: the raw ratio is "
                                     "judged)")
    else:
        what = (f"{v.container} holds {v.container_value:,.3g} MB per live instance, "
                f"{v.isolate} {v.isolate_value:,.3g} MB: {_x(v.raw_ratio)}")
        if v.raw_ratio is not None and v.raw_ratio < 1:
            what += f" (the container is the lighter, by {_x(1 / v.raw_ratio)})"
        if v.caveat:
            what += f" (what was weighed: {v.caveat})"
    verdict = v.word or ("is not judged from it" if v.caveat else "cannot be judged")
    if v.ratio is not None and v.ratio > v.claim.high * APPROX_SLACK:
        verdict += " (the gap is wider than the claim)"
    if v.floor_ratio is not None and v.raw_word != v.word:
        verdict += f" (on the raw ratio: {v.raw_word})"
    return (f"{v.workload}, {v.isolate} vs {v.container}: {what}. "
            f'"{v.claim.says}" {verdict}.')


def sentences(verdicts: Iterable[Verdict]) -> list[str]:
    """Every verdict in words, in the order given."""
    return [sentence(v) for v in verdicts]


def missing(verdicts: Iterable[Verdict], workloads: Iterable[str]) -> list[str]:
    """A sentence for each workload with no pair judged: why no verdict is given for it."""
    judged = {v.workload for v in verdicts}
    return [f"{w}: no isolate and container both ran it in one run, so no verdict is given "
            "for it." for w in workloads if w not in judged]


def summary(verdicts: Iterable[Verdict]) -> dict:
    """(claim, workload) -> {verdict word: how many pairs}, to state a workload's picture."""
    counts: dict = {}
    for v in verdicts:
        per = counts.setdefault((v.claim.name, v.workload), {})
        per[v.word] = per.get(v.word, 0) + 1
    return counts


def summary_sentences(verdicts: Iterable[Verdict]) -> list[str]:
    """One line per claim and workload: how many pairs give each word, and the range of the
    judged ratios, all from the data."""
    verdicts = list(verdicts)
    lines = []
    for (claim, workload), words in summary(verdicts).items():
        chosen = [v for v in verdicts if (v.claim.name, v.workload) == (claim, workload)]
        ratios = [v.ratio for v in chosen if v.ratio is not None]
        span = (f"{_x(min(ratios))} to {_x(max(ratios))}" if len(ratios) > 1 else
                _x(ratios[0]) if ratios else "no ratio")
        tally = ", ".join(f"{words[w]} {w or 'not judged'}" for w in (*WORDS, None)
                          if w in words)
        lines.append(f'{workload}: "{chosen[0].claim.says}": {tally} '
                     f"(of {len(chosen)} pair{'s' if len(chosen) != 1 else ''}; "
                     f"measured {span})")
    return lines


def report(verdicts: Iterable[Verdict], workloads: Iterable[str]) -> str:
    """The whole verdict as text: the thresholds, then per workload its tally and one
    sentence per pair, each marked [recorded] where it comes from a recording (which one is
    said at the end); a workload with no pair says why. Every number and word in it comes
    from `verdicts`."""
    verdicts = list(verdicts)
    lines = ["Thresholds (the measured advantage, container / isolate):", thresholds_text()]
    for workload in workloads:
        chosen = [v for v in verdicts if v.workload == workload]
        lines.append("")
        lines.append(f"== {workload} ==")
        if not chosen:
            lines.extend(missing([], [workload]))
            continue
        lines.extend(summary_sentences(chosen))
        for v in chosen:
            lines.append(f"- {sentence(v)}{'  [recorded]' if v.recorded else ''}")
    sources = list(dict.fromkeys(v.source for v in verdicts if v.recorded))
    if sources:
        lines.append("")
        lines.extend(f"[recorded]: {source}" for source in sources)
    return "\n".join(lines)
