"""One memory method: every kind's row holds the same number of live instances (or says it
held fewer), with the runtime its instances share measured apart and amortised over them."""

import pytest

from labkit import bench, results
from labkit.sandboxes import availability, open_sandbox, sandbox_class

pytestmark = pytest.mark.usefixtures("nothing_left_behind")

# The kinds a quick memory bench holds in a few seconds each.
CHEAP = ["wasm", "v8", "process", "runc", "podman"]
N = bench.MEMORY_N["quick"]


def available(kinds):
    return [kind for kind in kinds if availability(kind, trial=False).available]


@pytest.fixture(scope="module")
def rows():
    kinds = available(CHEAP)
    if len(kinds) < 2:
        pytest.skip(f"fewer than two of {CHEAP} run here")
    run = bench.run_bench(kinds, calls=3, warmup=0, show_progress=False)
    return {row.kind: row for row in run}


def test_every_kind_holds_the_same_n(rows):
    for kind, row in rows.items():
        assert row.available, (kind, row.reason)
        clamped = any(w.code == results.LIVE_CLAMPED for w in row.warnings)
        assert row.extras["mem_n"] == row.live_instances
        assert row.live_instances == N or (clamped and row.live_instances < N), kind


def test_amortised_is_per_instance_plus_the_shared_part_over_n(rows):
    for row in rows.values():
        extras = row.extras
        assert extras["shared_mb"] >= 0 and extras["shared_what"]
        assert extras["mem_mb_amortised"] == pytest.approx(
            row.mem_mb_per_instance + extras["shared_mb"] / extras["mem_n"])


def test_v8_shows_workerd_apart_from_its_isolates(rows):
    if "v8" not in rows:
        pytest.skip("V8 (workerd) is not available here")
    extras = rows["v8"].extras
    assert "workerd" in extras["shared_what"]
    # workerd idle is tens of MB here: far more than one isolate, far less than a GB.
    assert 5 < extras["shared_mb"] < 1000
    assert extras["shared_mb"] > 2 * rows["v8"].mem_mb_per_instance


def test_podman_says_what_it_shares(rows):
    if "podman" not in rows:
        pytest.skip("podman is not available here")
    extras = rows["podman"].extras
    assert extras["shared_mb"] == 0 and "conmon" in extras["shared_what"]
    assert rows["podman"].mem_mb_per_instance > 0


def test_wasm_shares_wasmtimes_library_with_this_process(rows):
    extras = rows["wasm"].extras
    assert "wasmtime" in extras["shared_what"] and extras["shared_mb"] > 1


def test_a_kind_that_cannot_hold_n_holds_fewer_and_says_so(monkeypatch):
    process = sandbox_class("process")
    monkeypatch.setattr(process, "live_counts", {"quick": 3, "full": 3})
    (row,) = bench.run_bench(["process"], calls=2, warmup=0, show_progress=False)
    assert row.live_instances == 3 and row.extras["mem_n"] == 3
    (warning,) = [w for w in row.warnings if w.code == results.LIVE_CLAMPED]
    assert f"not the {N:,} asked" in warning.message


def test_a_count_asked_for_is_held_as_asked():
    (row,) = bench.run_bench(["process"], calls=2, warmup=0, live=4, show_progress=False)
    assert row.live_instances == 4 and row.extras["mem_n"] == 4
    assert not [w for w in row.warnings if w.code == results.LIVE_CLAMPED]


@pytest.mark.parametrize("count", [0, -1, 10**9])
def test_memory_figures_refuse_a_bad_count(count):
    with open_sandbox("process") as box, pytest.raises(ValueError, match="count"):
        box.memory_figures(count)


def test_memory_figures_and_the_shared_footprint_need_an_open_sandbox():
    from labkit.errors import NotOpen
    box = sandbox_class("process")()
    for call in (box.shared_footprint, lambda: box.memory_figures(2)):
        with pytest.raises(NotOpen):
            call()
