"""Tally the room's pre-workshop checks: who is READY, who needs help, what runs live where.

Each attendee runs `python -m labkit doctor --verdict` 48 hours before and pastes the line it
prints, after their name, into a shared document or form: `ana: READY: wasm, v8, process
live; runc, crun, podman, docker recorded (no root)`. Save the lines as a text file and run

    python workshop/collect_verdicts.py verdicts.txt
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

# "[name: or name<TAB>]READY: ..." or "... NOT READY: ...", as pasted from a form or a chat.
LINE = re.compile(r"^\s*(?:(?P<name>[^:]+?)\s*[:\t]\s*)?"
                  r"(?P<status>NOT READY|READY):\s*(?P<rest>.*)$")


@dataclass(frozen=True)
class Verdict:
    name: str
    ready: bool
    live: tuple
    detail: str


def parse(text: str) -> list[Verdict]:
    """One Verdict per line that holds a doctor verdict; other lines are ignored."""
    verdicts = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = LINE.match(line)
        if not match:
            continue
        rest = match["rest"].strip()
        ready = match["status"] == "READY"
        live = ()
        if ready:
            first = rest.split(";")[0].strip()
            live = tuple(k.strip() for k in first.removesuffix(" live").split(",") if k.strip())
        verdicts.append(Verdict(match["name"] or f"line {number}", ready, live, rest))
    return verdicts


def report(verdicts: list[Verdict]) -> str:
    """Counts a facilitator acts on: how many are ready, who is not and why, what runs live."""
    if not verdicts:
        raise ValueError("no verdict lines found (each should contain 'READY:' or "
                         "'NOT READY:' as printed by python -m labkit doctor --verdict)")
    ready = [v for v in verdicts if v.ready]
    lines = [f"{len(verdicts)} machines: {len(ready)} READY, "
             f"{len(verdicts) - len(ready)} NOT READY"]
    lines += [f"  NOT READY  {v.name}: {v.detail}" for v in verdicts if not v.ready]
    live = Counter(kind for v in ready for kind in v.live)
    if live:
        lines.append("runs live on the READY machines: " +
                     ", ".join(f"{kind} {count}" for kind, count in live.most_common()))
    return "\n".join(lines)


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python workshop/collect_verdicts.py FILE", file=sys.stderr)
        return 2
    try:
        print(report(parse(Path(args[0]).read_text())))
    except (OSError, ValueError) as exc:
        print(f"collect_verdicts: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
