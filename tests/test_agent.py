"""labkit.agent: a scripted model, real tool calls in fresh sandboxes, many agents at once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap

import pytest
from conftest import eventually

from labkit.agent import cost, load, model, record
from labkit.agent.loop import run_agent, sandbox_overhead, timeline
from labkit.agent.tasks import expenses_task, logs_task, make_tasks
from labkit.errors import NotSupported
from labkit.sandboxes.base import Limits
from labkit.sandboxes.v8 import V8Sandbox

found = V8Sandbox.check()
needs_workerd = pytest.mark.skipif(not found.available, reason=found.reason or "no workerd")


@pytest.fixture(scope="module")
def box():
    with V8Sandbox(Limits(cpu_seconds=1)) as sandbox:
        yield sandbox


# --- seeded, no sandbox needed -----------------------------------------------------------
def test_tasks_repeat_from_their_seed_and_differ_between_seeds():
    assert expenses_task(3) == expenses_task(3) and logs_task(3) == logs_task(3)
    assert expenses_task(3).records != expenses_task(4).records
    assert [t.kind for t in make_tasks(4)] == ["expenses", "logs", "expenses", "logs"]
    with pytest.raises(ValueError, match="records must be a whole number from 1"):
        expenses_task(0, records=10**6)


def test_the_model_writes_different_code_for_different_tasks_and_draws_time_from_its_seed():
    a, b = make_tasks(3)[0], make_tasks(3)[2]
    first = model.ScriptedModel(1).next_turn(a, [], "javascript", "per-step")
    again = model.ScriptedModel(1).next_turn(a, [], "javascript", "per-step")
    other = model.ScriptedModel(1).next_turn(b, [], "javascript", "code-mode")
    assert first == again
    assert other.source != model.ScriptedModel(1).next_turn(a, [], "javascript", "code-mode").source
    assert json.dumps(b.records[0]["budget"]) in other.source  # the task's values, written in
    reseeded = model.ScriptedModel(2).next_turn(a, [], "javascript", "per-step")
    assert first.think_s != reseeded.think_s
    assert "def tool(" in model.ScriptedModel(1).next_turn(a, [], "python", "per-step").source


def test_the_model_reads_each_result_to_decide_its_next_step():
    task = expenses_task(5)
    m = model.ScriptedModel(0)
    assert m.next_turn(task, [], "javascript", "per-step").tool == "totals"
    totals = {"travel": 10.0}
    history = [{"source": "", "result": totals, "error": None},
               {"source": "", "result": {}, "error": None}]  # nothing over budget
    assert m.next_turn(task, history, "javascript", "per-step").action == "answer"
    history[1]["result"] = {"travel": 5.0}
    assert m.next_turn(task, history, "javascript", "per-step").tool == "worst"
    # after a failed call it tries again rather than answering
    failed = [{"source": "", "result": None, "error": "GuestError: boom"}]
    assert m.next_turn(task, failed, "javascript", "per-step").tool == "totals"


def test_the_model_figures_come_from_the_reference_file_with_sources():
    figures = model.ModelFigures.published()
    assert figures.ttft_s > 0 and figures.tokens_per_s > 0 and figures.chars_per_token > 0
    assert figures.output_usd_per_mtok > figures.input_usd_per_mtok > 0
    assert all("http" in line for line in model.ModelFigures.sources())


def test_absurd_agent_counts_are_refused_with_the_bound_and_why():
    with pytest.raises(ValueError, match=r"at most 500 \(labkit's ceiling"):
        load.check_agents(100_000)
    for bad in (0, -3, 2.5, True, "10"):
        with pytest.raises(ValueError, match="agents must"):
            load.check_agents(bad)
    bound, why = load.agent_bound()
    assert 1 <= bound <= load.MAX_AGENTS and why


def test_a_kind_that_cannot_host_the_tools_is_refused_before_anything_starts():
    # a micro-VM hosts no tool language (its initramfs carries no interpreter)
    with pytest.raises(NotSupported, match="the microvm sandbox has no run_tool.*v8"):
        load.run_load("microvm", 3)


# --- live, in V8 isolates ------------------------------------------------------------------
@needs_workerd
@pytest.mark.usefixtures("nothing_left_behind")
def test_every_task_is_answered_right_in_both_styles_and_code_mode_needs_fewer_sandboxes(box):
    for task in make_tasks(4, seed=7):
        step = run_agent(task, box, "per-step", seed=7)
        code = run_agent(task, box, "code-mode", seed=7)
        assert step.correct and code.correct, (step.answer, code.answer)
        assert code.tool_calls == 1 < step.tool_calls <= 3
        assert code.tokens[0] < step.tokens[0], "Code Mode re-reads less context"
        again = run_agent(task, box, "per-step", seed=7)
        assert [s.think_s for s in again.steps] == [s.think_s for s in step.steps]
        assert [s.result for s in again.steps] == [s.result for s in step.steps]


@needs_workerd
@pytest.mark.usefixtures("nothing_left_behind")
@pytest.mark.parametrize("bad, error", [("read_host_file", "GuestError"),
                                        ("loop_forever", "LimitExceeded"),
                                        ("grab_memory", "LimitExceeded")])
def test_a_bad_tool_call_is_stopped_at_its_cap_and_the_agent_goes_on(box, bad, error):
    run = run_agent(make_tasks(1)[0], box, "per-step", bad=bad)
    assert run.steps[0].bad == bad and run.steps[0].error.startswith(error)
    assert "root:" not in json.dumps(run.to_dict())  # no host file came back
    assert run.correct and len(run.errors) == 1


@needs_workerd
def test_the_timeline_adds_up_to_the_run(box):
    run = run_agent(make_tasks(1)[0], box, "per-step")
    rows = timeline(run, sandbox_overhead(box, calls=3))
    assert rows[-1]["start"] + rows[-1]["seconds"] == pytest.approx(run.think_s + run.sandbox_s)
    assert all(r["seconds"] >= 0 for r in rows)
    assert {r["part"] for r in rows} == {"model thinking", "sandbox create + tear down",
                                         "tool runs"}


@needs_workerd
def test_the_agent_hour_splits_model_and_sandbox(box):
    run = run_agent(make_tasks(1)[0], box, "per-step")
    hour = cost.agent_hour(run, start_ms=10.0, mem_mb_per_instance=2.0)
    assert hour.model_usd > 0 and hour.sandbox_usd > 0
    assert 0 < hour.sandbox_share < 1
    assert hour.tool_calls_per_hour == pytest.approx(hour.tasks_per_hour * run.tool_calls)
    slow = cost.agent_hour(run, start_ms=5_000.0, mem_mb_per_instance=500.0)
    assert slow.sandbox_usd > hour.sandbox_usd


@needs_workerd
@pytest.mark.usefixtures("nothing_left_behind")
def test_a_load_run_counts_what_it_ran(tmp_path):
    result = load.run_load("v8", 12, seed=1, think_scale=0.001, hosts=2)
    assert result["failures"] == 0 and result["tool_calls"] >= 12
    assert 1 <= result["peak_live_sandboxes"] <= 2
    assert 0 < result["tool_ms_p50"] <= result["tool_ms_p99"]
    assert result["peak_memory_mb"] > 0 and load.real_agents_served(result) > 0
    path = record.save([{"kind": "v8", "load": [result]}], folder=tmp_path)
    loaded = record.load_recorded(path)
    assert loaded["kinds"][0]["load"][0]["tool_calls"] == result["tool_calls"]
    assert loaded["machine"]["cores"] >= 1 and loaded["source"] == path.name


@needs_workerd
@pytest.mark.usefixtures("nothing_left_behind")
def test_an_interrupted_load_run_leaves_no_sandbox_behind():
    script = textwrap.dedent("""
        import sys
        from labkit.agent.load import run_load
        print("started", flush=True)
        run_load("v8", 40, think_scale=0.2)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "started"
        import psutil
        assert eventually(lambda: any("workerd" in c.name()
                                      for c in psutil.Process(proc.pid).children(recursive=True)),
                          within=30)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "KeyboardInterrupt" in err


@needs_workerd
def test_the_cli_runs_a_load_and_prints_json():
    out = subprocess.run([sys.executable, "-m", "labkit", "agent", "--kind", "v8", "--agents",
                          "4", "--think-scale", "0.001", "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["agents"] == 4 and result["failures"] == 0
    refused = subprocess.run([sys.executable, "-m", "labkit", "agent", "--agents", "100000"],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "at most 500" in refused.stderr
