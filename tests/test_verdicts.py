"""labkit.verdicts: the essay's two claims judged per workload and per pair, from rows of
one run; the words at the threshold edges, the floors, the sentences' numbers."""

import pytest

from labkit import verdicts
from labkit.results import KindResult, Source


def row(kind, start, mem=1.0, workload="fib", source="", floor=None, **extra):
    """A fabricated bench JSON row: `source` names a recording ('' = live)."""
    r = {"kind": kind, "available": True, "start_ms_p50": start, "start_ms_p99": start,
         "per_second": 1000 / start, "mem_mb_per_instance": mem, "workload": workload,
         "floor_ms": floor, "recorded": bool(source), **extra}
    if source:
        r["source"] = source
    return r


def one(vs, claim, workload="fib", pair=("v8", "runc")):
    (found,) = [v for v in vs if v.claim.name == claim and v.workload == workload
                and (v.isolate, v.container) == pair]
    return found


def test_the_claims_come_from_the_reference_figure():
    start, memory = verdicts.claims()
    assert (start.low, start.high, start.approximate) == (100, 100, True)
    assert (memory.low, memory.high, memory.approximate) == (10, 100, False)
    assert (start.holds_from, start.roughly_from) == (50, 25)
    assert (memory.holds_from, memory.roughly_from) == (10, 5)
    text = verdicts.thresholds_text()
    assert '"~100x faster": holds from 50x, roughly from 25x, does not hold below 25x' in text
    assert '"10x-100x more memory efficient": holds from 10x, roughly from 5x' in text


@pytest.mark.parametrize("runc_ms, word", [
    (50.0, "holds"), (49.99, "roughly"), (25.0, "roughly"), (24.99, "does not hold"),
    (0.5, "does not hold"), (5000.0, "holds")])
def test_start_words_at_the_threshold_edges(runc_ms, word):
    vs = verdicts.judge([row("v8", 1.0), row("runc", runc_ms)])
    v = one(vs, "start")
    assert v.raw_ratio == pytest.approx(runc_ms) and v.word == word
    assert v.basis == "cold call"  # no floors: the raw ratio is judged


@pytest.mark.parametrize("runc_mb, word", [
    (10.0, "holds"), (9.99, "roughly"), (5.0, "roughly"), (4.99, "does not hold"),
    (0.2, "does not hold"), (1000.0, "holds")])
def test_memory_words_at_the_threshold_edges(runc_mb, word):
    vs = verdicts.judge([row("v8", 1.0, mem=1.0), row("runc", 30.0, mem=runc_mb)])
    assert one(vs, "memory").word == word


def test_floors_are_taken_out_where_both_kinds_have_one_and_the_raw_ratio_kept():
    # raw 110 / 2 = 55x (holds); less the floors, (110 - 85) / (2 - 1) = 25x (roughly)
    vs = verdicts.judge([row("v8", 2.0, floor=1.0), row("runc", 110.0, floor=85.0)])
    v = one(vs, "start")
    assert v.raw_ratio == pytest.approx(55.0) and v.floor_ratio == pytest.approx(25.0)
    assert (v.word, v.raw_word, v.basis) == ("roughly", "holds", "cold minus harness floor")
    text = verdicts.sentence(v)
    assert "55.0x as long" in text and "25.0x" in text and "(on the raw ratio: holds)" in text
    # one floor missing, or a floor not below the cold call: the raw ratio is judged
    for iso_floor, box_floor in ((None, 35.0), (1.0, 70.0)):
        v = one(verdicts.judge([row("v8", 2.0, floor=iso_floor),
                                row("runc", 60.0, floor=box_floor)]), "start")
        assert v.floor_ratio is None and v.ratio == v.raw_ratio == pytest.approx(30.0)


def test_the_sentences_carry_the_ratios_and_the_words():
    vs = verdicts.judge([row("v8", 4.0, mem=1.6), row("runc", 48.0, mem=0.32)])
    start, memory = verdicts.sentences(vs)
    assert start.startswith("fib, v8 vs runc: runc's cold call takes 48 ms, v8's 4 ms: "
                            "12.0x as long")
    assert start.endswith('"~100x faster" does not hold.')
    assert "0.32 MB" in memory and "0.2x" in memory and "lighter, by 5.0x" in memory
    assert memory.endswith('"10x-100x more memory efficient" does not hold.')
    (line, mem_line) = verdicts.summary_sentences(vs)
    assert line == 'fib: "~100x faster": 1 does not hold (of 1 pair; measured 12.0x)'


def test_a_pair_is_never_formed_across_two_runs_or_two_workloads():
    a = [row("v8", 4.0, source="bench-a.json"), row("runc", 40.0, workload="tool-js",
                                                    source="bench-a.json")]
    b = [row("runc", 400.0, source="bench-b.json")]
    live = [row("v8", 4.0, workload="tool-js")]
    assert verdicts.judge(a, b) == []  # v8 fib in run a, runc fib only in run b
    assert verdicts.judge(a + b + live) == []  # the same, passed as one list
    both = verdicts.judge(a + [row("runc", 400.0, source="bench-a.json")])
    assert {(v.workload, v.claim.name, v.raw_ratio) for v in both} == {
        ("fib", "start", 100.0), ("fib", "memory", 1.0)}


def test_the_first_run_given_is_judged_and_the_later_only_fills_the_gaps():
    live = [row("v8", 4.0), row("runc", 40.0)]
    recorded = [row(k, ms, source="bench-r.json") for k, ms in
                (("v8", 5.0), ("runc", 500.0), ("crun", 50.0))]
    vs = verdicts.judge(live, recorded)
    assert one(vs, "start").raw_ratio == pytest.approx(10.0)
    assert not one(vs, "start").recorded
    from_recording = one(vs, "start", pair=("v8", "crun"))
    assert from_recording.recorded and from_recording.raw_ratio == pytest.approx(10.0)
    assert "bench-r.json" in from_recording.source


def test_results_from_two_recordings_are_told_apart_by_their_files():
    def result(kind, ms, file):
        return KindResult(kind, True, calls=3, start_ms_p50=ms, start_ms_p99=ms,
                          per_second=1.0, mem_mb_per_instance=1.0, workload="tool-js",
                          source=Source(live=False, file=file, saved="2026-11-27"))
    assert verdicts.judge([result("v8", 4.0, "bench-a.json"),
                           result("runc", 40.0, "bench-b.json")]) == []
    (start, _) = verdicts.judge([result("v8", 4.0, "bench-a.json"),
                                 result("runc", 40.0, "bench-a.json")])
    assert start.workload == "tool-js" and start.recorded and "bench-a.json" in start.source


def test_unavailable_warm_and_loaded_rows_are_not_judged():
    rows = [row("v8", 4.0), row("runc", 40.0, path="warm"),
            row("crun", 40.0, concurrency=4), {"kind": "podman", "available": False,
                                               "reason": "no podman", "workload": "fib"}]
    vs = verdicts.judge(rows)
    assert vs == []
    assert verdicts.missing(vs, ["fib"]) == [
        "fib: no isolate and container both ran it in one run, so no verdict is given for it."]


def test_a_memory_caveat_from_the_row_is_said_in_the_sentence():
    vs = verdicts.judge([row("v8", 4.0, workload="tool-js"),
                         row("runc", 40.0, workload="tool-js", mem_of="idle instances")])
    memory = one(vs, "memory", "tool-js")
    text = verdicts.sentence(memory)
    assert "(what was weighed: idle instances)" in text and memory.word is None
    assert text.endswith('"10x-100x more memory efficient" is not judged from it.')
    assert memory.as_row()["pair"] == "v8 vs runc"


def test_a_tool_row_that_weighed_the_tools_runtime_is_judged():
    from labkit.results import TOOL_RUNTIME_HELD
    vs = verdicts.judge([row("v8", 4.0, workload="tool-js", mem_of=TOOL_RUNTIME_HELD),
                         row("runc", 40.0, workload="tool-js", mem_of=TOOL_RUNTIME_HELD)])
    memory = one(vs, "memory", "tool-js")
    assert memory.caveat == "" and memory.word is not None
    assert "what was weighed" not in verdicts.sentence(memory)
    # one side weighed an idle instance: the pair is not judged, and says why
    vs = verdicts.judge([row("v8", 4.0, workload="tool-js", mem_of=TOOL_RUNTIME_HELD),
                         row("runc", 40.0, workload="tool-js", mem_of="idle instances")])
    assert one(vs, "memory", "tool-js").word is None


def test_the_report_goes_workload_by_workload_and_marks_recorded_pairs():
    live = [row("v8", 4.0), row("runc", 40.0)]
    recorded = [row("v8", 5.0, workload="tool-js", source="bench-r.json"),
                row("crun", 60.0, workload="tool-js", source="bench-r.json")]
    text = verdicts.report(verdicts.judge(live, recorded), ["fib", "tool-js", "tool-py"])
    fib, js, py = (text.index(f"== {w} ==") for w in ("fib", "tool-js", "tool-py"))
    assert fib < text.index("v8 vs runc") < js < text.index("v8 vs crun") < py
    assert "10.0x as long" in text and "12.0x as long" in text
    assert text.count("  [recorded]") == 2  # the tool-js start and memory
    assert "tool-py: no isolate and container both ran it in one run, so no verdict is " \
           "given for it." in text
    assert text.endswith("\n[recorded]: RECORDED in bench-r.json")


def test_an_isolate_slower_than_the_container_is_said_so():
    (start, _) = verdicts.judge([row("wasm", 600.0, workload="tool-py"),
                                 row("runc", 150.0, workload="tool-py")])
    text = verdicts.sentence(start)
    assert "0.2x as long (the isolate is the slower, by 4.0x)" in text
    assert start.word == "does not hold"
