"""The facilitator's pack stays true: times agree everywhere and match measured Run All times,
the answer key is generated from the notebooks and every answer in it passes the notebook's
own self-check, and the pre-workshop verdict is one line that the collector understands."""

import ast
import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

from labkit import doctor
from labkit.__main__ import main
from labkit.sandboxes import Availability

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
WORKSHOP = ROOT / "workshop"
PLAN = WORKSHOP / "plan.md"


def workshop_module(name):
    """A script from workshop/ (not a package: facilitators run them as files)."""
    spec = importlib.util.spec_from_file_location(f"workshop_{name}", WORKSHOP / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


answer_key = workshop_module("answer_key")
run_all_times = workshop_module("run_all_times")
collect_verdicts = workshop_module("collect_verdicts")


def notebook_files():
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def number(stem: str) -> str:
    """'03_isolates_up_close' -> '03', '04b_stronger_walls' -> '04b': how the README and the
    plan name notebooks."""
    return re.match(r"\d\d[a-z]?", stem)[0]


# ---------------------------------------------------------------- where times are stated


def table_rows(text: str, heading: str) -> list[list[str]]:
    """The cells of each body row of the first Markdown table after a heading."""
    section = text[text.index(heading):]
    rows = []
    for line in section.splitlines()[1:]:
        if rows and not line.startswith("|"):
            break
        if line.startswith("|") and not set(line) <= set("|-: "):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows[1:]  # without the header row


def readme_times() -> dict[str, tuple[int, int | None]]:
    """notebook number -> (minutes, Run All seconds or None) from the README's table."""
    rows = table_rows((ROOT / "README.md").read_text(), "## The notebooks")
    times = {}
    for name, _, minutes, run_all in rows:
        seconds = re.fullmatch(r"about (\d+) s", run_all)
        times[number(name)] = (int(minutes.removesuffix(" min")),
                           int(seconds[1]) if seconds else None)
    return times


def plan_timeline() -> list[tuple[str, str, int]]:
    """(start, notebook stem or '-', minutes) for each row of the plan's timeline."""
    rows = table_rows(PLAN.read_text(), "## The timeline")
    return [(start, stem, int(minutes)) for start, _, stem, minutes in rows]


def plan_sections() -> dict[str, tuple[int, list[int]]]:
    """stem -> (minutes in its heading, minutes of each section row) from the plan."""
    text = PLAN.read_text()
    found = {}
    for match in re.finditer(r"^### (\S+) \((\d+) minutes", text, re.MULTILINE):
        rows = table_rows(text[match.start():], match.group(0))
        found[match[1]] = (int(match[2]), [int(row[1]) for row in rows])
    return found


def header(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    return "".join(cells[0]["source"])


def header_minutes(path: Path) -> int | None:
    found = re.search(r"\*\*Time[^*]*:\*\*\s*about (\d+) minutes", header(path))
    return int(found[1]) if found else None


def header_run_all(path: Path) -> int | None:
    found = re.search(r"Run All\*? takes about (\d+) seconds", header(path))
    return int(found[1]) if found else None


def test_the_plan_adds_up_to_90_minutes_with_at_most_80_of_notebooks():
    """The room's 90 minutes end at the End row; rows after it are take-home notebooks."""
    timeline = plan_timeline()
    end = next(i for i, (_, stem, minutes) in enumerate(timeline) if stem == "-" and not minutes)
    clock = 0
    for start, _, minutes in timeline[:end + 1]:
        hours, mins = map(int, start.split(":"))
        assert hours * 60 + mins == clock, f"{start} should be {clock // 60}:{clock % 60:02}"
        clock += minutes
    assert clock == 90
    assert sum(minutes for _, stem, minutes in timeline[:end] if stem != "-") <= 80
    sections = [row[1] for row in table_rows(PLAN.read_text(), "## The timeline")]
    for (start, stem, _), section in zip(timeline[end + 1:], sections[end + 1:], strict=True):
        assert start == "1:30" and stem != "-" and section.startswith("Take-home"), section


def test_each_notebook_plan_section_adds_up_to_its_minutes():
    timeline = {stem: minutes for _, stem, minutes in plan_timeline() if stem != "-"}
    sections = plan_sections()
    assert set(sections) == set(timeline)
    for stem, (minutes, rows) in sections.items():
        assert sum(rows) == minutes == timeline[stem], stem


def test_readme_and_plan_list_exactly_the_notebooks_there_are():
    on_disk = {number(p.stem) for p in notebook_files()}
    in_plan = {number(stem) for _, stem, _ in plan_timeline() if stem != "-"}
    assert set(readme_times()) == on_disk, "README's notebook table vs notebooks/"
    assert in_plan == on_disk, "workshop/plan.md's timeline vs notebooks/"
    plan_stems = {stem for _, stem, _ in plan_timeline() if stem != "-"}
    assert plan_stems == {p.stem for p in notebook_files()}


@pytest.mark.parametrize("path", notebook_files(), ids=lambda p: p.stem)
def test_stated_minutes_agree_in_readme_plan_and_notebook(path):
    plan = {stem: minutes for _, stem, minutes in plan_timeline()}
    readme = readme_times().get(number(path.stem), (None, None))[0]
    assert header_minutes(path) == readme == plan.get(path.stem), (
        f"{path.stem}: header says {header_minutes(path)}, README {readme}, "
        f"plan {plan.get(path.stem)} minutes")


@pytest.mark.parametrize("path", notebook_files(), ids=lambda p: p.stem)
def test_stated_run_all_time_is_the_measured_one(path):
    stated = run_all_times.stated_by_notebook(run_all_times.load_runs(),
                                              run_all_times.current_fingerprints())
    assert path.stem in stated, (f"{path.stem} was not measured since its code last changed: "
                                 "python workshop/run_all_times.py")
    readme = readme_times().get(number(path.stem), (None, None))[1]
    assert header_run_all(path) == readme == stated[path.stem], (
        f"{path.stem}: measured {stated[path.stem]} s, README says {readme}, "
        f"header says {header_run_all(path)}")


def test_stated_run_all_rounds_the_quickest_run():
    assert run_all_times.stated_seconds([28.2, 11.4]) == 10
    assert run_all_times.stated_seconds([1.0]) == 5
    assert run_all_times.stated_seconds([23.0, 24.1]) == 25
    runs = [{"seconds": {"a": 40.0, "b": 12.0}, "code": {"a": "old", "b": "x"}},
            {"seconds": {"a": 31.0}, "code": {"a": "new"}}]
    assert run_all_times.stated_by_notebook(runs) == {"a": 30, "b": 10}
    assert run_all_times.stated_by_notebook(runs, {"a": "old", "b": "x"}) == {"a": 40, "b": 10}
    assert run_all_times.stated_by_notebook(runs, {"a": "new"}) == {"a": 30}


def test_every_link_in_the_pack_leads_somewhere():
    for page in sorted(WORKSHOP.glob("*.md")):
        text = page.read_text()
        for target in re.findall(r"\]\(([^)#\s]+)(?:#([^)]+))?\)", text):
            path, anchor = target
            if path.startswith(("http://", "https://")):
                continue
            resolved = (page.parent / path).resolve()
            assert resolved.exists(), f"{page.name} links to {path}, which does not exist"
            if anchor and resolved.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", resolved.read_text(), re.MULTILINE)
                slugs = {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-")
                         for h in headings}
                assert anchor in slugs, f"{page.name} links to {path}#{anchor}: no such heading"


# ---------------------------------------------------------------- the answer key


# A call of a bare check_* function, on a line that is not an import or a definition.
CHECK_CALL = re.compile(r"^(?!\s*(?:from|import|def)\b).*?(?<![.\w])check_\w+\(", re.MULTILINE)


def check_calls(path: Path) -> int:
    """Self-check calls counted by text alone, as an independent tally for the generator."""
    cells = json.loads(path.read_text())["cells"]
    return sum(len(CHECK_CALL.findall("".join(cell["source"])))
               for cell in cells if cell["cell_type"] == "code")


def test_answer_key_is_generated_from_the_notebooks_as_they_are():
    fresh = answer_key.render(answer_key.all_exercises())
    assert (WORKSHOP / "answer-key.md").read_text() == fresh, (
        "workshop/answer-key.md is out of date: run python workshop/answer_key.py")


@pytest.mark.parametrize("path", notebook_files(), ids=lambda p: p.stem)
def test_every_self_check_in_a_notebook_is_in_the_key(path):
    assert len(answer_key.exercises(path)) == check_calls(path)


def static_exercises():
    return [ex for found in answer_key.all_exercises().values() for ex in found
            if ex.value is not None]


def run_check_call(ex, answer_source: str):
    """The exercise's own self-check call, evaluated with the input set to an answer."""
    path = NOTEBOOKS / f"{ex.notebook}.ipynb"
    cells = json.loads(path.read_text())["cells"]
    source = "".join(cells[ex.cell]["source"])
    call = next(node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Call)
                and getattr(node.func, "id", "") == ex.check)
    namespace = answer_key._import_namespace(cells[:ex.cell + 1])
    namespace[ex.inputs[0]] = eval(answer_source, dict(namespace))
    return eval(ast.get_source_segment(source, call), namespace)


@pytest.mark.parametrize("ex", static_exercises(),
                         ids=lambda e: f"{e.notebook[:2]}-{e.number}")
def test_a_fixed_answer_passes_the_notebooks_self_check(ex):
    (answer,) = ex.answers().values()
    verdict = run_check_call(ex, answer)
    assert verdict.correct, f"{ex.notebook} exercise {ex.number}: {verdict.message}"
    wrong = repr("not an option") if isinstance(ex.value, str) else f"{answer} * 1.5 + 1"
    assert not run_check_call(ex, wrong).correct, "the check must refuse a wrong answer"


def write_notebook(folder: Path, *cells) -> Path:
    def cell(kind, text):
        return {"cell_type": kind, "metadata": {}, "source": text,
                **({"outputs": [], "execution_count": None} if kind == "code" else {})}
    path = folder / "09_made_up.ipynb"
    path.write_text(json.dumps({"cells": [cell(*c) for c in cells], "metadata": {},
                                "nbformat": 4, "nbformat_minor": 5}))
    return path


def test_a_new_exercise_is_picked_up_without_listing_it(tmp_path):
    path = write_notebook(
        tmp_path,
        ("code", "from labkit.lab.exercises import check_number, check_choice\nimport math"),
        ("markdown", "## Exercises\n\n**Exercise 1.** Six sevens?"),
        ("code", "sevens = ...\ncheck_number(sevens, expected=6 * 7, hint='multiply')"),
        ("markdown", "**Exercise 2.** Which is bigger?"),
        ("code", "pick = ...\ncheck_choice(pick, 'pi', ['pi', 'e'], 'about 3.14')"))
    first, second = answer_key.exercises(path)
    assert (first.inputs, first.value, first.answers()) == (("sevens",), 42, {"sevens": "42"})
    assert first.question == "**Exercise 1.** Six sevens?"
    assert (second.inputs, second.value, second.tolerance) == (("pick",), "pi", "exact")


def test_a_check_without_one_expected_answer_asks_for_a_solution_file(tmp_path):
    path = write_notebook(
        tmp_path,
        ("code", "from labkit.lab.exercises import check_true"),
        ("code", "guess = ...\ncheck_true(guess > 3, 'yes', 'bigger')"))
    with pytest.raises(answer_key.KeyError_, match=r"workshop/solutions/09_made_up--NAME"):
        answer_key.exercises(path)


def _is_literal(answer: str) -> bool:
    """An answer that needs no name of the notebook (True, 42, 'host kernel')."""
    try:
        ast.literal_eval(answer)
    except (ValueError, SyntaxError):
        return False
    return True


def substituted(path: Path, exercises) -> dict:
    """The notebook with each exercise's input typed in: a literal answer in place of its
    `name = ...` line (code after it may use the name); any other answer just before the
    statement that runs the self-check (where every name a measured answer uses is
    defined), its `name = ...` line removed."""
    nb = json.loads(path.read_text())
    for ex in exercises:
        cell = nb["cells"][ex.cell]
        for name, answer in ex.answers().items():
            lines = "".join(cell["source"]).splitlines()
            tree = ast.parse("\n".join(lines))
            assign = next((n for n in tree.body if isinstance(n, ast.Assign)
                           and any(getattr(t, "id", None) == name for t in n.targets)), None)
            check = next(n for n in tree.body if any(
                isinstance(c, ast.Call) and getattr(c.func, "id", "") == ex.check
                for c in ast.walk(n)))
            if assign is not None and _is_literal(answer):  # a prediction: typed in place
                lines[assign.lineno - 1:assign.end_lineno] = [f"{name} = {answer}"]
            else:
                lines[check.lineno - 1:check.lineno - 1] = [f"{name} = {answer}"]
                if assign is not None:  # a prediction's `name = ...` sits in an earlier cell
                    del lines[assign.lineno - 1:assign.end_lineno]
            cell["source"] = "\n".join(lines)
    return nb


def verdict_text(cell) -> str:
    for output in cell.get("outputs", []):
        if output["output_type"] == "execute_result":
            return "".join(output["data"].get("text/plain", ""))
    return "(no result)"


@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in notebook_files() if answer_key.exercises(p)],
                         ids=lambda p: p.stem)
def test_every_answer_in_the_key_passes_its_notebook_self_check(path):
    """Run the notebook in a real kernel with the key's answers typed in: each self-check
    must say Right. (A check that needs a runtime this machine lacks is reported as such.)"""
    import nbformat
    from nbclient import NotebookClient

    exercises = answer_key.exercises(path)
    nb = nbformat.reads(json.dumps(substituted(path, exercises)), as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    refused, needs = [], []
    for ex in exercises:
        text = verdict_text(nb.cells[ex.cell])
        if text.strip("'\"").startswith("This exercise needs"):
            needs.append(f"exercise {ex.number}: {text}")
        elif not text.startswith("Right"):
            refused.append(f"exercise {ex.number}: {text}")
    assert not refused, refused
    if needs:
        pytest.skip("; ".join(needs))


# ---------------------------------------------------------------- the pre-workshop check

VERSIONS = {name: "1.0" for name in doctor.PACKAGES}


def kinds(*available, reason="needs root (or a rootless setup) to create namespaces"):
    return [Availability(k, k in available, "" if k in available else reason,
                         "" if k in available else "sudo make lab")
            for k in ("wasm", "v8", "process", "runc", "crun", "podman", "docker")]


def test_verdict_ready_names_what_runs_live_and_what_is_recorded():
    results = kinds("wasm", "process")
    results[1] = Availability("v8", False, "workerd (Cloudflare's open-source Workers runtime) "
                                           "is not installed", "python -m labkit setup v8")
    results[5] = Availability("podman", False, "podman is not installed", "apt-get install podman")
    assert doctor.verdict(results, VERSIONS) == (
        "READY: wasm, process live; v8 recorded (no workerd); "
        "runc, crun, docker recorded (no root); podman recorded (podman is not installed)")


def test_verdict_is_not_ready_without_a_package_or_webassembly():
    missing = {**VERSIONS, "jupyterlab": "missing"}
    assert doctor.verdict(kinds("wasm", "process"), missing) == (
        "NOT READY: missing jupyterlab (fix: make lab)")
    assert doctor.verdict(kinds("process", reason="wasmtime failed: boom"), VERSIONS) == (
        "NOT READY: wasm: wasmtime failed (fix: sudo make lab)")


def test_doctor_verdict_prints_one_line_the_collector_reads(capsys):
    assert main(["doctor", "--verdict", "--kinds", "wasm,process"]) == 0
    line = capsys.readouterr().out
    assert line.count("\n") == 1
    (parsed,) = collect_verdicts.parse("Ana: " + line)
    assert parsed.name == "Ana"
    live = {r.kind for r in doctor.check_all(["wasm", "process"]) if r.available}
    assert parsed.ready and {"wasm", "process"} <= live
    assert set(parsed.live) == live


def test_doctor_verdict_says_when_containers_are_switched_off(capsys, monkeypatch):
    monkeypatch.setenv("LABKIT_NO_CONTAINERS", "1")
    assert main(["doctor", "--verdict", "--kinds", "wasm,process,runc"]) == 0
    assert capsys.readouterr().out == (
        "READY: wasm, process live; runc recorded (switched off by LABKIT_NO_CONTAINERS)\n")


def test_collector_tallies_the_room():
    text = """Pasted from the form:
Ana: READY: wasm, v8, process live; runc, crun, podman, docker recorded (no root)
Bo:  NOT READY: missing jupyterlab (fix: make lab)
Cy\tREADY: wasm, process, runc live; v8 recorded (no workerd)
READY: wasm, process live; v8 recorded (no workerd)
thanks!"""
    verdicts = collect_verdicts.parse(text)
    assert [v.name for v in verdicts] == ["Ana", "Bo", "Cy", "line 5"]
    assert collect_verdicts.report(verdicts).splitlines() == [
        "4 machines: 3 READY, 1 NOT READY",
        "  NOT READY  Bo: missing jupyterlab (fix: make lab)",
        "runs live on the READY machines: wasm 3, process 3, v8 1, runc 1"]


def test_collector_refuses_a_file_without_verdicts(tmp_path, capsys):
    empty = tmp_path / "verdicts.txt"
    empty.write_text("nothing pasted yet\n")
    assert collect_verdicts.main([str(empty)]) == 1
    assert "no verdict lines found" in capsys.readouterr().err
