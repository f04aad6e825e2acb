"""Every notebook runs to the end on the machines a room actually has.

The stored outputs come from a machine where every kind runs. An attendee without root has
WebAssembly and V8 but no containers; one without npm has no workerd; a JupyterHub or Binder
user has neither. Each notebook must run top to bottom there too (notebook 05 once stopped
for the first of these), and every output that does not depend on the path must stay the
same. Cells whose output does depend on it carry `# NBVAL_DEPENDS_ON: kind`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import nbformat
import pytest
from conftest import notebook_texts as texts
from nbclient import NotebookClient

from labkit import paths
from labkit.devtools import nbval_compare, stamp

NO_CONTAINERS = {"LABKIT_NO_CONTAINERS": "1"}
NO_WORKERD = {"LABKIT_RUNTIMES": "{tmp}/no-runtimes"}
HUB = {**NO_CONTAINERS, **NO_WORKERD}
CASES = [
    ("00_start_here", HUB),
    ("03_isolates_up_close", NO_WORKERD),
    ("04_containers_up_close", NO_CONTAINERS),
    ("04b_stronger_walls", HUB),
    ("05_head_to_head", NO_CONTAINERS),
    ("05_head_to_head", NO_WORKERD),
    ("07_an_agent_at_work", HUB),
]


def profile_under(env: dict) -> dict:
    """The kinds available with this environment, from a fresh process (labkit reads some
    variables, like LABKIT_RUNTIMES, once at import)."""
    code = "import json; from labkit.devtools.stamp import profile; print(json.dumps(profile()))"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120, check=True)
    return json.loads(done.stdout)


def compared(cell, stored_profile: dict, live_profile: dict) -> bool:
    """Would nbval hold this cell's output to the stored one on this path?"""
    if cell.cell_type != "code" or "NBVAL_IGNORE_OUTPUT" in cell.source.split("\n")[0]:
        return False
    kinds = nbval_compare.depends_on(cell.source)
    return not kinds or nbval_compare.same_path(kinds, stored_profile, live_profile)


@pytest.mark.slow
@pytest.mark.timeout(400)
@pytest.mark.parametrize("name, env", CASES,
                         ids=[f"{n[:2]}-{'+'.join(sorted(e))}" for n, e in CASES])
def test_notebook_runs_to_the_end_without_these_runtimes(name, env, monkeypatch, tmp_path):
    for key, value in env.items():
        monkeypatch.setenv(key, value.format(tmp=tmp_path))
    live_profile = profile_under(dict(os.environ))
    path = paths.PROJECT_ROOT / "notebooks" / f"{name}.ipynb"
    stored = nbformat.read(path, as_version=4)
    fresh = nbformat.read(path, as_version=4)
    # Raises CellExecutionError, naming the cell, if any cell fails on this path.
    NotebookClient(fresh, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    stored_profile = stamp.read_stamp(path).get("profile", {})
    for old, new in zip(stored.cells, fresh.cells, strict=True):
        if compared(new, stored_profile, live_profile):
            assert texts(new) == texts(old), f"{name}: {new.source[:120]}"
