"""Debian's Chromium driven by Playwright (which cannot download its own browsers here).

`find()` says where Chromium is, or why there is none; `launch()` opens it headless at a
laptop's screen size with a fresh profile and nothing that phones home, and closes it after.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

# The usual homes of a system Chromium; CHROMIUM=/path/to/chrome picks another.
CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome",
              "/snap/bin/chromium")
LAPTOP = {"width": 1366, "height": 768}
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]
INSTALL_HINT = "install it: sudo apt-get install chromium (or set CHROMIUM=/path/to/chrome)"


def find() -> tuple[str | None, str]:
    """(path, "") when a Chromium is present, else (None, why not and how to fix)."""
    chosen = os.environ.get("CHROMIUM")
    if chosen:
        if os.access(chosen, os.X_OK):
            return chosen, ""
        return None, f"CHROMIUM={chosen} is not an executable file"
    for candidate in CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate, ""
    on_path = shutil.which("chromium") or shutil.which("chromium-browser")
    if on_path:
        return on_path, ""
    return None, f"no Chromium found at {', '.join(CANDIDATES)}; {INSTALL_HINT}"


@contextlib.contextmanager
def launch(playwright, executable: str, profile_dir: Path):
    """Yield a browser context (one window, laptop-sized); close the browser on the way out."""
    context = playwright.chromium.launch_persistent_context(
        str(profile_dir), executable_path=executable, headless=True, args=FLAGS,
        viewport=LAPTOP, accept_downloads=False)
    try:
        yield context
    finally:
        context.close()
