"""labkit/lab/ holds what notebooks import, one module per notebook, in one palette.

Each public helper says where it is defined (d2l's "Defined in" line) by a notebook
section that exists, so a renamed heading or a moved helper shows up here; the library
layer does not reach up into lab/; colours come from lab/style.py only.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import pkgutil
import re
from pathlib import Path

import pytest

import labkit.lab

ROOT = Path(__file__).resolve().parents[1]
LABKIT = ROOT / "labkit"
DEFINED_IN = re.compile(r"^Defined in notebook (\d\d[a-z]?) § (.+)$", re.MULTILINE)
HEX_COLOUR = re.compile(r"#[0-9A-Fa-f]{6}\b")
# Files that may hold colour literals: the palette itself; until they switch to it,
# claims.html_table's verdict colours (Okabe-Ito hexes) and pool's median line and outline.
COLOURS_ALLOWED = {"lab/style.py", "claims.py", "pool.py"}


def lab_modules():
    return [importlib.import_module(f"labkit.lab.{m.name}")
            for m in pkgutil.iter_modules(labkit.lab.__path__)]


def headings(number: str) -> set[str]:
    (path,) = ROOT.glob(f"notebooks/{number}_*.ipynb")
    cells = json.loads(path.read_text())["cells"]
    return {line.lstrip("#").strip() for cell in cells if cell["cell_type"] == "markdown"
            for line in "".join(cell["source"]).splitlines() if line.startswith("#")}


def public_helpers():
    for module in lab_modules():
        for name, obj in vars(module).items():
            if not name.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj)) \
                    and obj.__module__ == module.__name__:
                yield f"{module.__name__}.{name}", obj


def test_every_lab_module_names_its_notebook_in_its_docstring():
    for module in lab_modules():
        doc = module.__doc__ or ""
        assert re.search(r"[Nn]otebooks? \d\d", doc), f"{module.__name__} names no notebook"


@pytest.mark.parametrize("name, obj", list(public_helpers()), ids=lambda v: str(v))
def test_every_public_helper_says_which_notebook_section_defines_it(name, obj):
    found = DEFINED_IN.search(inspect.getdoc(obj) or "")
    assert found, f"{name}: no 'Defined in notebook NN § heading' line in its docstring"
    number, heading = found.groups()
    assert heading in headings(number), \
        f"{name}: notebook {number} has no heading {heading!r}"


def test_the_library_does_not_import_lab_except_pool_for_the_palette():
    reach_up = {}
    for path in LABKIT.rglob("*.py"):
        relative = path.relative_to(LABKIT).as_posix()
        if relative.startswith("lab/"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                module = "." * node.level + (node.module or "")
                if re.match(r"^(\.+|labkit\.)lab(\.|$)", module):
                    reach_up.setdefault(relative, set()).add(module)
    assert reach_up == {"pool.py": {".lab.style"}}


def test_colours_come_from_the_one_palette():
    stray = {path.relative_to(LABKIT).as_posix(): HEX_COLOUR.findall(path.read_text())
             for path in LABKIT.rglob("*.py")}
    stray = {k: v for k, v in stray.items() if v and k not in COLOURS_ALLOWED}
    assert stray == {}
    assert len(HEX_COLOUR.findall((LABKIT / "lab" / "style.py").read_text())) == 9


@pytest.mark.parametrize("gone", ["viz", "viz_isolates", "viz_v8", "viz_containers", "widgets",
                                  "v8_lab", "containers_lab", "isolates", "exercises"])
def test_the_old_flat_modules_are_gone(gone):
    assert not (LABKIT / f"{gone}.py").exists()
