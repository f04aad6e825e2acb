"""The command line a user types: doctor, bench and setup, good input and bad."""

import json
import os
import subprocess
import sys

import pytest

from labkit import __main__ as cli
from labkit import bench, doctor
from labkit.sandboxes import KINDS, Availability, availability, sandbox_class

pytestmark = pytest.mark.usefixtures("nothing_left_behind")


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "labkit", *args], capture_output=True,
                          text=True, timeout=300, env=env)


def test_doctor_json_lists_every_kind_with_reason_and_fix():
    done = run("doctor", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [row["kind"] for row in rows] == list(KINDS)
    for row in rows:
        assert set(row) == {"kind", "available", "reason", "fix"}
        assert isinstance(row["available"], bool)
        if not row["available"]:
            assert row["reason"], f"{row['kind']} is unavailable without a reason"
    assert {row["kind"]: row for row in rows}["process"]["available"] is True


def test_doctor_table_shows_facts_and_kinds():
    done = run("doctor", "--kinds", "process")
    assert done.returncode == 0
    assert "vm.max_map_count" in done.stdout and "cgroup mode" in done.stdout
    assert "process  yes" in done.stdout


def test_bench_json_follows_the_contract():
    done = run("bench", "--kinds", "process", "--n", "20", "--live", "5", "--json")
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(done.stdout)
    for key in ("kind", "n", "start_ms_p50", "start_ms_p99", "per_second",
                "mem_mb_per_instance", "recorded", "machine"):
        assert key in row
    assert row["kind"] == "process" and row["n"] == 20 and row["recorded"] is False
    assert 0 < row["start_ms_p50"] <= row["start_ms_p99"] < 5_000
    assert 0 < row["per_second"] < 1e6
    assert 0 < row["mem_mb_per_instance"] < 50
    assert row["machine"]["cores"] >= 1
    assert row["live_instances"] == 5 and "samples_ms" not in row


def test_bench_table_shows_a_clamped_live_count_as_a_warning(monkeypatch, capsys):
    monkeypatch.setattr(sandbox_class("process"), "max_live", lambda self: 2)
    assert cli.main(["bench", "--kinds", "process", "--n", "3", "--live", "4"]) == 0
    out = capsys.readouterr().out
    assert "warning: held 2 live instances, not the 4 asked" in out


def test_bench_save_writes_a_run_that_loads_back(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(bench.results.paths, "RECORDED_DIR", tmp_path)
    assert cli.main(["bench", "--kinds", "process", "--n", "3", "--live", "2", "--json",
                     "--save"]) == 0
    printed = json.loads(capsys.readouterr().out)
    (saved,) = tmp_path.glob("bench-*.json")
    (loaded,) = bench.load_recorded(saved)
    assert loaded.recorded and loaded["start_ms_p50"] == printed[0]["start_ms_p50"]
    assert len(loaded.samples_ms) == 3, "the file keeps the samples --json leaves out"


@pytest.mark.parametrize("args,message", [
    (["--kinds", "nosuch"], "unknown kind 'nosuch'; valid ones are: wasm"),
    (["--n", "0"], "argument --n: must be at least 1 and at most 100,000, got 0"),
    (["--n", "-3"], "must be at least 1 and at most 100,000, got -3"),
    (["--n", "lots"], "must be a whole number"),
    (["--n", "10000000"], "argument --n: must be at least 1 and at most 100,000, got 10000000"),
    (["--live", "0"], "argument --live: must be at least 1 and at most 100,000, got 0"),
    (["--live", "many"], "argument --live: must be a whole number, got 'many'"),
    (["--warmup", "-1"], "argument --warmup: must be at least 0"),
])
def test_bench_bad_input_is_one_clear_line_and_nonzero_exit(args, message):
    done = run("bench", *args)
    assert done.returncode != 0
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unavailable_kind_is_reported_not_dropped(monkeypatch, capsys):
    missing = Availability("runc", False, "runc is not installed", "apt-get install runc")
    monkeypatch.setattr(bench, "availability", lambda kind, trial=True: missing
                        if kind == "runc" else Availability(kind, True))
    assert cli.main(["bench", "--kinds", "runc,process", "--n", "3", "--live", "2",
                     "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["kind"] for row in rows] == ["runc", "process"]
    assert rows[0] == {"kind": "runc", "available": False, "reason": "runc is not installed",
                       "fix": "apt-get install runc", "recorded": False, "workload": "fib",
                       "concurrency": 1, "path": "cold", "machine": rows[1]["machine"]}
    assert rows[1]["available"] is True



# --- a kind that breaks is reported, never a traceback ------------------------------------
def test_a_kind_whose_module_fails_to_import_is_unavailable_with_the_reason(monkeypatch,
                                                                           tmp_path):
    (tmp_path / "kind_that_breaks.py").write_text(
        "raise AttributeError(\"module 'wasmtime' has no attribute 'Renamed'\")\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(KINDS, "wasm", ("kind_that_breaks", "WasmSandbox"))
    (row,) = doctor.check_all(["wasm"])
    assert not row.available
    assert row.reason.startswith("kind_that_breaks failed to load: AttributeError: module")
    assert "make setup" in row.fix
    assert availability("wasm", trial=False) == row


def test_a_check_that_crashes_is_unavailable_with_the_reason(monkeypatch):
    def crash():
        raise KeyError("cgroup.controllers")

    monkeypatch.setattr(sandbox_class("process"), "check", crash)
    found = availability("process")
    assert not found.available
    assert found.reason == "checking process failed: KeyError: 'cgroup.controllers'"


def test_doctor_with_a_broken_wasmtime_reports_it_and_exits_zero(tmp_path):
    broken = tmp_path / "wasmtime"
    broken.mkdir()
    (broken / "__init__.py").write_text("raise RuntimeError('simulated broken wheel')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = run("doctor", "--json", "--kinds", "wasm,process", env=env)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    rows = {row["kind"]: row for row in json.loads(done.stdout)}
    assert rows["wasm"]["available"] is False
    assert "RuntimeError: simulated broken wheel" in rows["wasm"]["reason"]
    assert rows["process"]["available"] is True
    table = run("doctor", "--kinds", "wasm", env=env)
    assert table.returncode == 0 and "Traceback" not in table.stderr
    assert "simulated broken wheel" in table.stdout


def test_setup_rejects_unknown_parts():
    done = run("setup", "everything")
    assert done.returncode == 1
    assert "unknown setup part 'everything'; valid ones are: containers, v8" in done.stderr
