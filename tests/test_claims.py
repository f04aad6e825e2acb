"""labkit.claims: the essay claim by claim, with verdicts computed from the model and a run."""

import pytest

from labkit import claims

V8 = {"kind": "v8", "available": True, "start_ms_p50": 4.0, "mem_mb_per_instance": 1.6,
      "per_second": 250.0}
BARE = {"kind": "runc", "available": True, "start_ms_p50": 24.0, "mem_mb_per_instance": 0.3,
        "per_second": 40.0}
HEAVY = {"kind": "docker", "available": True, "start_ms_p50": 600.0, "mem_mb_per_instance": 300.0,
         "per_second": 1.5}


def verdicts(results=None):
    return {a.id: a for a in claims.assess(results)}


def test_every_ledger_claim_is_there_once_with_a_valid_verdict_or_check():
    rows = claims.claims()
    assert [r.id for r in rows] == [f"E{i}" for i in range(1, 24)]
    for a in claims.assess():
        assert a.verdict in claims.VERDICTS
        assert a.evidence, a.id


def test_arithmetic_verdicts_are_computed_from_the_model():
    v = verdicts()
    assert v["E8"].computed and v["E8"].verdict == "corrected"
    assert "15M, not 24M" in v["E8"].evidence
    assert v["E10"].verdict == "corrected" and "300,000-600,000" in v["E10"].evidence
    assert "70.3M" in v["E6"].evidence and "210,810-421,620" in v["E6"].evidence
    assert "750,000-1,500,000" in v["E7"].evidence
    assert "13 per vCPU" in v["E9"].evidence and "vCPU" in v["E9"].caveat
    assert "1,563" in v["E13"].evidence and "9,375" in v["E13"].evidence
    assert "1.5M fresh sandboxes a second" in v["E18"].evidence


def test_sandbox_claims_without_a_run_are_not_testable():
    v = verdicts()
    for claim in ("E14", "E15", "E16", "E17", "E19", "E20", "E21"):
        assert v[claim].verdict == "not testable here", claim


def test_bare_containers_do_not_bear_out_the_weight_claims():
    v = verdicts([V8, BARE])
    assert v["E14"].verdict == "measured: does not hold"  # 4 ms is a cold start
    assert v["E16"].verdict == v["E17"].verdict == "measured: holds"
    assert v["E19"].verdict == "measured: does not hold"
    assert v["E20"].verdict == "measured: does not hold"
    assert v["E21"].verdict == "measured: does not hold"
    assert "runc 6x slower" in v["E20"].evidence


def test_heavy_containers_bear_them_out():
    # the verdicts are decided by the numbers: a run with heavy containers flips them
    v = verdicts([V8, HEAVY])
    assert v["E19"].verdict == "measured: holds"
    assert v["E20"].verdict == "measured: holds"
    assert v["E21"].verdict == "measured: holds"
    assert v["E15"].verdict == "measured: holds"


def test_unavailable_kinds_are_ignored_and_recorded_evidence_is_flagged():
    missing = {"kind": "v8", "available": False, "reason": "no workerd", "fix": "make setup"}
    assert verdicts([missing, BARE])["E16"].verdict == "not testable here"
    v = verdicts([{**V8, "recorded": True}, BARE])
    assert v["E16"].recorded and not v["E8"].recorded


def test_table_lists_every_claim_and_marks_computed_ones():
    text = claims.table(claims.assess([V8, BARE]))
    assert all(f"E{i} " in text for i in range(1, 24))
    assert "corrected *" in text and "computed now" in text


@pytest.mark.parametrize("row, message", [
    ("E1,c,maybe,e,c,", "verdict 'maybe' is not one of"),
    ("E1,c,computed,e,c,nonsense", "unknown check 'nonsense'"),
    ("E1,c,reproduced,e,c,sessions", "must say 'computed'"),
])
def test_a_bad_row_is_a_clear_error(tmp_path, monkeypatch, row, message):
    path = tmp_path / "claims.csv"
    path.write_text("id,claim,verdict,evidence,caveat,check\n" + row + "\n")
    monkeypatch.setattr(claims, "CLAIMS_CSV", path)
    claims.claims.cache_clear()
    try:
        with pytest.raises(ValueError, match=message):
            claims.claims()
    finally:
        claims.claims.cache_clear()


def test_what_flips_e21_is_computed_from_the_fleet_model():
    # with bare containers only frequent starts of a slow one (podman, 160 ms) make the
    # container fleet twice the size; runc's 24 ms never does
    podman = {**BARE, "kind": "podman", "start_ms_p50": 160.0, "mem_mb_per_instance": 0.75}
    assert claims.changes_that_flip([V8, BARE, podman]) == ["a tool call every second"]
    assert claims.changes_that_flip([V8, BARE]) == []
    assert claims.server_ratio_with([V8, BARE], "a bigger working set (300 MB per session)") \
        == pytest.approx(1.0, abs=0.05)
    with pytest.raises(ValueError, match="unknown change 'faster wifi'"):
        claims.server_ratio_with([V8, BARE], "faster wifi")
    with pytest.raises(ValueError, match="needs both"):
        claims.changes_that_flip([BARE])


def test_html_table_escapes_and_colours_every_verdict():
    page = claims.html_table(claims.assess([V8, BARE]))
    assert page.count("<tr>") == 24 and "&#x27;" in page
    assert "(computed)" in page


def test_the_change_that_matters_most_for_e21_is_frequent_starts():
    podman = {**BARE, "kind": "podman", "start_ms_p50": 160.0, "mem_mb_per_instance": 0.75}
    for results in ([V8, BARE], [V8, BARE, podman], [V8, HEAVY]):
        assert claims.change_that_matters_most(results) == "a tool call every second"


@pytest.mark.parametrize("name", ["01_restaurant_vs_personal_chef", "02_the_scaling_math",
                                  "06_the_essay_claim_by_claim"])
def test_notebook_exercises_are_self_checked_and_mostly_teach(name):
    # Issue 15, item 4: at least three exercises, each followed by a check, and at least
    # half of them predict-then-measure or explain-why rather than arithmetic.
    import nbformat

    from labkit import paths
    nb = nbformat.read(paths.PROJECT_ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    cells = nb.cells
    exercises = [i for i, c in enumerate(cells)
                 if c.cell_type == "markdown" and "**Exercise" in c.source]
    assert len(exercises) >= 3
    teaching = 0
    for i in exercises:
        text = cells[i].source[cells[i].source.index("**Exercise"):]
        check = next(c for c in cells[i + 1:] if c.cell_type == "code")
        assert "check_" in check.source and "..." in check.source, text[:60]
        teaching += "predict" in text.lower() or "explain why" in text.lower()
    assert teaching * 2 >= len(exercises)
