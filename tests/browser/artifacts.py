"""Screenshots of what the browser showed when a check failed, kept for CI to collect.

They go to test-artifacts/browser/ in the checkout (ignored by git), named after the test,
so a failure on a machine nobody can log in to can still be looked at.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from pathlib import Path

FOLDER = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"

SCROLL_TO_CELL_JS = """
(index) => {
  const cells = window.jupyterapp.shell.currentWidget.content.widgets;
  if (cells[index]) cells[index].node.scrollIntoView({block: 'start'});
}
"""


def fresh_folder() -> Path:
    """Empty the folder at the start of a run, so every file in it is from this run."""
    shutil.rmtree(FOLDER, ignore_errors=True)
    FOLDER.mkdir(parents=True, exist_ok=True)
    return FOLDER


def keep(page, name: str, cell: int | None = None) -> Path | None:
    """Save a screenshot of the page (scrolled to `cell` first, if given); its path."""
    FOLDER.mkdir(parents=True, exist_ok=True)
    path = FOLDER / (re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") + ".png")
    try:
        if cell is not None:
            page.evaluate(SCROLL_TO_CELL_JS, cell)
            page.wait_for_timeout(300)
        page.screenshot(path=str(path))
    except Exception:  # a dead page must not hide the failure being reported
        return None
    return path


@contextlib.contextmanager
def on_failure(page, name: str, cell: int | None = None):
    """Run a block; if it fails, keep a screenshot and say where it is, then re-raise."""
    try:
        yield
    except BaseException as failure:
        path = keep(page, name, cell)
        if path is not None and hasattr(failure, "add_note"):
            failure.add_note(f"screenshot: {path}")
        raise
