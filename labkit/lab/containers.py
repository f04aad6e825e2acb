"""Notebook 04 (containers up close): what it shows, measured live or read from a recording.

A tour from inside one container (its hostname, process list, root filesystem, network,
a write to its read-only root, a try at the host's loopback, a memory hog), the start
latency of fresh containers, and memory as live containers pile up. `record()` runs it all
once and saves it with the machine it ran on, so a reader without a container runtime
(Binder, a laptop without root) still sees real numbers, labelled as recorded.

The figures are notebook 03's (labkit.lab.isolates), worded for containers, so the two
notebooks read side by side.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import plotly.graph_objects as go

from .. import paths, results
from ..errors import LimitExceeded
from ..measure import time_calls
from ..sandboxes import availability, kinds, open_sandbox
from ..sandboxes.base import Limits, Sandbox
from . import isolates

RECORDING = paths.RECORDED_DIR / "containers-04.json"
# Scripts run by busybox sh in a fresh container each, in the order the notebook shows.
TOUR = {
    "hostname": "hostname",
    "processes": "ps -o pid,user,args; true",  # `; true` keeps the shell as pid 1
    "root filesystem": "ls /",
    "network": "ip -o addr | cut -d' ' -f2,3,4,7",
    "write the root filesystem": "touch /i-was-here 2>&1; echo \"exit status $?\"",
}
# Memory a hog asks for, against the cap set for the demonstration.
HOG_MB, HOG_CAP_MB = 100, 24


def take_tour(box: Sandbox) -> dict[str, str]:
    """Run each TOUR script in a fresh container; add the loopback probe and the hog.

    Defined in notebook 04 § Step inside
    """
    seen = {name: _both(box, script) for name, script in TOUR.items()}
    seen["reach the host's loopback"] = probe_host_loopback(box)
    seen["memory hog"] = memory_hog(type(box))
    return seen


def _both(box: Sandbox, script: str) -> str:
    result = box.run_script(script)
    return (result.stdout + result.stderr).strip()


def probe_host_loopback(box: Sandbox) -> str:
    """Listen on the host's 127.0.0.1, try to connect from inside; report both sides.

    Defined in notebook 04 § Step inside
    """
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(0.3)
        port = listener.getsockname()[1]
        inside = _both(box, f"nc 127.0.0.1 {port} </dev/null && echo connected "
                            "|| echo 'no connection'")
        try:
            listener.accept()[0].close()
            host = "the host's listener got a connection"
        except TimeoutError:
            host = "the host's listener got nothing"
    return f"inside: {inside.splitlines()[-1]}; {host}"


def memory_hog(kind_class, cap_mb: int = HOG_CAP_MB, hog_mb: int = HOG_MB) -> str:
    """Run a shell that grabs hog_mb of memory in a container capped at cap_mb.

    Defined in notebook 04 § Step inside
    """
    with kind_class(Limits(memory_mb=cap_mb)) as capped:
        try:
            result = capped.run_script(f"x=$(yes | head -c {hog_mb * 1_000_000}); "
                                       "echo \"survived holding ${#x} bytes\"")
        except LimitExceeded as exc:
            return f"stopped: {exc}"
    return f"not stopped: {result.stdout.strip()}"


def start_samples(kind: str, calls: int, warmup: int = 3) -> list[float]:
    """Milliseconds for each of `calls` cold calls (a fresh sandbox each), after warm-up.

    Defined in notebook 04 § How long does a fresh container take?
    """
    with open_sandbox(kind) as box:
        return time_calls(box.run_standard, calls, warmup).ms.round(4).tolist()


def measure(names: Iterable[str], calls: int, counts: Iterable[int]) -> dict:
    """Start samples for every kind that runs here, density curves for the containers.

    Defined in notebook 04 § How long does a fresh container take?
    """
    counts = list(counts)
    found = {kind: availability(kind) for kind in names}
    containers = kinds("container")  # the others are there for comparison
    samples, curves = {}, {}
    for kind, avail in found.items():
        if not avail.available:
            continue
        samples[kind] = start_samples(kind, calls)
        if kind in containers:
            with open_sandbox(kind) as box:
                curves[kind] = box.density_curve(counts)
    return {"samples_ms": samples, "density": curves,
            "missing": {k: a.reason for k, a in found.items() if not a.available}}


# What notebook 04's recording holds, as results.py names recordings.
HOLDS = "containers-04"


def record(path: Path = RECORDING, calls: int = 100, counts=(1, 10, 30, 100)) -> Path:
    """Run the whole notebook's measurements once and save them with this machine's facts.

    Defined in notebook 04 § Can this machine start containers?
    """
    with open_sandbox("runc") as box:
        tour = take_tour(box)
        versions = box.versions()
    data = measure(["runc", "crun", "process"], calls, counts)
    return results.save_recording(HOLDS, {"versions": versions, "tour": tour, **data}, path)


def load(path: Path = RECORDING) -> dict:
    """The recording, marked as such.

    Defined in notebook 04 § Can this machine start containers?
    """
    recording = results.load_recording(path, HOLDS)
    return {**recording.data, "machine": recording.machine,
            "source": f"recorded {recording.saved} ({recording.file})"}


def describe_machine(machine: dict) -> str:
    """One line naming the machine a recording came from.

    Defined in notebook 04 § Can this machine start containers?
    """
    return (f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, "
            f"{machine.get('memory_gb', '?')} GB, {machine.get('distro') or machine.get('os')}")


def start_latency_histogram(samples_ms: Mapping[str, Sequence[float]],
                            title: str = "Start latency of fresh containers") -> go.Figure:
    """Notebook 03's histogram, worded for containers: one axis for microseconds to seconds.

    Defined in notebook 04 § How long does a fresh container take?
    """
    return isolates.start_latency_histogram(samples_ms, title, noun="container",
                                            teardown="delete")


def density_figure(curves: Mapping[str, Sequence[Mapping]],
                   title: str = "Memory as live containers pile up") -> go.Figure:
    """Two panels per label: total MB added and KB per live instance, against N (log-log).

    Defined in notebook 04 § How much memory does a live container use?
    """
    fig = isolates.density_panels(curves, title,
                                  ("memory added (MB, PSS + cgroup kernel memory)",
                                   "memory per live container (KB)"), "live containers N")
    fig.update_yaxes(type="log")
    return fig
