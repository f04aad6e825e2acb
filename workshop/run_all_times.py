"""Measure how long each notebook takes to Run All, and what the docs should say about it.

Each notebook is executed top to bottom in a fresh kernel (`jupyter nbconvert --execute`)
into a temporary folder, so nothing in notebooks/ is saved over. Each call appends one run
(the machine, its load, the doctor's verdict, seconds per notebook) to
workshop/run-all-times.json. The time the README and each notebook's header state is
`stated_seconds()`: the quickest run, rounded to 5 seconds. Other work on the machine can
only slow a run down, so the quickest is the best estimate for an attendee's own machine;
every run is kept with its load average, so the spread stays visible. Each run also keeps a
fingerprint of every notebook's code, and only runs of the code as it is now count: after a
notebook's code changes, measure it again. tests/test_workshop.py checks that the README and
the headers say this figure.

    python workshop/run_all_times.py            # measure every notebook, add a run
    python workshop/run_all_times.py --fresh    # forget earlier runs first
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
RESULTS = Path(__file__).resolve().parent / "run-all-times.json"
# Generous: a notebook that takes longer than this is broken, not slow.
TIMEOUT_SECONDS = 900


def stated_seconds(seconds: list[float]) -> int:
    """What the docs say: the quickest measured Run All, to the nearest 5 s (at least 5)."""
    return max(5, 5 * round(min(seconds) / 5))


def load_runs(path: Path = RESULTS) -> list[dict]:
    return json.loads(path.read_text())["runs"] if path.exists() else []


def fingerprint(notebook: Path) -> str:
    """A short hash of a notebook's code cells: prose edits keep it, code edits change it."""
    cells = json.loads(Path(notebook).read_text())["cells"]
    code = "\n\0".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    return hashlib.sha256(code.encode()).hexdigest()[:16]


def stated_by_notebook(runs: list[dict], current: dict[str, str] | None = None
                       ) -> dict[str, int]:
    """notebook stem -> stated Run All seconds, over every run that measured it (only runs
    of the code whose fingerprint is in `current`, when given)."""
    seen: dict[str, list[float]] = {}
    for run in runs:
        for stem, seconds in run["seconds"].items():
            if current is None or run.get("code", {}).get(stem) == current.get(stem):
                seen.setdefault(stem, []).append(seconds)
    return {stem: stated_seconds(values) for stem, values in sorted(seen.items())}


def current_fingerprints(folder: Path = NOTEBOOKS) -> dict[str, str]:
    return {path.stem: fingerprint(path) for path in sorted(Path(folder).glob("*.ipynb"))}


def run_all(notebook: Path, out_dir: Path) -> float:
    """Seconds to execute one notebook top to bottom in a fresh kernel (kernel start included)."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
         "--output-dir", str(out_dir), f"--ExecutePreprocessor.timeout={TIMEOUT_SECONDS}",
         "--ExecutePreprocessor.store_widget_state=False", str(notebook)],
        check=True, capture_output=True, text=True, cwd=notebook.parent)
    return round(time.perf_counter() - start, 1)


def measure(notebooks: list[Path]) -> dict:
    """One run over the given notebooks, with what it ran on."""
    from labkit import doctor
    from labkit.measure import machine_info

    run = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine_info(),
           "root": os.geteuid() == 0, "verdict": doctor.verdict(doctor.check_all()),
           "load_before": round(os.getloadavg()[0], 2), "seconds": {},
           "code": {path.stem: fingerprint(path) for path in notebooks}}
    with tempfile.TemporaryDirectory(prefix="run-all-") as out_dir:
        for notebook in notebooks:
            run["seconds"][notebook.stem] = run_all(notebook, Path(out_dir))
            print(f"{notebook.stem}: {run['seconds'][notebook.stem]} s", flush=True)
    run["load_after"] = round(os.getloadavg()[0], 2)
    return run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fresh", action="store_true", help="forget earlier runs")
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to measure (default: every notebook)")
    args = parser.parse_args(argv)
    notebooks = [p.resolve() for p in args.notebooks] or sorted(NOTEBOOKS.glob("*.ipynb"))
    runs = [] if args.fresh else load_runs()
    try:
        runs.append(measure(notebooks))
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or "").strip().splitlines()[-1:] or ["no output"]
        print(f"run_all_times: {exc.cmd[-1]} failed: {tail[0]}", file=sys.stderr)
        return 1
    RESULTS.write_text(json.dumps({"runs": runs}, indent=1) + "\n")
    stated = stated_by_notebook(runs, current_fingerprints())
    print("stated Run All times: " + ", ".join(f"{k[:2]} {v} s" for k, v in stated.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
