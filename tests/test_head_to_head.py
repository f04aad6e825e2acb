"""Notebook 05 on a machine with no container runtime and no workerd: it still runs, says
what is missing, fills in the recorded run (labelled), and its fixed text is unchanged."""

import nbformat
import pytest
from conftest import notebook_texts as texts
from nbclient import NotebookClient

from labkit import bench, paths
from labkit.sandboxes import KINDS, sandbox_class

NOTEBOOK = paths.PROJECT_ROOT / "notebooks" / "05_head_to_head.ipynb"


def test_committed_recording_covers_every_kind_that_ran_on_the_reference_machine():
    recorded = bench.load_recorded()
    kinds = [r["kind"] for r in recorded]
    assert kinds == list(KINDS)
    measured = {r["kind"] for r in recorded if r.get("available")}
    assert {"wasm", "v8", "process", "runc", "crun"} <= measured
    for r in recorded:
        assert r["recorded"] is True and r["machine"]["cpu"]
        if r.get("available"):
            # at least a quick run's calls (slow kinds take fewer): the committed run holds
            # every workload, both paths and the load rows, which a full size would take
            # most of an hour to measure
            quick = sandbox_class(r["kind"]).bench_calls["quick"]
            assert r["n"] >= quick, "the committed run is at least a quick one"
            assert "ratio_to_wasm" in r


def test_committed_recording_holds_the_whole_matrix():
    """Every kind for every workload, cold and warm, and the load rows, from one run."""
    every = bench.load_recorded(every_row=True)
    assert len({r["source"] for r in every}) == 1, "one recorded run"
    for workload in ("fib", "tool-js", "tool-py"):
        for path in ("cold", "warm"):
            kinds = [r["kind"] for r in every if r["workload"] == workload
                     and r.get("path", "cold") == path and r.get("concurrency", 1) == 1]
            assert kinds == list(KINDS), (workload, path)
        loads = {r.get("concurrency") for r in every if r["workload"] == workload}
        assert {1, 2, 4, 8} <= loads, workload
    measured = {(r["kind"], r["workload"], r.get("path", "cold")) for r in every
                if r.get("available") and r.get("concurrency", 1) == 1}
    for kind in ("v8", "process", "runc", "crun", "bwrap", "gvisor", "podman", "docker"):
        assert (kind, "tool-js", "cold") in measured, kind
    for kind in ("wasm", "v8", "process", "runc", "crun", "podman", "docker"):
        assert (kind, "fib", "warm") in measured, kind


@pytest.mark.timeout(300)
def test_without_runtimes_the_notebook_shows_recorded_numbers(monkeypatch, tmp_path):
    monkeypatch.setenv("LABKIT_NO_CONTAINERS", "1")
    monkeypatch.setenv("LABKIT_RUNTIMES", str(tmp_path / "no-runtimes"))
    stored = nbformat.read(NOTEBOOK, as_version=4)
    fresh = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(fresh, timeout=240, kernel_name="python3").execute()
    sources = "".join("".join(texts(c)) for c in fresh.cells
                      if "fill_from_recorded" in c.source)
    for kind in ("v8", "runc", "crun", "podman", "docker"):
        assert f"{kind}: RECORDED in bench-" in sources, kind
    assert "wasm: measured live on this machine" in sources
    for old, new in zip(stored.cells, fresh.cells, strict=True):
        if new.cell_type == "code" and not new.source.startswith("# NBVAL_IGNORE_OUTPUT"):
            assert texts(new) == texts(old), new.source[:80]
