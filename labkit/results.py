"""Measured results as immutable records, saved and loaded as versioned JSON.

One kind's figures are a `KindResult`; a saved run of `labkit bench` is a `BenchRun` (a
sequence of them). Each record says where its numbers came from (`Source`: measured live
here, or recorded in a file, on a machine, at a date) and carries its warnings with it
(a wide spread, fewer instances held than asked, recorded on another machine), so a
figure is never shown without its caveats. Records are frozen: ratios, a recording
standing in for a kind that cannot run here, or a source are new records, never edits.
A `KindResult` also reads like the JSON row it saves as (`result["start_ms_p50"]`), and
`to_dict()` gives that row.

Notebooks keep their own recordings with `save_recording` / `load_recording`: the same
versioned envelope (format, what it holds, when, on which machine) around their data.

Every file is checked when read: a file that is not JSON, holds something else, or has a
format version this labkit does not know is refused with one line naming the file and the
problem (`ResultsFileError`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from types import MappingProxyType

from . import paths
from .errors import LabkitError
from .measure import Stats, machine_info, timestamp

# JSON format history (the "format" key of every file labkit writes):
#   1 - bench runs {"format", "saved", "results": [row, ...]}, a row's optional "warning"
#       string (wide spread only); notebook 04's recording {"format", "recorded": date,
#       "machine", ...its data at the top level}.
#   2 - every file says what it holds ("holds": "bench" or a recording's name) and when it
#       was saved ("saved"); a row's warnings are a list, "warnings": [{"code",
#       "message"}]; a recording keeps its data under "data". Format 1 is still read.
FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)
BENCH = "bench"  # what a bench run's file holds
# The figures every measured row has (the bench JSON contract), and the ratios compare.
FIGURES = ("start_ms_p50", "start_ms_p99", "per_second", "mem_mb_per_instance")

# Figures a row under load (concurrency above 1) does not measure: saved as null.
UNDER_LOAD_UNMEASURED = ("mem_mb_per_instance",)

# What a tool row's memory figure weighs (extras["mem_of"]): the tool's runtime, held after
# one run of the tool, where the kind can hold it; else the kind's idle instance, which a
# verdict does not judge a tool workload by.
TOOL_RUNTIME_HELD = "the tool's runtime, held idle after one run of the tool"
IDLE_NOT_RUNTIME = "idle instances of the kind (hold), not the tool's runtime"

# Warning codes: what a reader (or a program) can test for.
WIDE_SPREAD = "wide-spread"
LIVE_CLAMPED = "live-clamped"
OTHER_MACHINE = "other-machine"
# The machine facts that must match for two runs to be "the same machine".
SAME_MACHINE_KEYS = ("cpu", "cores", "memory_gb", "arch")


class ResultsFileError(LabkitError, ValueError):
    """A results file that cannot be read; the message names the file and the problem."""


@dataclass(frozen=True)
class ResultWarning:
    """A caveat that travels with the numbers: a code to test for, a sentence to read."""

    code: str
    message: str

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class Source:
    """Where numbers came from: measured live in this process, or read from a file.

    `copied` marks a row its file already held as recorded (a stand-in copied from an
    older recording), so it measured nothing on the machine that saved the file.
    """

    live: bool = True
    file: str = ""
    saved: str = ""
    copied: bool = False

    def describe(self, machine: Mapping) -> str:
        """'measured live on this machine' or 'RECORDED in FILE on MACHINE, saved DATE'."""
        if self.live:
            return "measured live on this machine"
        saved = f", saved {self.saved}" if self.saved else ""
        return f"RECORDED in {self.file or 'data/recorded'} on {describe_machine(machine)}{saved}"


LIVE = Source()


def describe_machine(machine: Mapping) -> str:
    """'AMD EPYC, 2 cores, Debian GNU/Linux 12': enough to tell machines apart."""
    system = machine.get("distro") or machine.get("os", "?")
    return f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, {system}"


def _frozen(value):
    """A read-only deep copy of JSON-like data: dicts as mapping proxies, lists as tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value


def _thawed(value):
    """Plain JSON-ready data again (dicts and lists) from `_frozen` data."""
    if isinstance(value, Mapping):
        return {k: _thawed(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_thawed(v) for v in value]
    return value


@dataclass(frozen=True)
class KindResult(Mapping):
    """One kind's result in one run, live or recorded, with its warnings.

    An unavailable kind is a result too (`available=False` with its reason and fix): the
    bench reports every kind, never drops one. Reading it like a dict gives the bench JSON
    row (keys "kind", "n", "start_ms_p50", ...); `to_dict()` gives a plain copy.
    """

    kind: str
    available: bool
    reason: str = ""
    fix: str = ""
    calls: int | None = None  # measured cold calls (the row's "n")
    start_ms_p50: float | None = None
    start_ms_p99: float | None = None
    per_second: float | None = None
    mem_mb_per_instance: float | None = None
    live_instances: int | None = None
    versions: Mapping = field(default_factory=dict)
    extras: Mapping = field(default_factory=dict)  # figures only some kinds have (warm call)
    samples_ms: tuple = field(default=(), repr=False)
    machine: Mapping = field(default_factory=dict)
    warnings: tuple = ()  # of ResultWarning
    source: Source = LIVE
    baseline: str | None = None  # the kind the ratios divide by, from the same run
    ratios: Mapping = field(default_factory=dict)  # figure -> multiple of the baseline's
    missing_here: str = ""  # why this kind could not run here, when a recording stands in
    workload: str = "fib"  # what ran: "fib", or a tool call ("tool-js", "tool-py")
    # Clients calling at once (labkit.load_bench): above 1, the p50/p99 are latency under
    # that load, per_second the throughput, and memory per instance is not measured (None).
    concurrency: int = 1
    path: str = "cold"  # "cold" (a fresh sandbox per call) or "warm" (extras["warm_how"])

    def __post_init__(self):
        for name in ("versions", "extras", "machine", "ratios"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        object.__setattr__(self, "samples_ms", tuple(float(x) for x in self.samples_ms))
        object.__setattr__(self, "warnings", tuple(self.warnings))

    # --- derived --------------------------------------------------------------------
    @property
    def recorded(self) -> bool:
        return not self.source.live

    @property
    def stats(self) -> Stats | None:
        """Statistics derived from the kept samples (None if none were kept)."""
        if not self.samples_ms:
            return None
        return Stats.from_ns(round(ms * 1e6) for ms in self.samples_ms)

    def source_line(self) -> str:
        """Where this result came from, in words a reader can check."""
        if not self.available:
            return f"{self.kind}: not available here: {self.reason} (fix: {self.fix})"
        return f"{self.kind}: {self.source.describe(self.machine)}"

    # --- new records from this one -------------------------------------------------
    def warned(self, *warnings: ResultWarning) -> KindResult:
        return replace(self, warnings=(*self.warnings, *warnings))

    def with_ratios(self, base: KindResult) -> KindResult:
        """This result with each figure as a multiple of `base`'s (same run only)."""
        ratios = {key: self[key] / base[key] if base[key] else None for key in FIGURES}
        return replace(self, baseline=base.kind, ratios=ratios)

    def standing_in(self, missing: KindResult) -> KindResult:
        """This recorded result in place of `missing`, a kind that could not run here."""
        return replace(self, missing_here=missing.reason)

    # --- the JSON row ----------------------------------------------------------------
    @cached_property
    def _row(self) -> Mapping:
        if not self.available:
            row = {"kind": self.kind, "available": False, "reason": self.reason,
                   "fix": self.fix, "recorded": self.recorded, "workload": self.workload,
                   "concurrency": self.concurrency, "path": self.path}
        else:
            row = {"kind": self.kind, "available": True, "n": self.calls,
                   **{key: getattr(self, key) for key in FIGURES},
                   "live_instances": self.live_instances, "recorded": self.recorded,
                   "workload": self.workload, "concurrency": self.concurrency,
                   "path": self.path, "versions": self.versions, **self.extras}
            if self.samples_ms:
                row["samples_ms"] = self.samples_ms
        if self.warnings:
            row["warnings"] = tuple(w.to_dict() for w in self.warnings)
        if self.machine:
            row["machine"] = self.machine
        if self.baseline:
            row[f"ratio_to_{self.baseline}"] = self.ratios
        if self.recorded:
            row["source"] = self.source.file
        if self.missing_here:
            row["missing_here"] = self.missing_here
        return _frozen(row)

    def to_dict(self, samples: bool = True) -> dict:
        """The bench JSON row (a plain copy); `samples=False` leaves the raw timings out."""
        row = _thawed(self._row)
        if not samples:
            row.pop("samples_ms", None)
        return row

    def __getitem__(self, key: str):
        return self._row[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._row)

    def __len__(self) -> int:
        return len(self._row)

    # --- reading a row -----------------------------------------------------------------
    @classmethod
    def from_row(cls, row: Mapping, source: Source = LIVE) -> KindResult:
        """A record from a bench JSON row (format 1 or 2); `check_row` first for files."""
        warnings = [ResultWarning(w["code"], w["message"]) for w in row.get("warnings", ())]
        if row.get("warning"):  # format 1: one spread warning as a string
            warnings.append(ResultWarning(WIDE_SPREAD, row["warning"]))
        common = {"kind": row["kind"], "machine": row.get("machine") or {},
                  "warnings": warnings, "source": source,
                  "missing_here": row.get("missing_here", ""),
                  "workload": row.get("workload", "fib"),
                  "concurrency": row.get("concurrency", 1), "path": row.get("path", "cold")}
        if row.get("available", True) is False:
            return cls(available=False, reason=row.get("reason", ""), fix=row.get("fix", ""),
                       **common)
        baseline = next((key[len("ratio_to_"):] for key in row if key.startswith("ratio_to_")),
                        None)
        extras = {key: value for key, value in row.items()
                  if key not in _ROW_KEYS and not key.startswith("ratio_to_")}
        return cls(available=True, calls=row.get("n"),
                   **{key: None if row[key] is None else float(row[key]) for key in FIGURES},
                   live_instances=row.get("live_instances"), versions=row.get("versions") or {},
                   extras=extras, samples_ms=row.get("samples_ms") or (),
                   baseline=baseline, ratios=row.get(f"ratio_to_{baseline}", {}) if baseline
                   else {}, **common)


_ROW_KEYS = {"kind", "available", "reason", "fix", "n", *FIGURES, "live_instances",
             "recorded", "versions", "samples_ms", "warning", "warnings", "machine", "source",
             "missing_here", "workload", "concurrency", "path"}


def unavailable(kind: str, reason: str, fix: str = "", machine: Mapping | None = None,
                workload: str = "fib", path: str = "cold") -> KindResult:
    """The result of a kind that could not run: reported with its reason and fix."""
    return KindResult(kind, False, reason, fix, machine=machine or {}, workload=workload,
                      path=path)


def with_ratios(results: Iterable[KindResult], baseline: str = "wasm") -> tuple:
    """Each measured result with its figures as multiples of `baseline`'s from the same list.

    The baseline is a kind of this same run (the WebAssembly isolate by default, the
    lightest); without it in the list, the results come back without ratios: a ratio
    across two runs would measure the machines, not the sandboxes.
    """
    results = tuple(results)
    base = next((r for r in results if r.kind == baseline and r.available
                 and r.concurrency == 1), None)
    if base is None:
        return results
    # Rows under load (concurrency above 1) compare with their own kind's C = 1, not here.
    return tuple(r.with_ratios(base) if r.available and r.concurrency == 1 else r
                 for r in results)


# --- a bench run -------------------------------------------------------------------------
@dataclass(frozen=True)
class BenchRun(Sequence):
    """A whole bench run: its results in order, when it was saved and from which file."""

    results: tuple  # of KindResult
    saved: str = ""
    file: str = ""

    def __post_init__(self):
        object.__setattr__(self, "results", tuple(self.results))

    def __getitem__(self, index):
        return self.results[index]

    def __len__(self) -> int:
        return len(self.results)

    def by_kind(self, available_only: bool = True, workload: str | None = None,
                path: str = "cold") -> dict:
        """kind -> its result with one client on one path (cold unless asked); a run of
        several workloads gives each kind's first row (fib's, in table order) unless
        `workload` picks one. Rows under load (concurrency above 1) are the load figure's,
        never a kind's row here."""
        found = {}
        for r in self.results:
            if (r.available or not available_only) and workload in (None, r.workload) \
                    and r.concurrency == 1 and r.path == path:
                found.setdefault(r.kind, r)
        return found

    @property
    def workloads(self) -> tuple:
        """The workloads this run measured, in the order its rows have them."""
        return tuple(dict.fromkeys(r.workload for r in self.results))

    def payload(self, saved: str) -> dict:
        return {"format": FORMAT_VERSION, "holds": BENCH, "saved": saved,
                "results": [r.to_dict() for r in self.results]}


def save_run(results: Iterable[KindResult], folder: Path | None = None) -> Path:
    """Write a run to data/recorded/bench-DATE.json, so readers without the runtimes see
    real numbers (labelled as recorded, with this machine's description)."""
    folder = Path(folder or paths.RECORDED_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    saved = timestamp()
    path = folder / f"bench-{timestamp(compact=True)}.json"
    path.write_text(json.dumps(BenchRun(tuple(results)).payload(saved), indent=1) + "\n")
    return path


def _read_json(path: Path):
    name = path.name
    try:
        return json.loads(path.read_text())
    except UnicodeDecodeError:
        raise ResultsFileError(f"{name}: not a text file") from None
    except json.JSONDecodeError as exc:
        raise ResultsFileError(f"{name}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except OSError as exc:
        raise ResultsFileError(f"{name}: cannot be read ({exc.strerror})") from None


def _check_format(payload: Mapping, name: str) -> int:
    version = payload.get("format")
    if version is None:
        raise ResultsFileError(f"{name}: no format version (a results file written by "
                               "labkit has one)")
    if isinstance(version, bool) or version not in READABLE_FORMATS:
        raise ResultsFileError(
            f"{name}: format {version!r} is not one this labkit reads "
            f"({', '.join(map(str, READABLE_FORMATS))}); written by a newer labkit? update "
            "the lab (git pull)")
    return version


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value)


def check_row(row, name: str) -> None:
    """Refuse a row that is not a bench result, naming the file and what is wrong."""
    if not isinstance(row, Mapping) or not isinstance(row.get("kind"), str):
        raise ResultsFileError(f"{name}: not a bench run (its entries have no 'kind'; "
                               "expected the JSON of `python -m labkit bench --save` or "
                               "`bench --json`)")
    if row.get("available", True) is False:
        return
    missing = [key for key in FIGURES if not _is_number(row.get(key))
               and not (key in UNDER_LOAD_UNMEASURED and row.get("concurrency", 1) != 1
                        and key in row and row[key] is None)]
    if missing:
        raise ResultsFileError(f"{name}: the {row['kind']} row has no number for "
                               f"{', '.join(missing)}; is it from `bench`?")


def _other_machine(machine: Mapping, here: Mapping) -> ResultWarning | None:
    differs = [key for key in SAME_MACHINE_KEYS if machine.get(key) != here.get(key)]
    if not machine or not differs:
        return None
    return ResultWarning(OTHER_MACHINE, f"recorded on another machine ({describe_machine(machine)}"
                                        f"), not this one: compare it with runs of its own")


def load_run(path: Path) -> BenchRun:
    """A bench run from a file (`bench --save`, format 1 or 2, or `bench --json` output),
    each result marked as recorded in that file; anything else is a ResultsFileError."""
    path = Path(path)
    name = path.name
    payload = _read_json(path)
    saved = ""
    if isinstance(payload, list):  # `bench --json` prints bare rows (a contract: no envelope)
        rows = payload
    elif isinstance(payload, Mapping) and isinstance(payload.get("results"), list):
        _check_format(payload, name)
        if payload.get("holds", BENCH) != BENCH:
            raise ResultsFileError(f"{name}: holds {payload['holds']!r}, not a bench run")
        rows, saved = payload["results"], str(payload.get("saved", ""))
    else:
        raise ResultsFileError(f"{name}: not a bench run (expected the JSON written by "
                               "`python -m labkit bench --save` or printed by `bench --json`)")
    if not rows:
        raise ResultsFileError(f"{name}: not a bench run (it has no results)")
    here = machine_info()
    results = []
    for row in rows:
        check_row(row, name)
        copied = row.get("recorded") is True
        source = Source(live=False, file=row.get("source", name) if copied else name,
                        saved=saved, copied=copied)
        result = KindResult.from_row(row, source)
        kept = tuple(w for w in result.warnings if w.code != OTHER_MACHINE)
        result = replace(result, warnings=kept)
        warning = _other_machine(result.machine, here)
        results.append(result.warned(warning) if warning else result)
    return BenchRun(tuple(results), saved, name)


def recorded_runs(folder: Path | None = None) -> list[Path]:
    """The saved bench runs in data/recorded/ (or `folder`), oldest first."""
    return sorted(Path(folder or paths.RECORDED_DIR).glob("bench-*.json"))


def is_headline(row: Mapping) -> bool:
    """A row of the head-to-head proper: the fib workload, a cold call, one client. A run
    may also hold tool calls, warm paths and rows under load; most readers want one row
    per kind, and these are they."""
    return (row.get("workload", "fib") == "fib" and row.get("path", "cold") == "cold"
            and row.get("concurrency", 1) == 1)


def load_recorded(path: Path | None = None, every_row: bool = False) -> BenchRun:
    """A saved run: the given file, else the newest in data/recorded/; its headline rows
    (fib, cold, one client: one per kind) unless `every_row` asks for the tool calls,
    warm paths and rows under load as well."""
    if path is None:
        runs = recorded_runs()
        if not runs:
            raise FileNotFoundError(f"no recorded runs in {paths.RECORDED_DIR}")
        path = runs[-1]
    run = load_run(path)
    return run if every_row else BenchRun(tuple(r for r in run if is_headline(r)),
                                          run.saved, run.file)


def newest_recorded(kind: str, folder: Path | None = None,
                    with_samples: bool = False) -> KindResult | None:
    """The newest recorded result that measured `kind` (and kept its samples, if asked);
    files that cannot be read are passed over."""
    for path in reversed(recorded_runs(folder)):
        try:
            run = load_run(path)
        except ResultsFileError:
            continue
        found = run.by_kind().get(kind)
        if found is not None and (found.samples_ms or not with_samples):
            return found
    return None


def stand_in_key(result: Mapping) -> tuple:
    """What a recorded row must share to stand in for a live one: the kind, the workload,
    and (rows that have them) the path and the concurrency."""
    return (result["kind"], result.get("workload", "fib"), result.get("path", "cold"),
            result.get("concurrency", 1))


def fill_from_recorded(live: Iterable[KindResult], recorded: Iterable[KindResult]) -> tuple:
    """Live results, each that could not run here replaced by the recorded result of the
    same kind and workload (which says it is recorded, where, and why the kind is missing
    here) when there is one."""
    by_key = {}
    for r in recorded:
        if r.available:
            by_key.setdefault(stand_in_key(r), r)
    return tuple(by_key[stand_in_key(r)].standing_in(r)
                 if not r.available and stand_in_key(r) in by_key else r for r in live)


def source_line(result: KindResult) -> str:
    """Where a result came from, in words a reader can check."""
    return result.source_line()


# --- a notebook's own recording ---------------------------------------------------------
@dataclass(frozen=True)
class Recording:
    """A notebook's saved measurements: what they are, when and where they were taken."""

    holds: str
    data: Mapping
    machine: Mapping
    saved: str
    file: str
    warnings: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "data", _frozen(self.data))
        object.__setattr__(self, "machine", _frozen(self.machine))

    @property
    def source(self) -> Source:
        return Source(live=False, file=self.file, saved=self.saved)

    def source_line(self) -> str:
        """'RECORDED in FILE on MACHINE, saved DATE'."""
        return self.source.describe(self.machine)


def save_recording(holds: str, data: Mapping, path: Path) -> Path:
    """Save a notebook's measurements (JSON-ready data) with this machine and the date."""
    if not isinstance(holds, str) or not holds or holds == BENCH:
        raise ValueError(f"a recording needs a name of its own (such as 'containers-04'), "
                         f"got {holds!r}")
    path = Path(path)
    payload = {"format": FORMAT_VERSION, "holds": holds, "saved": timestamp(),
               "machine": machine_info(), "data": _thawed(data)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1) + "\n")
    return path


def load_recording(path: Path, holds: str) -> Recording:
    """A notebook's recording, checked to be one (format 1 or 2) of what `holds` names."""
    path = Path(path)
    name = path.name
    payload = _read_json(path)
    if not isinstance(payload, Mapping):
        raise ResultsFileError(f"{name}: not a recording (expected a JSON object)")
    version = _check_format(payload, name)
    if version == 1:  # notebook 04's own format: the data at the top level
        if "results" in payload:
            raise ResultsFileError(f"{name}: a bench run, not a {holds} recording")
        saved = payload.get("recorded", "")
        data = {k: v for k, v in payload.items() if k not in ("format", "recorded", "machine")}
    else:
        if payload.get("holds") != holds:
            raise ResultsFileError(f"{name}: holds {payload.get('holds')!r}, not {holds!r}")
        if not isinstance(payload.get("data"), Mapping):
            raise ResultsFileError(f"{name}: its 'data' is missing or not a JSON object")
        saved, data = payload.get("saved", ""), payload["data"]
    machine = payload.get("machine") or {}
    warning = _other_machine(machine, machine_info())
    return Recording(holds, data, machine, str(saved), name, (warning,) if warning else ())
