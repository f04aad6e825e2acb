"""The outputs stored in the notebooks are the ones today's labkit makes.

A reader sees stored outputs before running anything (and on the published site, only
those). Once, a doctor table recorded before the sandboxes existed said every kind was "not
built yet", and no test noticed because the cell's output is not compared. These tests hold
every notebook to the stamp `make notebooks` writes (see labkit/devtools/stamp.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labkit.devtools import nbval_compare, stamp

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))
STALE_PHRASES = ("not built yet", "Error displaying widget", "Model not found")


def outputs_text(path: Path) -> list[tuple[int, str]]:
    """(cell index, text) for every stored output of a notebook."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    found = []
    for index, cell in enumerate(notebook["cells"]):
        for output in cell.get("outputs", []):
            found.append((index, json.dumps(output)))
    return found


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 6


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_outputs_come_from_todays_labkit(path):
    stamped = stamp.read_stamp(path)
    assert stamped, f"{path.name} was never stamped: run `make notebooks`"
    assert stamped["source_digest"] == stamp.source_digest(), (
        f"{path.name}'s stored outputs were made by another version of labkit or data/: "
        "run `make notebooks` and commit the notebooks")


def test_every_notebook_was_stored_on_one_path():
    profiles = {path.name: stamp.read_stamp(path).get("profile") for path in NOTEBOOKS}
    assert len({json.dumps(p, sort_keys=True) for p in profiles.values()}) == 1, profiles


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_stored_output_is_an_error_or_stale(path):
    for index, text in outputs_text(path):
        assert '"output_type": "error"' not in text, f"{path.name} cell {index} stored an error"
        for phrase in STALE_PHRASES:
            assert phrase not in text, f"{path.name} cell {index} says {phrase!r}"


def test_depends_on_reads_the_marker_lines():
    source = "# NBVAL_DEPENDS_ON: v8, runc\nprint(1)\n#NBVAL_DEPENDS_ON: podman\n"
    assert nbval_compare.depends_on(source) == ["v8", "runc", "podman"]
    assert nbval_compare.depends_on("print('# NBVAL_DEPENDS_ON: v8')") == []


@pytest.mark.parametrize("stored, live, same", [
    ({"v8": True}, {"v8": True}, True),
    ({"v8": True}, {"v8": False}, False),
    ({"v8": False}, {"v8": False}, True),
    ({}, {"v8": True}, False),  # never stamped: nothing to hold the cell to
])
def test_a_cell_is_compared_only_on_the_path_it_was_stored_on(stored, live, same):
    assert nbval_compare.same_path(["v8"], stored, live) is same


def test_every_path_dependent_cell_names_a_real_kind():
    from labkit.sandboxes import KINDS

    for path in NOTEBOOKS:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        for cell in notebook["cells"]:
            for kind in nbval_compare.depends_on("".join(cell["source"])):
                assert kind in KINDS, f"{path.name}: NBVAL_DEPENDS_ON names {kind!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_stored_explorer_says_how_to_get_its_sliders(path):
    """A saved explorer cell shows one line of text; the prose before it says to run it."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    for index, cell in enumerate(cells):
        if cell["cell_type"] == "code" and "Explorer(" in "".join(cell["source"]):
            before = next(c for c in reversed(cells[:index]) if c["cell_type"] == "markdown")
            assert "sliders appear when you run" in "".join(before["source"]), (
                f"{path.name} cell {index}: no hint to run the explorer")
