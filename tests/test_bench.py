"""labkit.bench: sizes, ratios to the wasm isolate from the same run, saving and loading."""

import json

import pytest

from labkit import bench


def measured(kind, p50, mem, per_second=100.0):
    return {"kind": kind, "available": True, "start_ms_p50": p50, "start_ms_p99": 2 * p50,
            "per_second": per_second, "mem_mb_per_instance": mem}


def test_ratios_are_to_the_wasm_result_of_the_same_list():
    results = [measured("wasm", 0.05, 0.01, 20_000), measured("runc", 20.0, 0.5, 50),
               {"kind": "docker", "available": False, "reason": "no daemon", "fix": "x"}]
    bench.add_ratios(results)
    assert results[0]["ratio_to_wasm"]["start_ms_p50"] == 1
    assert results[1]["ratio_to_wasm"]["start_ms_p50"] == pytest.approx(400)
    assert results[1]["ratio_to_wasm"]["mem_mb_per_instance"] == pytest.approx(50)
    assert results[1]["ratio_to_wasm"]["per_second"] == pytest.approx(50 / 20_000)
    assert "ratio_to_wasm" not in results[2]


def test_no_ratios_without_wasm_in_the_run():
    results = [measured("runc", 20.0, 0.5)]
    bench.add_ratios(results)
    assert "ratio_to_wasm" not in results[0]


def test_unknown_size_is_refused():
    with pytest.raises(ValueError, match="unknown size 'huge'; valid ones are: quick, full"):
        bench.run_bench(["process"], size="huge")


def test_a_saved_run_loads_back_marked_as_recorded(tmp_path):
    results = bench.run_bench(["process"], n=5, live=3, show_progress=False)
    path = bench.save(results, tmp_path)
    saved = json.loads(path.read_text())
    assert saved["format"] == bench.FORMAT_VERSION
    assert saved["results"][0]["recorded"] is False
    loaded = bench.load_recorded(path)
    assert loaded[0]["recorded"] is True and loaded[0]["source"] == path.name
    assert loaded[0]["machine"]["cores"] >= 1
    assert len(loaded[0]["samples_ms"]) == 5


def test_loading_with_nothing_recorded_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setattr(bench.paths, "RECORDED_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        bench.load_recorded()


def test_fill_from_recorded_replaces_only_what_could_not_run():
    live = [{"kind": "wasm", "available": True, "start_ms_p50": 0.02, "recorded": False},
            {"kind": "runc", "available": False, "reason": "not root", "fix": "sudo"},
            {"kind": "docker", "available": False, "reason": "no daemon", "fix": "dockerd"}]
    recorded = [{"kind": "wasm", "available": True, "start_ms_p50": 0.5, "recorded": True},
                {"kind": "runc", "available": True, "start_ms_p50": 20.0, "recorded": True,
                 "machine": {"cpu": "AMD EPYC", "cores": 2}, "source": "bench-x.json"}]
    filled = bench.fill_from_recorded(live, recorded)
    assert filled[0]["start_ms_p50"] == 0.02  # live wins where it ran
    assert filled[1]["recorded"] is True and filled[1]["missing_here"] == "not root"
    assert filled[2]["available"] is False  # nothing recorded: still reported, not dropped
    assert "RECORDED in bench-x.json on AMD EPYC, 2 cores" in bench.source_line(filled[1])
    assert "not available here: no daemon" in bench.source_line(filled[2])
    assert bench.source_line(filled[0]) == "wasm: measured live on this machine"
