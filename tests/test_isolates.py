"""Notebook 03's helpers: the density curve, the WAT self-check and the figures."""

import numpy as np
import pytest
from conftest import more_than_fit

from labkit.lab import isolates as viz
from labkit.sandboxes import availability

found = availability("wasm", trial=False)
pytestmark = [pytest.mark.skipif(not found.available, reason=found.reason or "wasm missing"),
              pytest.mark.usefixtures("nothing_left_behind")]

wasm = pytest.importorskip("labkit.sandboxes.wasm")
from labkit.lab.exercises import check_export  # noqa: E402

SUM_TO = """(module (func (export "sum_to") (param $n i64) (result i64) (local $t i64)
  (block $done (loop $again (br_if $done (i64.eqz (local.get $n)))
    (local.set $t (i64.add (local.get $t) (local.get $n)))
    (local.set $n (i64.sub (local.get $n) (i64.const 1))) (br $again)))
  (local.get $t)))"""
CASES = {(0,): 0, (1,): 1, (10,): 55}


@pytest.fixture(scope="module")
def box():
    with wasm.WasmSandbox() as sandbox:
        yield sandbox


# Each live instance writes to its page of linear memory (resident.wat): at least one OS
# page of memory only this process has.
PAGE = 4096


def private_bytes_added(box, count: int) -> int:
    """USS (pages only this process has) added by `count` live instances: unlike PSS, no
    other process on the machine can move it by mapping or unmapping a shared library."""
    before = box.footprint().uss
    with box.hold(count):
        during = box.footprint().uss
    return during - before


def test_density_curve_grows_with_n_and_releases(box):
    rows = box.density_curve([10, 1000])  # also the warm-up: the held module is compiled
    assert [r["n"] for r in rows] == [10, 1000] and box.live == 0
    small, large = private_bytes_added(box, 10), private_bytes_added(box, 1000)
    assert box.live == 0
    # 990 more instances hold at least 990 more private pages (a real floor, with 10% for
    # the allocator handing back pages the first hold left), and not a megabyte each.
    assert large - small >= 0.9 * 990 * PAGE, (small, large)
    assert large / 1000 < 2**20, large


def test_density_curve_refuses_bad_counts_before_starting(box):
    with pytest.raises(ValueError, match="count"):
        box.density_curve([10, more_than_fit(box)])
    with pytest.raises(ValueError, match="count"):
        box.density_curve([0])
    assert box.live == 0


def test_check_export_accepts_a_right_answer(box):
    assert check_export(box, SUM_TO, "sum_to", CASES, hint="h")


@pytest.mark.parametrize("source, says", [
    (None, "Not answered yet"),
    ('(module (func (export "sum_to") (param i64) (result i64) (i64.const 0)))',
     "returned 0, which is not right"),
    ('(module (func (export "sum_to")', "invalid WAT"),
    ('(module (func (export "sum") (param i64) (result i64) (i64.const 0)))', "no export"),
])
def test_check_export_explains_a_wrong_one_without_the_answer(box, source, says):
    verdict = check_export(box, source, "sum_to", CASES, hint="a hint")
    assert not verdict
    assert says in repr(verdict) and "a hint" in repr(verdict)
    assert "55" not in repr(verdict)


def test_figures_take_several_labels():
    rng = np.random.default_rng(1)
    hist = viz.start_latency_histogram({"a": rng.uniform(0.01, 0.02, 100),
                                        "b": rng.uniform(3, 6, 50)})
    assert [t.type for t in hist.data] == ["bar", "bar", "scatter", "scatter"]
    curves = {"a": [{"n": 10, "total_mb": 0.1, "kb_per_instance": 10.0}],
              "b": [{"n": 10, "total_mb": 20.0, "kb_per_instance": 2000.0}]}
    assert len(viz.density_figure(curves).data) == 4
    assert len(viz.rate_bars({"a": 1e4, "b": 200}).data[0].x) == 2
    assert len(viz.cost_bars({"compile": 500.0, "call": 10.0}).data[0].y) == 2
