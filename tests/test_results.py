"""labkit.results: immutable records that say where they came from and carry their warnings,
versioned files that load back (format 1 and 2) or are refused in one line."""

import dataclasses
import json
import shutil

import pytest

from labkit import paths, results
from labkit.measure import machine_info
from labkit.results import KindResult, ResultsFileError, ResultWarning, Source

HERE = machine_info()
ELSEWHERE = {"cpu": "Apple M2", "cores": 8, "memory_gb": 16.0, "os": "Darwin 23",
             "distro": "", "arch": "arm64"}


def measured(kind, p50, mem, per_second=100.0, machine=HERE, **more):
    return KindResult(kind, True, calls=10, start_ms_p50=p50, start_ms_p99=2 * p50,
                      per_second=per_second, mem_mb_per_instance=mem, live_instances=5,
                      versions={"rt": "1.0"}, machine=machine, **more)


def row(kind, p50, mem, **more):
    """A bench row as `bench --json` prints it."""
    return {"kind": kind, "available": True, "n": 10, "start_ms_p50": p50,
            "start_ms_p99": 2 * p50, "per_second": 1000 / p50, "mem_mb_per_instance": mem,
            "recorded": False, "machine": HERE, **more}


def write(folder, name, payload):
    path = folder / name
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return path


# --- records -----------------------------------------------------------------------------
def test_a_record_cannot_be_changed_nor_can_its_row():
    result = measured("wasm", 0.01, 0.01, samples_ms=[0.01, 0.02])
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.start_ms_p50 = 5
    with pytest.raises(TypeError):
        result["start_ms_p50"] = 5
    with pytest.raises(TypeError):
        result["machine"]["cores"] = 64
    with pytest.raises(TypeError):
        result.versions["rt"] = "2.0"
    copy = result.to_dict()
    copy["machine"]["cores"] = 64  # a plain copy: changing it leaves the record alone
    assert result["machine"]["cores"] == HERE["cores"]


def test_the_row_is_the_bench_contract_key_for_key():
    result = measured("v8", 4.0, 1.6, extras={"warm_ms_p50": 0.4}, samples_ms=[4.0, 4.1])
    assert list(result.to_dict()) == [
        "kind", "available", "n", "start_ms_p50", "start_ms_p99", "per_second",
        "mem_mb_per_instance", "live_instances", "recorded", "workload", "concurrency",
        "path", "versions", "warm_ms_p50", "samples_ms", "machine"]
    assert result.to_dict()["recorded"] is False and result["n"] == 10
    assert "samples_ms" not in result.to_dict(samples=False)
    json.dumps(result.to_dict())  # plain JSON, no proxies left
    gone = results.unavailable("docker", "no daemon", "start dockerd", HERE)
    assert gone.to_dict() == {"kind": "docker", "available": False, "reason": "no daemon",
                              "fix": "start dockerd", "recorded": False, "workload": "fib",
                              "concurrency": 1, "path": "cold", "machine": HERE}
    tool = results.unavailable("wasm", "no JavaScript", "use v8", HERE, workload="tool-js")
    assert tool["workload"] == "tool-js"  # every row says its workload, measured or not
    assert results.KindResult.from_row(tool.to_dict()).workload == "tool-js"


def test_stats_are_derived_from_the_kept_samples():
    result = measured("wasm", 2.0, 0.01, samples_ms=[1.0, 2.0, 3.0])
    assert result.stats.median_ms == pytest.approx(2.0) and result.stats.n == 3
    assert measured("wasm", 2.0, 0.01).stats is None


def test_ratios_are_new_records_against_the_same_list():
    wasm, runc = measured("wasm", 0.05, 0.01, 20_000), measured("runc", 20.0, 0.5, 50)
    gone = results.unavailable("docker", "no daemon")
    with_ratios = results.with_ratios([wasm, runc, gone])
    assert with_ratios[0]["ratio_to_wasm"]["start_ms_p50"] == 1
    assert with_ratios[1]["ratio_to_wasm"]["start_ms_p50"] == pytest.approx(400)
    assert with_ratios[1]["ratio_to_wasm"]["mem_mb_per_instance"] == pytest.approx(50)
    assert with_ratios[1]["ratio_to_wasm"]["per_second"] == pytest.approx(50 / 20_000)
    assert "ratio_to_wasm" not in with_ratios[2] and "ratio_to_wasm" not in runc
    assert "ratio_to_wasm" not in results.with_ratios([runc])[0], "no wasm, no ratios"
    assert results.with_ratios([wasm, runc], baseline="runc")[0]["ratio_to_runc"][
        "start_ms_p50"] == pytest.approx(0.05 / 20)


def test_fill_from_recorded_replaces_only_what_could_not_run():
    live = [measured("wasm", 0.02, 0.01),
            results.unavailable("runc", "not root", "sudo"),
            results.unavailable("docker", "no daemon", "dockerd")]
    recorded = [measured("wasm", 0.5, 0.01, source=Source(False, "bench-x.json", "2026-01-02")),
                measured("runc", 20.0, 0.3, machine={"cpu": "AMD EPYC", "cores": 2},
                         source=Source(False, "bench-x.json", "2026-01-02"))]
    filled = results.fill_from_recorded(live, recorded)
    assert filled[0]["start_ms_p50"] == 0.02  # live wins where it ran
    assert filled[1]["recorded"] is True and filled[1]["missing_here"] == "not root"
    assert filled[2]["available"] is False  # nothing recorded: still reported, not dropped
    assert results.source_line(filled[1]) == (
        "runc: RECORDED in bench-x.json on AMD EPYC, 2 cores, ?, saved 2026-01-02")
    assert "not available here: no daemon (fix: dockerd)" in results.source_line(filled[2])
    assert results.source_line(filled[0]) == "wasm: measured live on this machine"


# --- bench files ---------------------------------------------------------------------------
def test_the_committed_recording_still_loads():
    run = results.load_recorded()
    assert run.file.startswith("bench-") and run.saved
    by_kind = run.by_kind()
    assert {"wasm", "v8", "process", "runc"} <= set(by_kind)
    assert all(r.recorded and r.source.file == run.file for r in run)
    assert by_kind["v8"]["warm_ms_p50"] > 0 and len(by_kind["v8"].samples_ms) >= 50
    assert by_kind["runc"]["ratio_to_wasm"]["start_ms_p50"] > 100


def test_a_format_1_file_loads_its_warning_into_the_list(tmp_path):
    path = write(tmp_path, "old.json", {"format": 1, "saved": "2026-11-26T18:55:41+0000",
                                        "results": [row("wasm", 0.01, 0.01,
                                                        warning="p99 is 12x the median")]})
    (result,) = results.load_run(path)
    assert result.warnings == (ResultWarning(results.WIDE_SPREAD, "p99 is 12x the median"),)
    assert "warning" not in result and result["warnings"][0]["code"] == "wide-spread"


def test_a_run_from_another_machine_says_so(tmp_path):
    path = write(tmp_path, "m2.json", [row("wasm", 0.01, 0.01, machine=ELSEWHERE)])
    (result,) = results.load_run(path)
    (warning,) = result.warnings
    assert warning.code == results.OTHER_MACHINE and "Apple M2, 8 cores" in warning.message
    (same,) = results.load_run(write(tmp_path, "here.json", [row("wasm", 0.01, 0.01)]))
    assert same.warnings == ()


def test_saving_again_keeps_where_a_stand_in_came_from(tmp_path):
    live = [results.unavailable("runc", "not root", "sudo", HERE)]
    recorded = results.load_recorded()
    path = results.save_run(results.fill_from_recorded(live, recorded), tmp_path)
    (again,) = results.load_run(path)
    assert again.source.copied and again.source.file == recorded.file
    assert again.missing_here == "not root"


@pytest.mark.parametrize("content, problem", [
    ("{not json", "not valid JSON (line 1"),
    (b"\xff\xfe\x00", "not a text file"),
    ({"name": "a notebook"}, "not a bench run"),
    ([{"cells": []}], "not a bench run (its entries have no 'kind'"),
    ([], "not a bench run (it has no results)"),
    ({"results": [row("wasm", 0.01, 0.01)]}, "no format version"),
    ({"format": 99, "results": [row("wasm", 0.01, 0.01)]},
     "format 99 is not one this labkit reads (1, 2)"),
    ({"format": True, "results": [row("wasm", 0.01, 0.01)]}, "format True is not one"),
    ({"format": 2, "holds": "containers-04", "results": []}, "holds 'containers-04', not a"),
    ([{"kind": "wasm", "available": True, "start_ms_p50": "fast"}],
     "the wasm row has no number for start_ms_p50, start_ms_p99, per_second, "
     "mem_mb_per_instance; is it from `bench`?"),
    ([row("wasm", float("nan"), 0.01)], "no number for start_ms_p50"),
])
def test_a_bad_file_is_refused_in_one_line_naming_it(tmp_path, content, problem):
    path = tmp_path / "zed.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        write(tmp_path, "zed.json", content if isinstance(content, str) else
              json.dumps(content))
    with pytest.raises(ResultsFileError) as caught:
        results.load_run(path)
    message = str(caught.value)
    assert message.startswith("zed.json: ") and problem in message and "\n" not in message
    assert isinstance(caught.value, ValueError)  # callers that catch ValueError still do


def test_newest_recorded_skips_unreadable_and_incomplete_runs(tmp_path):
    shutil.copy(results.recorded_runs()[-1], tmp_path / "bench-20260101-000000.json")
    write(tmp_path, "bench-20270101-000000.json", {"format": 99, "results": []})
    write(tmp_path, "bench-20260601-000000.json",
          {"format": 2, "holds": "bench", "saved": "x", "results": [row("v8", 4.0, 1.5)]})
    newest = results.newest_recorded("v8", tmp_path)
    assert newest.source.file == "bench-20260601-000000.json" and not newest.samples_ms
    with_samples = results.newest_recorded("v8", tmp_path, with_samples=True)
    assert with_samples.source.file == "bench-20260101-000000.json"
    assert len(with_samples.samples_ms) >= 50
    assert results.newest_recorded("firecracker", tmp_path) is None


# --- a notebook's own recording --------------------------------------------------------------
def test_a_recording_saves_and_loads_back_read_only(tmp_path):
    data = {"samples_ms": {"runc": [20.0, 21.5]}, "tour": {"hostname": "labkit-guest"}}
    path = results.save_recording("containers-04", data, tmp_path / "rec.json")
    saved = json.loads(path.read_text())
    assert saved["format"] == results.FORMAT_VERSION and saved["holds"] == "containers-04"
    assert saved["machine"]["cores"] >= 1 and saved["data"] == data
    rec = results.load_recording(path, "containers-04")
    assert rec.data["samples_ms"]["runc"] == (20.0, 21.5) and rec.saved == saved["saved"]
    assert rec.source_line().startswith("RECORDED in rec.json on ") and rec.warnings == ()
    with pytest.raises(TypeError):
        rec.data["tour"]["hostname"] = "host"
    with pytest.raises(ResultsFileError, match="rec.json: holds 'containers-04', not 'v8-03'"):
        results.load_recording(path, "v8-03")


def test_notebook_04s_format_1_recording_still_loads():
    rec = results.load_recording(paths.RECORDED_DIR / "containers-04.json", "containers-04")
    assert rec.saved.startswith("20") and rec.machine["cores"] >= 1
    assert {"runc", "crun", "process"} <= set(rec.data["samples_ms"])
    assert "format" not in rec.data and "recorded" not in rec.data


@pytest.mark.parametrize("payload, problem", [
    ({"format": 2, "holds": "containers-04"}, "its 'data' is missing"),
    ({"format": 3, "holds": "containers-04", "data": {}}, "format 3 is not one"),
    ({"format": 1, "saved": "x", "results": []}, "a bench run, not a containers-04"),
    (["a list"], "not a recording"),
])
def test_a_bad_recording_is_refused_in_one_line(tmp_path, payload, problem):
    path = write(tmp_path, "rec.json", payload)
    with pytest.raises(ResultsFileError, match=f"^rec.json: .*{problem}"):
        results.load_recording(path, "containers-04")


def test_a_recording_needs_a_name_of_its_own(tmp_path):
    with pytest.raises(ValueError, match="a name of its own"):
        results.save_recording("bench", {}, tmp_path / "x.json")
