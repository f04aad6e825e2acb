"""Published figures the lab compares its measurements with, each with its source.

They live in data/reference_figures.csv (metric, value, unit, system, source, url, year,
quote, measures), so a notebook never shows a published number without its title, URL and
year. `measures` says what a sandbox figure measured (start: cold / warm / pooled; memory:
RSS / PSS; guest included or excluded; scope), so charts set only like beside like.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache

from . import paths


@dataclass(frozen=True)
class Figure:
    metric: str
    value: str
    unit: str
    system: str
    source: str
    url: str
    year: str
    quote: str
    measures: str = ""

    def citation(self) -> str:
        """'title (year), url': how a notebook credits the figure."""
        return f"{self.source} ({self.year}), {self.url}"


@lru_cache(maxsize=1)
def figures() -> tuple[Figure, ...]:
    """Every reference figure, in file order."""
    with open(paths.REFERENCE_FIGURES, newline="") as f:
        return tuple(Figure(**row) for row in csv.DictReader(f))


def figure(metric: str) -> Figure:
    """The one figure whose metric contains `metric` (case-insensitive); error if not one."""
    matches = [f for f in figures() if metric.lower() in f.metric.lower()]
    if len(matches) != 1:
        names = "; ".join(f.metric for f in matches) or "none"
        raise KeyError(f"{len(matches)} reference figures match {metric!r}: {names}")
    return matches[0]


def numbers_in(text: str) -> list[float]:
    """The numbers in a reference value such as '0.04048 / 0.004445' or '500,000-1,000,000'."""
    return [float(n.replace(",", "")) for n in re.findall(r"\d[\d,]*(?:\.\d+)?", text)]
