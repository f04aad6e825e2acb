"""Where the lab keeps things: the project folder, its data, its local runtimes."""

import os
from pathlib import Path

# labkit is installed in editable mode from the project folder, so this is the checkout.
PROJECT_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = PROJECT_ROOT / "data"
RECORDED_DIR = DATA_DIR / "recorded"
REFERENCE_FIGURES = DATA_DIR / "reference_figures.csv"
# Runtimes installed for this project only (workerd from npm), never system-wide.
RUNTIMES_DIR = Path(os.environ.get("LABKIT_RUNTIMES", PROJECT_ROOT / ".runtimes"))
WORKERD_LOCAL = RUNTIMES_DIR / "node_modules" / ".bin" / "workerd"
