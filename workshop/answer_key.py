"""Generate the instructors' answer key from the notebooks' own self-check cells.

Nothing here lists the exercises: every code cell that calls a labkit self-check
(`check_number`, `check_choice`, `check_true`, `check_export`, or any later `check_*`
imported from labkit) is an exercise, and its answer is read from the call itself:
`expected=` for numbers and choices, a file in workshop/solutions/ for written code and for
checks whose condition is not one expected value. So when a notebook gains, loses or
changes an exercise, rerunning this script updates the key, and tests/test_workshop.py
fails until it is rerun.

    python workshop/answer_key.py           # write workshop/answer-key.md
    python workshop/answer_key.py --check   # exit 1 if the key is out of date
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SOLUTIONS = Path(__file__).resolve().parent / "solutions"
KEY = Path(__file__).resolve().parent / "answer-key.md"
# A heading or bold lead-in that opens an exercise in the notebooks' markdown.
EXERCISE_START = re.compile(r"^(#+ *Exercise|\*\*Exercise|\*\*\d+\.)", re.IGNORECASE)


@dataclass(frozen=True)
class Exercise:
    """One self-checked exercise: where it is, what it asks and what the check accepts."""

    notebook: str       # file stem, e.g. "02_the_scaling_math"
    number: int         # 1, 2, ... in notebook order
    cell: int           # index of the self-check cell
    question: str       # the markdown that asks it
    check: str          # check_number, check_choice, ...
    inputs: tuple       # what the attendee assigns, e.g. ("peak_chefs",)
    expected: str | None  # the source of the accepted value, e.g. "10_000 * 0.20 * 2.5"
    value: object       # that value when it needs no measurement, else None
    tolerance: str      # how close a number must be, in words
    solutions: dict     # input -> (text, path) from workshop/solutions/, where one exists

    @property
    def title(self) -> str:
        """The notebook's own name for it ("Exercise 3"), or that it sits in the text (a
        prediction checked mid-notebook has no exercise heading of its own)."""
        first = self.question.splitlines()[0].strip() if self.question else ""
        found = re.match(r"^(?:#+\s*|\*\*)Exercise\s+(\d+)|^\*\*(\d+)\.", first, re.I)
        if found:
            return f"Exercise {found.group(1) or found.group(2)}"
        return "A check in the text"

    @property
    def live(self) -> bool:
        """True when the accepted answer depends on this machine's own measurement."""
        return not self.solutions and self.value is None

    def answers(self) -> dict[str, str]:
        """input -> Python source that, assigned to it, the self-check accepts."""
        if self.solutions:
            return {name: text.strip() if path.endswith(".expr") else repr(text)
                    for name, (text, path) in self.solutions.items()}
        if self.value is not None:
            return {self.inputs[0]: repr(_shown(self.value))}
        return {self.inputs[0]: self.expected}


class KeyError_(Exception):
    """An exercise whose answer this script cannot find; the message says what to add."""


def _shown(value):
    """The value as the key gives it: 6 significant digits, whole numbers without '.0'."""
    if isinstance(value, float):
        value = float(f"{value:.6g}")
        return int(value) if value.is_integer() and abs(value) < 1e15 else value
    return value


def _code(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _parse(source: str) -> ast.Module | None:
    """A cell's syntax tree; None for a cell with IPython magics or shell lines."""
    try:
        return ast.parse(source)
    except SyntaxError:
        return None


def _imports(cells) -> dict[str, str]:
    """name -> 'module.attr' for every `from labkit... import name` in the cells."""
    names = {}
    for cell in cells:
        tree = _parse(_code(cell)) if cell["cell_type"] == "code" else None
        for node in ast.walk(tree) if tree else ():
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("labkit"):
                for alias in node.names:
                    names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _import_namespace(cells) -> dict:
    """What the notebook's top-level import statements bind, and nothing it measures."""
    namespace: dict = {}
    for cell in cells:
        tree = _parse(_code(cell)) if cell["cell_type"] == "code" else None
        for node in tree.body if tree else ():
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                exec(compile(ast.Module([node], []), "<imports>", "exec"), namespace)
    return namespace


def _resolve(dotted: str):
    module, _, attr = dotted.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def _question(cells, index: int) -> str:
    """The markdown before a check cell, from its last exercise heading on."""
    for cell in reversed(cells[:index]):
        if cell["cell_type"] != "markdown":
            continue
        lines = _code(cell).splitlines()
        starts = [i for i, line in enumerate(lines) if EXERCISE_START.match(line.strip())]
        return "\n".join(lines[starts[-1]:] if starts else lines).strip()
    return ""


def _solution(notebook: str, name: str) -> tuple[str, str] | None:
    """(text, path) of workshop/solutions/<notebook>--<name>.*, if it exists."""
    matches = sorted(SOLUTIONS.glob(f"{notebook}--{name}.*"))
    return (matches[0].read_text(), matches[0].relative_to(ROOT).as_posix()) if matches else None


def _assigned(tree: ast.Module | None) -> dict:
    """name -> the value node of its first top-level assignment in a cell."""
    assigned = {}
    for node in tree.body if tree else []:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    assigned.setdefault(target.id, node.value)
    return assigned


def _inputs(tree: ast.Module, call: ast.Call, answer: ast.AST | None,
            earlier: dict | None = None) -> tuple[str, ...]:
    """What the attendee fills in: the checked name if the cell assigns it, or if an earlier
    cell sets it to `...` (a prediction written before a measurement); else every name the
    call uses that the cell sets to `...` (or to a code string) before the call."""
    assigned = _assigned(tree)
    if isinstance(answer, ast.Name) and answer.id in assigned:
        return (answer.id,)
    earlier = earlier or {}
    if (isinstance(answer, ast.Name) and isinstance(earlier.get(answer.id), ast.Constant)
            and earlier[answer.id].value is ...):
        return (answer.id,)
    used = [n.id for n in ast.walk(call) if isinstance(n, ast.Name)]
    return tuple(dict.fromkeys(
        name for name in used if name in assigned and isinstance(assigned[name], ast.Constant)
        and (assigned[name].value is ... or isinstance(assigned[name].value, str))))


def _static_value(source: str | None, namespace: dict):
    """The expected value when it follows from imports and literals alone, else None."""
    if source is None:
        return None
    try:
        value = eval(source, dict(namespace))  # the notebook's own expression
    except Exception:  # a name the notebook measures first: the answer is the reader's own
        return None
    if hasattr(value, "item"):  # a numpy scalar
        value = value.item()
    return value if isinstance(value, (int, float, str)) else None


def _tolerance(check: str, bound: inspect.BoundArguments) -> str:
    if check == "check_prediction":
        return f"any prediction within {ast.literal_eval(bound.arguments['within']):g}x"
    if check != "check_number":
        return "exact"
    rel_tol = bound.arguments.get("rel_tol")
    if rel_tol is None:
        default = bound.signature.parameters["rel_tol"].default
        return f"within {default:.0%}"
    value = ast.literal_eval(rel_tol)
    return "exact" if value == 0 else f"within {value:.0%}"


def exercises(path: Path) -> list[Exercise]:
    """Every self-checked exercise in one notebook, in order."""
    cells = json.loads(Path(path).read_text())["cells"]
    checks = {name: dotted for name, dotted in _imports(cells).items()
              if name.startswith("check_")}
    found, earlier = [], {}
    for index, cell in enumerate(cells):
        source = _code(cell)
        tree = _parse(source) if cell["cell_type"] == "code" else None
        previous, earlier = earlier, {**_assigned(tree), **earlier}
        calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
                 and isinstance(node.func, ast.Name) and node.func.id in checks] if tree else []
        for call in calls:
            stem = Path(path).stem
            signature = inspect.signature(_resolve(checks[call.func.id]))
            bound = signature.bind_partial(*call.args, **{k.arg: k.value for k in call.keywords})
            first = next(iter(bound.arguments.values()), None)
            inputs = _inputs(tree, call, first, previous)
            if not inputs:
                raise KeyError_(f"{stem} cell {index}: {call.func.id} checks no name the cell "
                                "assigns; start the cell with `your_answer = ...`")
            solutions = {name: found_file for name in inputs
                         if (found_file := _solution(stem, name))}
            # What the check accepts: expected= for numbers and choices, the measurement a
            # prediction is held to, the right explanation.
            expected = next((bound.arguments[key] for key in ("expected", "measured", "right")
                             if key in bound.arguments), None)
            expected_src = ast.get_source_segment(source, expected) if expected else None
            value = None if solutions else _static_value(
                expected_src, _import_namespace(cells[:index + 1]))
            if (expected_src is None or len(inputs) > 1) and set(solutions) != set(inputs):
                missing = ", ".join(sorted(set(inputs) - set(solutions)))
                raise KeyError_(
                    f"{stem} cell {index}: {call.func.id} has no single expected= answer for "
                    f"{missing}; write each to workshop/solutions/{stem}--NAME.expr (a Python "
                    "expression) or .wat/.js (code the check runs)")
            found.append(Exercise(stem, len(found) + 1, index, _question(cells, index),
                                  call.func.id, inputs, expected_src, value,
                                  _tolerance(call.func.id, bound), solutions))
    return found


def all_exercises(folder: Path = NOTEBOOKS) -> dict[str, list[Exercise]]:
    return {path.stem: exercises(path) for path in sorted(Path(folder).glob("*.ipynb"))}


def _answer_text(ex: Exercise) -> str:
    if ex.solutions:
        parts = []
        for name, (text, path) in ex.solutions.items():
            if path.endswith(".expr"):
                parts.append(f"`{name} = {text.strip()}` (from `{path}`)")
            else:
                fence = Path(path).suffix.lstrip(".")
                parts.append(f"`{name}` set to `{path}`:\n\n```{fence}\n{text.strip()}\n```")
        if ex.expected:
            parts.append(f"The check compares with `{ex.expected}` ({ex.tolerance}).")
        return "\n\n".join(parts)
    (name,) = ex.inputs
    if isinstance(ex.value, str):
        return f"`{name} = {ex.answers()[name]}`"
    if ex.value is not None:
        shown = _shown(ex.value)
        shown = f"{shown:,}" if isinstance(shown, int) else f"{shown:,.6g}"
        return (f"`{name} = {ex.answers()[name]}`  ({shown}, {ex.tolerance}; "
                f"worked out: `{ex.expected}`)")
    return (f"depends on the attendee's own measurement: `{name} = {ex.expected}` "
            f"({ex.tolerance}). Compare with the value their neighbours get.")


def render(exercises_by_notebook: dict[str, list[Exercise]]) -> str:
    """The answer key as Markdown, one section per notebook."""
    total = sum(map(len, exercises_by_notebook.values()))
    out = ["# Answer key (for instructors)", "",
           "Generated by `python workshop/answer_key.py` from the self-check cells of the "
           "notebooks; do not edit by hand. `tests/test_workshop.py` feeds every answer below "
           "to its notebook's own self-check and fails if one is refused or this file is "
           "out of date.", "",
           f"{total} exercises in {len(exercises_by_notebook)} notebooks. Answers marked "
           "*measured* depend on each attendee's machine: the key gives the expression the "
           "check compares with, so the facilitator can say how to get there. Cell numbers "
           "count every cell from 0.", ""]
    for stem, found in exercises_by_notebook.items():
        out += [f"## {stem}", ""]
        if not found:
            out += ["No self-checked exercises.", ""]
        for ex in found:
            tag = " *(measured)*" if ex.live else ""
            question = "\n".join("> " + line if line else ">" for line in ex.question.splitlines())
            out += [f"### {ex.title}{tag} (self-check {ex.number}, code cell {ex.cell}, "
                    f"`{ex.check}`)", "",
                    question, "", "**Answer:** " + _answer_text(ex), ""]
    return "\n".join(out).rstrip() + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the key is stale")
    args = parser.parse_args(argv)
    try:
        text = render(all_exercises())
    except KeyError_ as exc:
        print(f"answer_key: {exc}", file=sys.stderr)
        return 1
    if args.check:
        if not KEY.exists() or KEY.read_text() != text:
            print(f"answer_key: {KEY.relative_to(ROOT)} is out of date; run "
                  "python workshop/answer_key.py", file=sys.stderr)
            return 1
        return 0
    KEY.write_text(text)
    print(f"wrote {KEY.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
