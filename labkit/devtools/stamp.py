"""What produced a notebook's stored outputs: labkit's code and data, and which kinds ran.

`make notebooks` stamps every notebook after running it. A test then refuses stored outputs
made by an older labkit (a doctor table recorded before the sandboxes existed went unnoticed
once), and the nbval plugin knows which path (live or recorded) each stored output took, so a
machine that takes the other path is not compared against it.

    python -m labkit.devtools.stamp notebooks/*.ipynb
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from functools import cache
from pathlib import Path

from ..paths import PROJECT_ROOT

STAMP_KEY = "labkit"
# What a stored output depends on: the package (code and guests) and the data it reads.
_SOURCES = (("labkit", (".py", ".wat", ".js", ".sh", ".capnp")),
            ("data", (".csv", ".json")))


def source_digest(root: Path = PROJECT_ROOT) -> str:
    """A short hash of labkit's code, guests and data: changes whenever an output could."""
    digest = hashlib.sha256()
    for path in _source_files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return digest.hexdigest()[:16]


def _source_files(root: Path) -> list[Path]:
    """The files a stored output depends on; in a git checkout only the tracked ones, so a
    reader's own `bench --save` in data/recorded/ does not make the notebooks look stale."""
    folders = [folder for folder, _ in _SOURCES]
    try:
        listed = subprocess.run(["git", "-C", str(root), "ls-files", "-z", *folders],
                                capture_output=True, check=True, timeout=30).stdout
        candidates = [root / name for name in listed.decode().split("\0") if name]
    except (OSError, subprocess.SubprocessError):
        candidates = [p for folder in folders for p in (root / folder).rglob("*")]
    wanted = dict(_SOURCES)
    return sorted(p for p in candidates
                  if p.is_file() and "__pycache__" not in p.parts
                  and p.suffix in wanted[p.relative_to(root).parts[0]])


@cache
def profile() -> dict[str, bool]:
    """Which kinds of sandbox run on this machine now, by a real trial of each (cached)."""
    from ..sandboxes import KINDS, availability

    return {kind: bool(availability(kind).available) for kind in KINDS}


def stamp(path: Path) -> dict:
    """Write the stamp into one notebook's metadata, keeping the file's layout."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    notebook.setdefault("metadata", {})[STAMP_KEY] = stamp_now = {
        "source_digest": source_digest(), "profile": profile()}
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return stamp_now


def read_stamp(path: Path) -> dict:
    """The stamp a notebook carries, or {} if it was never stamped."""
    notebook = json.loads(Path(path).read_text(encoding="utf-8"))
    return notebook.get("metadata", {}).get(STAMP_KEY, {})


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m labkit.devtools.stamp NOTEBOOK.ipynb ...", file=sys.stderr)
        return 2
    for name in argv:
        done = stamp(Path(name))
        live = ", ".join(k for k, ok in done["profile"].items() if ok) or "none"
        print(f"{name}: labkit {done['source_digest']}; kinds live: {live}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
