"""A pytest plugin (loaded from pyproject's addopts) for how nbval compares notebooks.

Plotly figures and widget views are stored as JSON whose bytes change with library
versions and random model ids, so nbval does not compare them; every notebook prints or
asserts the numbers behind each figure instead, and those ARE compared.

A cell whose output depends on which kinds run here says so on a line of its own:

    # NBVAL_DEPENDS_ON: v8

Its stored output is compared only where those kinds are as available as they were when the
notebook was stored (the stamp that `make notebooks` writes, see labkit.devtools.stamp). A machine
that takes the other path (no workerd, no root for containers) still runs the cell, and the
assertion cells after it check what it printed; it is just not held to the other path's text.
"""

from __future__ import annotations

import re

SKIPPED_MIME_TYPES = (
    "application/vnd.plotly.v1+json",
    "application/vnd.jupyter.widget-view+json",
    "application/vnd.jupyter.widget-state+json",
)
DEPENDS_ON = re.compile(r"^\s*#\s*NBVAL_DEPENDS_ON:\s*(?P<kinds>[\w, ]+?)\s*$", re.MULTILINE)


def pytest_collectstart(collector):
    if hasattr(collector, "skip_compare"):
        collector.skip_compare = collector.skip_compare + SKIPPED_MIME_TYPES


def depends_on(source: str) -> list[str]:
    """The kinds a cell's output depends on, from its NBVAL_DEPENDS_ON lines."""
    return [kind.strip() for found in DEPENDS_ON.finditer(source)
            for kind in found["kinds"].split(",") if kind.strip()]


def same_path(kinds: list[str], stored_profile: dict, live_profile: dict) -> bool:
    """Did this machine take the stored output's path for every kind the cell depends on?"""
    return all(kind in stored_profile and stored_profile[kind] == live_profile.get(kind)
               for kind in kinds)


def pytest_collection_modifyitems(session, config, items):
    for item in items:
        cell, notebook = getattr(item, "cell", None), getattr(item.parent, "nb", None)
        if cell is None or notebook is None or not item.options.get("check"):
            continue
        kinds = depends_on(cell.source)
        if not kinds:
            continue
        from .stamp import profile

        stored = notebook.metadata.get("labkit", {}).get("profile", {})
        if not same_path(kinds, stored, profile()):
            item.options["check"] = False
