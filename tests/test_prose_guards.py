"""No unguarded comparison: prose about a varying output is pinned by an assertion.

A cell marked NBVAL_IGNORE_OUTPUT prints numbers that change from run to run and machine
to machine. A sentence right after it that compares or quantifies ("crun takes about half as
long", "three to four milliseconds") is true only on the machine it was written on, unless an
assertion checks it. Twice such sentences went stale unnoticed. So: a markdown cell that
follows varying output and compares or quantifies must have an assertion cell between that
output and the sentence, or right after the sentence.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))
QUANTITY = r"[\d,.]+\s*(?:ms|µs|MB|KB|GB|x\b|times\b|%)"
COMPARATIVE = re.compile(
    # a comparison between things
    r"\b(?:faster|slower|twice|half as|orders? of magnitude|cheaper|heavier|lighter"
    r"|more than|less than|fewer than|times (?:as|more|less|faster|slower|higher|lower))\b"
    r"|\d[\d,.]*\s*x\b|\d[\d,.]*\s*times\s+(?:as|more|less|the|that|what)\b"
    # or a measured quantity stated as a fact ("about 4 ms", "takes 30 ms"), not a setting
    rf"|\b(?:about|around|roughly|nearly|under|over|only|takes?|took|costs?|adds?)\s+{QUANTITY}"
    r"|\b(?:one|two|three|four|five|ten|tens|hundreds|thousands)(?: to \w+)?\s+"
    r"(?:milli|micro)?(?:seconds|megabytes|kilobytes)\b",
    re.IGNORECASE)
WINDOW = 3  # code cells back from the prose that it may be talking about


def source(cell) -> str:
    return "".join(cell["source"])


def is_varying(cell) -> bool:
    return cell["cell_type"] == "code" and source(cell).lstrip().startswith(
        "# NBVAL_IGNORE_OUTPUT")


def is_guard(cell) -> bool:
    """An assertion cell that says it pins prose (a comment naming "prose"): a bare sanity
    assert (0 < t < 5,000) guards the code, not the sentence next to it."""
    text = source(cell)
    return (cell["cell_type"] == "code" and re.search(r"^\s*assert\b", text, re.M)
            and re.search(r"#.*\bprose\b", text))


def prose_sentences(text: str) -> list[str]:
    """Sentences of a markdown cell, without code spans and quotes of published figures."""
    text = re.sub(r"`[^`]*`", "", text)
    text = re.sub(r"\"[^\"]*\"|“[^”]*”|\*\"[^\"]*\"\*", "", text)
    return [s for s in re.split(r"(?<=[.!?:])\s+", text) if s.strip()]


def unguarded(cells: list[dict]) -> list[tuple[int, str]]:
    """(cell index, sentence) for each comparative sentence after varying output, unpinned."""
    found = []
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "markdown":
            continue
        before = [i for i in range(index - 1, -1, -1) if cells[i]["cell_type"] == "code"]
        before = before[:WINDOW]
        varying = [i for i in before if is_varying(cells[i])]
        if not varying:
            continue
        latest_varying = max(varying)
        guarded_before = any(is_guard(cells[i]) for i in range(latest_varying + 1, index))
        after = next((c for c in cells[index + 1:] if c["cell_type"] == "code"), None)
        guarded_after = after is not None and is_guard(after)
        if guarded_before or guarded_after:
            continue
        for sentence in prose_sentences(source(cell)):
            if COMPARATIVE.search(sentence) and "recorded" not in sentence.lower():
                found.append((index, sentence.strip()[:160]))
    return found


def test_the_scan_finds_an_unguarded_comparison():
    cells = [{"cell_type": "code", "source": ["# NBVAL_IGNORE_OUTPUT\nprint(t)"]},
             {"cell_type": "markdown", "source": ["crun takes about half as long as runc."]}]
    assert unguarded(cells)
    cells.insert(1, {"cell_type": "code", "source": ["assert t['crun'] < 0.6 * t['runc']"]})
    assert unguarded(cells), "a bare assert does not say it pins the sentence"
    cells[1]["source"] = ["# the prose below: crun is quicker\nassert t['crun'] < 0.6 * t['runc']"]
    assert not unguarded(cells)


def test_the_scan_leaves_prose_about_fixed_output_alone():
    cells = [{"cell_type": "code", "source": ["print(figure.value)"]},
             {"cell_type": "markdown", "source": ["Containers start 100 times slower."]}]
    assert not unguarded(cells)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_unguarded_comparison_after_varying_output(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    problems = unguarded(cells)
    assert not problems, "\n".join(f"cell {i}: {s}" for i, s in problems)
