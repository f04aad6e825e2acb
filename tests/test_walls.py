"""What each wall stops: the probe battery's verdicts on the kinds this machine runs.

Every probe runs for real in a fresh guest; a kind that cannot run here skips with its
reason. The host judges: a guest's own word ("exit 0") never makes a verdict "allowed".
After each test nothing labkit made may remain (the shared leak check in conftest.py),
and the bait's loopback listener and folder are gone.
"""

from __future__ import annotations

import socket
import threading

import pytest

from labkit import walls
from labkit.sandboxes import FAMILIES, Capabilities, availability
from labkit.walls import ALLOWED, BLOCKED, NOT_APPLICABLE, NOT_PROBED, PROBE_NAMES, VERDICTS

pytestmark = pytest.mark.usefixtures("nothing_left_behind")


def needs(kind: str) -> None:
    found = availability(kind)
    if not found.available:
        pytest.skip(f"{kind} is not available here: {found.reason}")


def verdicts(kind: str) -> dict[str, walls.ProbeResult]:
    return {row.probe: row for row in walls.probe_kind(kind)}


def assert_well_formed(rows) -> None:
    for row in rows:
        row = row if isinstance(row, dict) else row.to_dict()
        assert row["verdict"] in VERDICTS, row
        assert row["probe"] in PROBE_NAMES, row
        assert row["evidence"].strip(), f"no evidence for {row}"
        assert "\n" not in row["evidence"] and len(row["evidence"]) <= walls.EVIDENCE_CHARS


def test_a_plain_process_reaches_the_host():
    needs("process")
    seen = verdicts("process")
    assert_well_formed(seen.values())
    assert seen["host file"].verdict == ALLOWED        # it printed the host's random token
    assert seen["write outside"].verdict == ALLOWED    # its file appeared in the host folder
    assert seen["host loopback"].verdict == ALLOWED    # the host listener got a connection
    assert seen["host processes"].verdict == ALLOWED   # it read this test's command line
    assert seen["host kernel"].verdict == ALLOWED
    assert seen["host file"].via == "plain process"


@pytest.mark.parametrize("kind", ["runc", "crun"])
def test_a_container_blocks_the_host_but_shares_its_kernel(kind):
    needs(kind)
    seen = verdicts(kind)
    assert_well_formed(seen.values())
    for probe in ("host file", "write outside", "host loopback", "host processes",
                  "host devices"):
        assert seen[probe].verdict == BLOCKED, seen[probe]
    assert "No such file" in seen["host file"].evidence
    assert "never appeared" in seen["write outside"].evidence
    assert "got nothing" in seen["host loopback"].evidence
    assert seen["host kernel"].verdict == ALLOWED      # one kernel: `uname -r` is the host's
    assert seen["raw syscalls"].verdict == BLOCKED     # a seccomp filter stands in between
    assert "Seccomp:" in seen["raw syscalls"].evidence
    assert seen["host file"].via == "run_script"


def test_bubblewrap_hides_the_host_but_filters_no_system_call():
    needs("bwrap")
    seen = verdicts("bwrap")
    assert_well_formed(seen.values())
    for probe in ("host file", "write outside", "host loopback", "host processes"):
        assert seen[probe].verdict == BLOCKED, seen[probe]
    assert seen["host kernel"].verdict == ALLOWED
    raw = seen["raw syscalls"]
    assert raw.verdict == ALLOWED and "Seccomp:\t0" in raw.evidence


@pytest.mark.parametrize("kind", ["gvisor", "microvm"])
def test_a_kernel_of_its_own_keeps_the_host_kernel_out_of_reach(kind):
    needs(kind)
    probes = ["host file", "host loopback", "host kernel", "user namespace", "raw syscalls"]
    seen = {row.probe: row for row in walls.probe_kind(kind, probes=probes)}
    assert_well_formed(seen.values())
    assert {row.verdict for row in seen.values()} == {BLOCKED}, seen
    guest = seen["host kernel"].evidence.split("uname -r: ")[1].split(";")[0]
    assert guest != walls.host_facts()["kernel"]
    if "userns created" in seen["user namespace"].evidence:  # made, but by its own kernel
        assert "guest's own kernel" in seen["user namespace"].evidence


def test_wasm_is_blocked_by_construction_with_the_refusal_as_evidence():
    needs("wasm")
    seen = verdicts("wasm")
    assert_well_formed(seen.values())
    assert {row.verdict for row in seen.values()} == {BLOCKED}
    assert "EBADF" in seen["host file"].evidence              # no pre-opened folder
    assert "unknown import" in seen["host loopback"].evidence  # no connect in WASI at all
    assert "unknown import" in seen["raw syscalls"].evidence
    assert {row.via for row in seen.values()} == {"run_wasi"}


def test_v8_guests_find_no_door_to_the_host():
    needs("v8")
    seen = verdicts("v8")
    assert_well_formed(seen.values())
    assert {row.verdict for row in seen.values()} == {BLOCKED}
    assert "got nothing" in seen["host loopback"].evidence
    assert "node:fs" in seen["host file"].evidence


def test_the_host_judges_not_the_guest():
    facts = walls.host_facts()
    with walls.HostBait() as bait:
        # A guest that claims success has not written anything: the host looks itself.
        verdict, evidence = walls._judge_shell("write outside", "exit 0", bait, facts)
        assert verdict == BLOCKED and "never appeared" in evidence
        assert walls._judge_shell("host file", "exit 0", bait, facts)[0] == BLOCKED
        assert walls._judge_shell("host file", bait.token, bait, facts)[0] == ALLOWED
        assert walls._judge_shell("host kernel", "uname -r: 4.4.0", bait, facts)[0] == BLOCKED
        # A namespace made by the guest's own kernel (gVisor's says 4.4.0) is not the host's.
        facts = {**facts, "user_namespaces": 1000}
        inside = walls._judge_shell("user namespace", "userns created\nuname -r: 4.4.0", bait,
                                    facts)
        assert inside[0] == BLOCKED and "guest's own kernel" in inside[1]
        same = f"userns created\nuname -r: {bait.kernel}"
        assert walls._judge_shell("user namespace", same, bait, facts)[0] == ALLOWED


def test_the_bait_is_gone_after_the_battery():
    with walls.HostBait() as bait:
        port, folder = bait.port, bait.folder
        assert bait.listening and bait.secret.read_text().strip() == bait.token
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            assert bait.token.encode() in conn.recv(4096)
        assert bait.connections == 1
    assert not bait.listening
    assert not folder.exists()
    assert not any(t.name == "labkit-walls-listener" for t in threading.enumerate())
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


def test_an_unavailable_kind_is_not_probed_and_says_why(monkeypatch):
    monkeypatch.setenv("LABKIT_NO_CONTAINERS", "runc")
    rows = walls.probe_kind("runc")
    assert {row.verdict for row in rows} == {NOT_PROBED}
    assert all("not available here" in row.evidence for row in rows)


def test_a_kind_with_no_door_is_not_probed():
    class RunsOnlyItsOwnWorkload:
        kind = "example"
        capabilities = Capabilities(family="micro-VM", cpu_cap="cpu-time", memory_cap="guest RAM")

    assert walls.door(RunsOnlyItsOwnWorkload) is None
    assert "runs only labkit's own workload" in walls._no_door_reason(RunsOnlyItsOwnWorkload)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="unknown probe"):
        walls.probe_kind("process", probes=["telepathy"])
    with pytest.raises(ValueError, match="unknown kind"):
        walls.probe_table(["bogus"])
    with pytest.raises(ValueError, match="verdict must be one of"):
        walls.ProbeResult("process", "host file", "maybe", "x", "none")


def test_the_table_covers_every_kind_and_probe(tmp_path):
    needs("wasm")
    kinds_here = [k for k in ("wasm", "process") if availability(k, trial=False).available]
    path = walls.record(tmp_path / "walls-test.json", kinds=kinds_here)
    loaded = walls.load(path)
    assert loaded["source"].startswith("recorded ")
    assert loaded["machine"]["cores"] >= 1
    assert [(r["kind"], r["probe"]) for r in loaded["rows"]] == \
        [(k, p) for k in kinds_here for p in PROBE_NAMES]
    assert_well_formed(loaded["rows"])
    reach = walls.reach(loaded["rows"])
    assert reach["wasm"] == 0
    if "process" in reach:
        assert reach["process"] >= 4


def test_every_family_with_a_wall_has_cited_escape_classes():
    rows = walls.escape_classes()
    assert set(rows[0]) == set(walls.WALLS_COLUMNS)
    for row in rows:
        assert row["family"] in FAMILIES
        assert row["url"].startswith("https://") and len(row["quote"]) > 40, row
    walled = set(FAMILIES) - {"process"}
    assert {row["family"] for row in rows} == walled
    assert all(row["family"] == "micro-VM" for row in walls.escape_classes("micro-VM"))
    with pytest.raises(ValueError, match="unknown family"):
        walls.escape_classes("moat")


def test_not_applicable_is_for_what_the_host_itself_lacks():
    facts = {**walls.host_facts(), "modules": False, "user_namespaces": 0}
    with walls.HostBait() as bait:
        assert walls._judge_shell("kernel module", "insmod: Operation not permitted", bait,
                                  facts)[0] == NOT_APPLICABLE
        assert walls._judge_shell("user namespace", "userns created", bait,
                                  facts)[0] == NOT_APPLICABLE
        facts = {**facts, "modules": True}
        assert walls._judge_shell("kernel module", "insmod: Operation not permitted", bait,
                                  facts)[0] == BLOCKED
        assert walls._judge_shell("kernel module", "insmod: invalid module format", bait,
                                  facts)[0] == ALLOWED


# --- notebook 04b's helpers (labkit.lab.walls) ---------------------------------------------


def row(kind, probe, verdict):
    return {"kind": kind, "probe": probe, "verdict": verdict, "evidence": "e", "via": "x"}


def test_the_text_table_marks_each_verdict_and_says_who_was_not_probed():
    from labkit.lab import walls as lab
    rows = [row("a", p, walls.ALLOWED if p == "host kernel" else walls.BLOCKED)
            for p in PROBE_NAMES] + [row("b", p, NOT_PROBED) for p in PROBE_NAMES]
    rows[PROBE_NAMES.index("kernel module")]["verdict"] = NOT_APPLICABLE
    lines = lab.probe_text_table(rows).splitlines()
    assert lines[0].split() == ["a", "b"]
    table = {line[:15].strip(): line[15:].split() for line in lines[1:]}
    assert table["host kernel"] == ["ALLOWED", "-"]
    assert table["kernel module"] == ["n/a", "-"]
    assert table["host file"] == ["blocked", "-"]
    assert table["reached"] == ["1", "-"]


def test_the_chart_puts_each_kind_at_its_reach_and_labels_emulated_boots():
    from labkit.lab import walls as lab
    rows = [row("fast", p, BLOCKED) for p in PROBE_NAMES] + \
        [row("vm", p, ALLOWED if p == "host file" else BLOCKED) for p in PROBE_NAMES]
    costs = [{"kind": "fast", "family": "isolate", "start_ms_p50": 0.01,
              "mem_mb_per_instance": 0.005, "accelerator": ""},
             {"kind": "vm", "family": "micro-VM", "start_ms_p50": 1700.0,
              "mem_mb_per_instance": 157.0, "accelerator": "tcg"}]
    fig = lab.cost_and_reach_figure(costs, rows)
    start = {trace.name: trace for trace in fig.data if trace.xaxis == "x"}
    assert list(start["isolate"].x) == [0] and list(start["micro-VM"].x) == [1]
    assert list(start["micro-VM"].y) == [1700.0]
    assert "emulated" in start["micro-VM"].text[0] and "emulated" not in start["isolate"].text[0]


def test_virtualisation_is_read_from_this_machine():
    from labkit.lab import walls as lab
    here = lab.virtualisation_here()
    cpuinfo = open("/proc/cpuinfo").read()
    assert ("vmx" in here["cpu_flags"]) == (" vmx" in cpuinfo)
    assert here["kvm_device"] == __import__("os").path.exists("/dev/kvm")
    assert here["hardware"] == bool(here["cpu_flags"] and here["kvm_device"])


def test_a_cost_row_is_measured_through_the_protocol():
    needs("wasm")
    from labkit.lab import walls as lab
    cost = lab.cost_of("wasm", calls=5)
    assert cost["family"] == "isolate" and cost["calls"] >= 3
    assert 0 < cost["start_ms_p50"] <= cost["start_ms_p99"] < 1_000
    assert 0 <= cost["mem_mb_per_instance"] < 10 and cost["versions"]["wasmtime"]
