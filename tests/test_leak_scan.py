"""The shared leak check (tests/conftest.py): it sees what each kind can leave behind, in
every cgroup layout, and it fails when it cannot look rather than passing blind."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from conftest import (
    ContainerPlaces,
    Stock,
    assert_nothing_new,
    eventually,
    own_marks,
    scan_cgroups,
    take_stock,
)

from labkit import runtimes
from labkit.sandboxes import availability, open_sandbox

NOWHERE = ContainerPlaces({}, {})


def needs(kind):
    found = availability(kind, trial=False)
    return pytest.mark.skipif(not found.available, reason=f"{kind}: {found.reason}")


# --- the poller -------------------------------------------------------------------------
def test_eventually_returns_as_soon_as_the_condition_holds():
    start = time.monotonic()
    ticks = iter(range(100))
    assert eventually(lambda: next(ticks) >= 3, within=30, every=0.01)
    assert time.monotonic() - start < 25  # it returned on the fourth look, not at 30 s


def test_eventually_gives_up_with_false():
    assert eventually(lambda: False, within=0.1, every=0.02) is False


# --- what it sees -----------------------------------------------------------------------
def test_a_leaked_child_process_fails_the_check():
    before = take_stock(NOWHERE)
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert take_stock(NOWHERE).new_since(before) == {"child processes": ["sleep #1"]}
        with pytest.raises(AssertionError, match="left behind.*sleep"):
            assert_nothing_new(before, NOWHERE, settle=0.3)
    finally:
        child.kill()
        child.wait()
    assert_nothing_new(before, NOWHERE)


def test_held_processes_are_seen_then_gone():
    with open_sandbox("process") as box:
        before = take_stock(NOWHERE)
        with box.hold(2):
            new = take_stock(NOWHERE).new_since(before)
            assert len(new["child processes"]) == 2
        assert_nothing_new(before, NOWHERE)


def test_a_wasm_sandbox_s_ticker_thread_is_seen():
    before = take_stock(NOWHERE)
    with open_sandbox("wasm"):
        assert take_stock(NOWHERE).new_since(before) == {"threads": ["labkit-wasm-epoch #1"]}
    assert_nothing_new(before, NOWHERE)


@pytest.mark.skipif(runtimes.find_workerd() is None, reason="workerd is not installed")
def test_a_v8_sandbox_s_workerd_and_run_folder_are_seen():
    before = take_stock(NOWHERE)
    with open_sandbox("v8"):
        new = take_stock(NOWHERE).new_since(before)
        assert any(name.startswith("workerd") for name in new["child processes"])
        assert any("run folder" in name for name in new["temp folders"])
    assert_nothing_new(before, NOWHERE)


@needs("runc")
def test_held_runc_containers_are_seen_everywhere_they_live(places):
    before = take_stock(places)
    with open_sandbox("runc") as box:
        assert "temp folders" in take_stock(places).new_since(before)  # its bundle folder
        with box.hold(2):
            new = take_stock(places).new_since(before)
            assert len(new["containers"]) == 2
            assert len(new["processes named after us"]) >= 2
            if take_stock(places).looked["cgroup hierarchies"]:
                assert len(new["cgroups"]) >= 2
    assert_nothing_new(before, places)


@needs("podman")
def test_held_podman_containers_are_seen_in_its_list(places):
    before = take_stock(places, managers=True)
    with open_sandbox("podman") as box, box.hold(1):
        new = take_stock(places, managers=True).new_since(before)
        assert [name.split(":")[0] for name in new["containers"]] == ["podman"]
    assert_nothing_new(before, places, managers=True)


# --- every cgroup layout ------------------------------------------------------------------
LAYOUTS = {
    # (mount folder, filesystem type) for each hierarchy the layout mounts
    "v1": [("memory", "cgroup"), ("pids", "cgroup")],
    "hybrid": [("memory", "cgroup"), ("pids", "cgroup"), ("unified", "cgroup2")],
    "v2": [("", "cgroup2")],
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_our_cgroups_are_found_in_every_layout(tmp_path, layout):
    mine, theirs = own_marks(4242)[0], own_marks(4343)[0]
    lines = []
    for i, (folder, fstype) in enumerate(LAYOUTS[layout]):
        top = tmp_path / folder
        (top / "user.slice" / f"{mine}7").mkdir(parents=True)
        (top / f"{theirs}1").mkdir()
        lines.append(f"{40 + i} 31 0:{50 + i} / {top} rw,relatime shared:9 - {fstype} "
                     f"{fstype} rw")
    lines.append(f"60 31 0:70 / {tmp_path}/other rw - tmpfs tmpfs rw")
    stock = Stock(found={"cgroups": set()})
    scan_cgroups(stock, "\n".join(lines), own_marks(4242))
    assert stock.looked["cgroup hierarchies"] == len(LAYOUTS[layout])
    assert stock.found["cgroups"] == {str(tmp_path / folder / "user.slice" / f"{mine}7")
                                      for folder, _ in LAYOUTS[layout]}


def test_the_machine_s_own_cgroups_are_scanned():
    if not os.path.isdir("/sys/fs/cgroup"):
        pytest.skip("no cgroup filesystem on this machine")
    assert take_stock(NOWHERE).looked["cgroup hierarchies"] >= 1


# --- blind spots fail loudly -----------------------------------------------------------------
def test_no_cgroup_hierarchy_where_containers_run_is_blind():
    runc_here = ContainerPlaces({"runc": "/nonexistent/runc"}, {})
    assert "no cgroup hierarchy" in " ".join(take_stock(runc_here, mountinfo="").blind)
    assert not take_stock(NOWHERE, mountinfo="").blind  # no containers: nothing to miss


def test_an_unreadable_state_folder_is_blind(tmp_path):
    not_a_folder = tmp_path / "runc"
    not_a_folder.write_text("")
    stock = take_stock(ContainerPlaces({"runc": str(not_a_folder)}, {}))
    assert any("state folder cannot be read" in why for why in stock.blind)
    with pytest.raises(AssertionError, match="could not look everywhere"):
        assert_nothing_new(take_stock(NOWHERE), ContainerPlaces({"runc": str(not_a_folder)},
                                                               {}), settle=0)


def test_a_category_the_scan_could_not_look_at_is_blind(monkeypatch):
    import conftest

    monkeypatch.setattr(conftest, "_processes", lambda stock, marks: None)  # /proc unread
    stock = take_stock(NOWHERE)
    assert any("could not look at any processes" in why for why in stock.blind), stock.blind
    with pytest.raises(AssertionError, match="could not look everywhere"):
        assert_nothing_new(take_stock(NOWHERE), NOWHERE, settle=0)


def test_a_workerd_run_folder_under_xdg_runtime_dir_is_seen(tmp_path, monkeypatch):
    import json

    run_folder = tmp_path / "labkit" / "workerd" / "server-1"
    run_folder.mkdir(parents=True)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    before = take_stock(NOWHERE)
    (run_folder / "server.json").write_text(json.dumps({"owner_pid": os.getpid()}))
    assert take_stock(NOWHERE).new_since(before) == {
        "temp folders": ["$XDG_RUNTIME_DIR/labkit/workerd/ run folder #1"]}
