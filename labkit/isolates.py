"""Measurements behind notebook 03 (isolates up close), for any kind of sandbox.

They use only the sandbox protocol (`cold_call`, `hold`, `footprint`), so the WebAssembly
half and the V8 half of the notebook measure the same things the same way.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from .measure import check_count
from .sandboxes.base import Sandbox


def density_curve(box: Sandbox, counts: Iterable[int]) -> list[dict]:
    """Memory added by `n` live instances, for each n: total MB and KB per instance.

    Each count is checked against the sandbox's own limit before any instance starts.
    Works for every kind through the sandbox protocol (notebooks 03 and 04 both use it).
    """
    counts = [check_count("count", n, maximum=box.max_live()) for n in counts]
    rows = []
    for n in counts:
        before = box.footprint()
        started = time.perf_counter()
        with box.hold(n):
            up = time.perf_counter() - started
            during = box.footprint()
        added = during - before
        rows.append({"n": n, "total_mb": added.pss / 1e6, "kb_per_instance": added.pss / n / 1e3,
                     "seconds_to_start": up, "processes": added.processes})
    return rows


def check_export(box, source, export: str, cases: dict, hint: str):
    """Self-check for an exercise: run the reader's export in fresh isolates on each case.

    `cases` maps an argument tuple to the right result. The verdict names the first case
    that fails (what came back, not what should have), or the error the module raised.
    """
    from .errors import LabkitError
    from .exercises import Verdict

    if source is None or source is ...:
        return Verdict(False, f"Not answered yet: write your WAT module first. Hint: {hint}")
    for args, right in cases.items():
        call = f"{export}({', '.join(map(str, args))})"
        try:
            got = box.call_export(source, export, *args)
        except (LabkitError, TypeError, ValueError) as exc:
            return Verdict(False, f"Not yet: {call} failed: {exc}. Hint: {hint}")
        if got != right:
            return Verdict(False, f"Not yet: {call} returned {got}, which is not right. "
                                  f"Hint: {hint}")
    return Verdict(True, f"Right: {export} gave the right answer in {len(cases)} fresh "
                         "isolates.")
