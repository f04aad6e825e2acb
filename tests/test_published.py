"""labkit.published: every chart point says what it measured, and only like sits beside like."""

import pytest

from labkit import published
from labkit.published import LAB_MEASURES, PUBLISHED, Published
from labkit.reference import figures

SANDBOX_ROWS = {p.figure.metric for p in PUBLISHED}


def test_every_sandbox_row_in_the_csv_says_what_it_measures():
    assert all("measures" in f.__dataclass_fields__ for f in figures()[:1])
    for f in figures():
        if f.metric in SANDBOX_ROWS:
            assert f.measures, f"{f.metric}: empty measures field"


@pytest.mark.parametrize("point", PUBLISHED, ids=lambda p: p.label)
def test_each_point_agrees_with_its_rows_measures(point):
    measures = point.figure.measures
    if point.measure == "mem_mb":
        assert point.guest == ("guest=excluded" not in measures), measures
        if point.memory != "unstated":
            assert point.memory in measures, measures
    else:
        assert point.start in measures, measures
    if point.scope == "host":
        assert "per host" in measures


@pytest.mark.parametrize("chart", sorted(LAB_MEASURES))
def test_charts_plot_only_like_with_like(chart):
    shown = published.published(chart)
    kept_off = published.left_out(chart)
    assert {p.label for p in shown} | {p.label for p, _ in kept_off} == {
        p.label for p in PUBLISHED if p.measure == chart}
    for p in shown:
        assert p.scope == "instance"
        if chart == "mem_mb":
            assert p.guest and p.memory != "RSS"
        else:
            assert p.start == "cold"
    assert all(reason for _, reason in kept_off)


def test_the_review_s_mismatches_stay_off_the_charts():
    start = {p.name for p in published.published("start_ms")}
    memory = {p.name for p in published.published("mem_mb")}
    assert not any("pooled" in name or "Lucet" in name for name in start)
    assert "Firecracker microVM, VMM only" not in memory          # guest excluded
    assert not any(p.memory == "RSS" for p in published.published("mem_mb"))  # shim RSS
    assert published.published("per_second") == []               # 150/s is a whole host
    docker = next(p for p in published.published("start_ms") if "Docker" in p.name)
    assert "unverified preprint" in docker.label


def test_labels_say_what_was_measured():
    for p in PUBLISHED:
        assert p.measures in p.label


def test_bad_descriptions_are_refused_by_name():
    with pytest.raises(ValueError, match="invalid start 'lukewarm'"):
        Published("x", "start_ms", 1, "Isolate cold start", start="lukewarm")
    with pytest.raises(ValueError, match="valid ones are: mem_mb, per_second, start_ms"):
        published.published("joules")
