"""What the test files share: one poller, and one check that nothing labkit starts is left.

The leak check takes stock of everything a sandbox could leave behind, before a test and
after it: this process's child processes, processes and containers named after it (in each
OCI runtime's state folder, and in Podman's or Docker's list where they run), cgroups in
every mounted hierarchy (cgroup v1, hybrid or v2), mounts, temporary folders and labkit's
threads. Anything new afterwards fails the test, once teardown the kernel finishes late
(cgroup removal, a monitor exiting) has had a few seconds. A check that could not look
where something can leak fails too: a blind check must never pass as a clean one.

Only what this pytest process made counts (names carry its pid; a workerd run folder
records its owner), so other labs or test runs on the same machine do not disturb it.
"""

from __future__ import annotations

import collections
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from labkit.errors import Unavailable
from labkit.sandboxes import _owned, kinds, sandbox_class

# How long teardown the kernel finishes after a test may take before it counts as a leak.
SETTLE_SECONDS = 10.0
# Where every scan must have looked, on any machine: one it could not look at is blind.
MUST_LOOK = ("processes", "temp folders", "threads", "mounts")


def eventually(condition: Callable[[], object], within: float = 10.0,
               every: float = 0.05) -> bool:
    """Poll `condition` until it is true or `within` seconds have passed; the last answer.

    The one way tests wait for something asynchronous (a process to end, a cgroup to go):
    as short as the machine allows, never a fixed sleep that is too long or too short.
    """
    deadline = time.monotonic() + within
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return bool(condition())
        time.sleep(every)


def notebook_texts(cell) -> list[str]:
    """What nbval compares in a notebook cell: its text outputs in order, each stream's
    chunks joined (a kernel may split one print across several messages)."""
    out, last_stream = [], None
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            if last_stream == output.get("name"):
                out[-1] += output["text"]
            else:
                out.append(output["text"])
            last_stream = output.get("name")
            continue
        last_stream = None
        if "text/plain" in output.get("data", {}):
            out.append(output["data"]["text/plain"])
    return out


def process_gone(pid: int) -> bool:
    """True once no live process has that pid (a zombie has ended: only reaping is left)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# --- what a sandbox could leave behind ------------------------------------------------
@dataclass
class Stock:
    """Names of what exists now, by category; where the scan looked; what it could not see."""

    found: dict[str, set[str]] = field(default_factory=dict)
    looked: collections.Counter = field(default_factory=collections.Counter)
    blind: list[str] = field(default_factory=list)

    def new_since(self, before: Stock) -> dict[str, list[str]]:
        """What is here now and was not before, by category (empty when nothing leaked)."""
        return {what: sorted(names - before.found.get(what, set()))
                for what, names in self.found.items() if names - before.found.get(what, set())}


def own_marks(pid: int | None = None) -> tuple[str, ...]:
    """Substrings of the names labkit gives what this process makes (containers, bundles)."""
    pid = os.getpid() if pid is None else pid
    return f"{_owned.PREFIX}{pid}-", f"{_owned.BUNDLE_PREFIX}{pid}-"


def _numbered(names) -> set[str]:
    """Names counted, as a set: two `sleep`s are {'sleep #1', 'sleep #2'}.

    Processes and folders that are replaced during a test (a restarted workerd) keep their
    count; only more of them than before is a leak.
    """
    counts = collections.Counter(names)
    return {f"{name} #{i}" for name, count in counts.items() for i in range(1, count + 1)}


def cgroup_hierarchies(mountinfo: str) -> list[Path]:
    """Mount points of every cgroup (v1) and cgroup2 hierarchy in /proc/self/mountinfo text."""
    found = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        fstype = line.split(" - ", 1)[1].split()[0]
        if fstype in ("cgroup", "cgroup2"):
            found.append(Path(fields[4].replace("\\040", " ")))
    return found


def scan_cgroups(stock: Stock, mountinfo: str, marks: tuple[str, ...]) -> None:
    """Every cgroup whose name carries one of our marks, in every mounted hierarchy."""
    for top in cgroup_hierarchies(mountinfo):
        if not top.is_dir():
            continue
        stock.looked["cgroup hierarchies"] += 1
        # os.walk, not rglob: a cgroup the kernel removes right now may vanish mid-scan,
        # and os.walk skips what it can no longer read.
        stock.found["cgroups"] |= {os.path.join(path, d) for path, dirs, _ in os.walk(top)
                                   for d in dirs if any(m in d for m in marks)}


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _processes(stock: Stock, marks: tuple[str, ...]) -> None:
    """Our live child processes (by name, counted), and live processes whose cgroup or
    command line carries our mark (container inits, their monitors: not our children, so
    only their names tie them to us). One pass over /proc: it runs twice per test."""
    byte_marks = tuple(m.encode() for m in marks)
    children, names, named = collections.defaultdict(list), {}, set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            comm, rest = _read(f"/proc/{entry}/stat").rsplit(b")", 1)
            state, ppid = rest.split()[:2]
            if state == b"Z":  # ended; only its parent's reaping is pending
                continue
            text = _read(f"/proc/{entry}/cgroup") + _read(f"/proc/{entry}/cmdline")
        except (OSError, ValueError):
            continue  # gone mid-scan
        pid = int(entry)
        names[pid] = comm.split(b"(", 1)[1].decode("utf-8", "replace")
        children[int(ppid)].append(pid)
        stock.looked["processes"] += 1
        if any(m in text for m in byte_marks):
            named.add(f"{names[pid]} (pid {pid})")
    ours, todo = [], list(children[os.getpid()])
    while todo:
        pid = todo.pop()
        ours.append(names[pid])
        todo.extend(children[pid])
    stock.found["child processes"] = _numbered(ours)
    stock.found["processes named after us"] = named


def _subfolders(folder: str) -> list[str]:
    """Folders inside `folder`; none if it vanished or is not ours to read (other labs
    on this machine create and remove theirs while we look)."""
    try:
        with os.scandir(folder) as entries:
            return [e.path for e in entries if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def _owner_of(run_folder: str) -> int | None:
    """The owner pid a run folder's pidfile records (workerd's server.json), if any."""
    try:
        names = [n for n in os.listdir(run_folder) if n.endswith(".json")]
        for name in names:
            with open(os.path.join(run_folder, name)) as f:
                record = json.load(f)
            if isinstance(record, dict) and "owner_pid" in record:
                return record["owner_pid"]
    except (OSError, ValueError):
        pass
    return None


def _run_folders(private: str, pid: int, shown_as: str) -> list[str]:
    """Run folders under a private state folder (<runtime>/<run folder>/*.json) whose
    pidfile names `pid` as owner, as workerd's do."""
    return [f"{shown_as}/{os.path.basename(runtime)}/ run folder"
            for runtime in _subfolders(private) for run_folder in _subfolders(runtime)
            if _owner_of(run_folder) == pid]


def _temp_folders(stock: Stock, pid: int, marks: tuple[str, ...]) -> None:
    """Bundle folders named after us, and run folders whose pidfile names us as owner,
    in both places labkit keeps private state: <tmp>/labkit-<uid>/ and, where the
    user has one, $XDG_RUNTIME_DIR/labkit/."""
    tmp = tempfile.gettempdir()
    try:
        entries = [e for e in os.listdir(tmp) if e.startswith("labkit")]
    except OSError as exc:
        stock.blind.append(f"cannot list {tmp}: {exc}")
        return
    stock.looked["temp folders"] += 1
    names = []
    for entry in entries:
        if any(m in entry for m in marks):
            names.append(entry.split(str(pid), 1)[0] + f"{pid}-*")
        elif not entry.startswith(_owned.BUNDLE_PREFIX):  # another process's bundle: not ours
            names += _run_folders(os.path.join(tmp, entry), pid, entry)
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime_dir and os.path.isdir(os.path.join(runtime_dir, "labkit")):
        names += _run_folders(os.path.join(runtime_dir, "labkit"), pid, "$XDG_RUNTIME_DIR/labkit")
        stock.looked["temp folders"] += 1
    stock.found["temp folders"] = _numbered(names)


def _threads(stock: Stock) -> None:
    stock.looked["threads"] += 1
    stock.found["threads"] = _numbered(t.name for t in threading.enumerate()
                                       if t.name.startswith("labkit"))


def _mounts(stock: Stock, mountinfo: str, marks: tuple[str, ...]) -> None:
    stock.looked["mounts"] += 1
    stock.found["mounts"] = {line for line in mountinfo.splitlines()
                             if any(m in line for m in marks)}


@dataclass(frozen=True)
class ContainerPlaces:
    """Where containers of the kinds that run here are listed: state folders, managers."""

    state_roots: dict[str, str]
    managers: dict[str, type]


def container_places() -> ContainerPlaces:
    """Each available container kind's listing, found from the registry (no fixed list)."""
    roots, managers = {}, {}
    for kind in kinds("container"):
        try:
            cls = sandbox_class(kind)
        except Unavailable:
            continue
        if cls.check().available:
            root = getattr(cls, "state_root", None)  # OCI runtimes keep one; managers list
            if root:
                roots[kind] = root
            else:
                managers[kind] = cls
    for kind in kinds("user-space kernel"):  # gVisor keeps its state in a private --root
        try:
            cls = sandbox_class(kind)
        except Unavailable:
            continue
        if hasattr(cls, "state_folder") and cls.check().available:
            roots[kind] = str(cls.state_folder())
    return ContainerPlaces(roots, managers)


def _containers(stock: Stock, places: ContainerPlaces, marks: tuple[str, ...],
                managers: bool) -> None:
    names = set()
    for kind, root in places.state_roots.items():
        try:
            names |= {f"{kind}: {p.name}" for p in Path(root).iterdir()
                      if any(m in p.name for m in marks)}
        except FileNotFoundError:
            pass  # this runtime has not run a container since boot: none to list
        except OSError as exc:
            stock.blind.append(f"{kind} runs here but its state folder cannot be read: {exc}")
            continue
        stock.looked["container state folders"] += 1
    if managers:
        for kind, cls in places.managers.items():
            names |= {f"{kind}: {name}" for name in cls().list_containers()
                      if any(m in name for m in marks)}
            stock.looked["container managers"] += 1
    stock.found["containers"] = names


def take_stock(places: ContainerPlaces | None = None, managers: bool = False,
               pid: int | None = None, mountinfo: str | None = None) -> Stock:
    """Everything of this process's that could leak, right now.

    `managers` also asks Podman/Docker for their lists (slow: a command each); without it
    their running containers are still seen, through their processes.
    """
    pid = os.getpid() if pid is None else pid
    marks = own_marks(pid)
    places = places if places is not None else container_places()
    stock = Stock()
    try:
        mountinfo = Path("/proc/self/mountinfo").read_text() if mountinfo is None else mountinfo
    except OSError as exc:
        stock.blind.append(f"cannot read /proc/self/mountinfo: {exc}")
        mountinfo = ""
    stock.found["cgroups"] = set()
    scan_cgroups(stock, mountinfo, marks)
    if not stock.looked["cgroup hierarchies"] and (places.state_roots or places.managers):
        stock.blind.append("containers run here but no cgroup hierarchy is mounted to check")
    _processes(stock, marks)
    _containers(stock, places, marks, managers)
    _temp_folders(stock, pid, marks)
    _threads(stock)
    _mounts(stock, mountinfo, marks)
    if not sum(stock.looked.values()):
        stock.blind.append("the leak scan looked nowhere at all")
    unseen = [what for what in MUST_LOOK if not stock.looked[what]]
    if unseen:
        stock.blind.append(f"the leak scan could not look at any {', '.join(unseen)}")
    return stock


def more_than_fit(box) -> int:
    """A count the box must refuse, clear of the limit: a kind whose limit is read from the
    machine now (wasm: memory mappings in use) may find room for a few more by the time it
    checks again, as threads other tests started end."""
    limit = box.max_live()
    return limit + max(1, limit // 10)


def assert_nothing_new(before: Stock, places: ContainerPlaces, managers: bool = False,
                       settle: float = SETTLE_SECONDS) -> None:
    """Fail if anything appeared since `before` and is still there `settle` seconds on."""
    after = take_stock(places, managers)
    if after.new_since(before):
        eventually(lambda: not take_stock(places, managers).new_since(before),
                   within=settle, every=0.2)
        after = take_stock(places, managers)
    assert not after.blind, f"the leak check could not look everywhere: {after.blind}"
    assert not after.new_since(before), f"left behind: {after.new_since(before)}"


@pytest.fixture(scope="session")
def places() -> ContainerPlaces:
    """Where containers are listed on this machine, found once per test run."""
    return container_places()


@pytest.fixture(scope="module")
def no_containers_left_in_managers(places):
    """Podman's and Docker's lists, checked once per test file (each listing is a command)."""
    if not places.managers:
        yield
        return
    before = take_stock(places, managers=True)
    yield
    assert_nothing_new(before, places, managers=True)


@pytest.fixture
def nothing_left_behind(places, no_containers_left_in_managers):
    """Fails the test if it left a process, container, cgroup, mount, folder or thread."""
    before = take_stock(places)
    assert not before.blind, f"the leak check could not look everywhere: {before.blind}"
    yield before
    assert_nothing_new(before, places)
