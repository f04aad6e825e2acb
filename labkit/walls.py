"""What each wall stops, measured: a battery of probes run in a fresh guest of every kind.

Each probe is a small program, written once per guest language (a busybox shell script, a
WASI module, a JavaScript module), that tries to reach one part of the host: read a host
file, write outside its root, connect to the host's loopback, see the host's processes or
kernel version, create a user namespace, load a kernel module, open a host device, make
system calls that nothing filters. The host sets out the bait first (a file holding a random
token, a folder to write into, a listener on 127.0.0.1) and judges each verdict by what it
can check itself (did the token come back? did the file appear? did the listener get a
connection?), never by the guest's word alone. Every verdict carries its evidence: what
the guest printed, or the error that stopped it.

Verdicts: "allowed" (the guest reached it), "blocked" (it did not), "not applicable" (this
host itself offers no such thing, e.g. a kernel built without modules), "not probed" (the
kind runs no guest program of ours, or the guest lacks the tool; the reason says which).

Probes reach a kind only through the sandbox protocol: `run_script` for kinds whose
capabilities have `scripts` (the shell probes), WASI programs for kinds whose guest
language is "wat" (with no pre-opened folders and no sockets, a module that asks for a
door the host does not have cannot even be instantiated, and that refusal is the evidence),
`call_export` for JavaScript. A plain process (family "process") runs no reader code, so
its shell probes run as a plain process started the way that kind starts its guest: its
shell and its rlimits. Nothing here names a kind: kinds of the new families are probed the
moment the registry lists them.

`probe_table(kinds)` runs the battery; `record()` saves it with the machine it ran on
(data/recorded/walls-*.json); `load()` reads the newest recording back.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from . import paths
from .errors import LabkitError, LimitExceeded
from .measure import machine_info
from .sandboxes import _owned, availability, open_sandbox, parse_kinds, sandbox_class
from .sandboxes.base import FAMILIES, Limits, Sandbox

ALLOWED, BLOCKED, NOT_APPLICABLE, NOT_PROBED = "allowed", "blocked", "not applicable", "not probed"
VERDICTS = (BLOCKED, ALLOWED, NOT_APPLICABLE, NOT_PROBED)
RECORDING_GLOB = "walls-*.json"
# Longest evidence kept per verdict: enough to read the error, never a flood.
EVIDENCE_CHARS = 300
# How long a guest's connection attempt may wait (a dropped packet must not hang a probe).
CONNECT_SECONDS = 2


@dataclass(frozen=True)
class Probe:
    """One thing a guest might reach on the host, and what "allowed" means for it."""

    name: str
    question: str
    allowed_means: str


PROBES = (
    Probe("host file", "read a file of the host's",
          "the guest printed the random token the host wrote into a file in its own /tmp"),
    Probe("write outside", "write a file outside its root",
          "a file the guest wrote appeared in the host's folder"),
    Probe("host loopback", "connect to a server on the host's 127.0.0.1",
          "the host's listener accepted a connection"),
    Probe("host processes", "see the host's processes",
          "the guest read the command line of the host process that runs the battery"),
    Probe("host kernel", "see the host's kernel version",
          "the guest's `uname -r` is the host's"),
    Probe("user namespace", "create a user namespace",
          "`unshare -U` succeeded inside the guest"),
    Probe("kernel module", "ask the kernel to load a module",
          "the kernel examined the (bogus) module image instead of refusing the request"),
    Probe("host devices", "open a host device (disk, /dev/kmsg, /dev/mem, /dev/kvm)",
          "one of them opened"),
    Probe("raw syscalls", "make system calls straight to the host kernel, unfiltered",
          "Seccomp 0, no tracer, and the guest's kernel is the host's"),
)
PROBE_NAMES = tuple(probe.name for probe in PROBES)
# Devices whose opening means reach into the host's kernel or hardware.
HOST_DEVICES = ("/dev/mem", "/dev/kmem", "/dev/port", "/dev/kmsg", "/dev/kvm", "/dev/sda",
                "/dev/vda", "/dev/nvme0n1", "/dev/xvda")


@dataclass(frozen=True)
class ProbeResult:
    """One verdict: kind x probe, with the evidence and the door the probe went through."""

    kind: str
    probe: str
    verdict: str
    evidence: str
    via: str

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, "
                             f"got {self.verdict!r}")
        if self.probe not in PROBE_NAMES:
            raise ValueError(f"unknown probe {self.probe!r}; valid ones are: "
                             f"{', '.join(PROBE_NAMES)}")

    def to_dict(self) -> dict:
        return asdict(self)


def _words(text: str) -> str:
    return " ".join(str(text).split())


def _short(text: str, limit: int = EVIDENCE_CHARS) -> str:
    text = " | ".join(line.strip() for line in str(text).splitlines() if line.strip())
    return text if len(text) <= limit else text[:limit - 3] + "..."


# --- the host's side: bait and facts ------------------------------------------------------


class HostBait:
    """What the host sets out before a battery, and checks after each probe.

    A private folder holding a file with a random token (readable by anyone: the guest's
    user may differ), a path in that folder for the guest to try to write, and a TCP
    listener on 127.0.0.1 (a free port) that counts connections and answers each with the
    token in an HTTP reply. Closing it stops the listener and removes the folder.
    """

    def __init__(self):
        self.token = "labkit-walls-" + secrets.token_hex(8)
        # Named after this process, so the leak check (and a reader) can tell whose it is.
        self.folder = Path(tempfile.mkdtemp(prefix=f"{_owned.PREFIX}{_owned.owner_tag()}-walls-"))
        os.chmod(self.folder, 0o777)  # so a guest running as another user could write here
        self.secret = self.folder / "secret.txt"
        self.secret.write_text(self.token + "\n")
        os.chmod(self.secret, 0o644)
        self.target = self.folder / "written-by-guest.txt"
        self.pid = os.getpid()
        self.cmdline = " ".join(psutil.Process().cmdline())
        self.kernel = platform.release()
        self._connections = 0
        self._lock = threading.Lock()
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="labkit-walls-listener",
                                        daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        body = self.token.encode()
        reply = b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                self._connections += 1
            with conn, contextlib.suppress(OSError):
                conn.settimeout(0.5)
                with contextlib.suppress(OSError):
                    conn.recv(4096)  # the request, if the client sends one
                conn.sendall(reply)

    @property
    def connections(self) -> int:
        with self._lock:
            return self._connections

    @property
    def listening(self) -> bool:
        return self._thread.is_alive()

    def written(self) -> bool:
        """True if a guest's write reached the host folder (and removes it for the next)."""
        found = self.target.exists()
        with contextlib.suppress(FileNotFoundError):
            self.target.unlink()
        return found

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False


def host_facts() -> dict:
    """What this host itself offers, so a probe of a thing the host lacks reads "n/a"."""
    try:
        userns = int(Path("/proc/sys/user/max_user_namespaces").read_text())
    except (OSError, ValueError):
        userns = -1
    modules_disabled = Path("/proc/sys/kernel/modules_disabled")
    return {
        "kernel": platform.release(),
        # Without /proc/modules the kernel was built without loadable modules.
        "modules": Path("/proc/modules").exists() and not (
            modules_disabled.exists() and modules_disabled.read_text().strip() == "1"),
        "user_namespaces": userns,
        "root": os.geteuid() == 0,
    }


# --- the guest programs ------------------------------------------------------------------

# Every shell probe starts with this: `run TOOL ARGS` uses the tool if the guest has it,
# else busybox's applet of that name, else says the tool is missing (exit 127).
_SH_PRELUDE = """\
run() { if command -v "$1" >/dev/null 2>&1; then "$@";
  elif command -v busybox >/dev/null 2>&1; then busybox "$@";
  else echo "no $1 in this guest"; return 127; fi; }
"""
# Which kernel answered: a namespace, a module or a device of the guest's OWN kernel (gVisor's
# Sentry, a micro-VM's kernel) is not the host's, so reaching it is not reaching the host.
_KERNEL_LINE = 'echo "uname -r: $(run uname -r 2>&1)"'
SHELL_PROBES = {
    "host file": 'run cat "$1" 2>&1; echo "exit $?"',
    "write outside": '( echo "$2" > "$1" ) 2>&1; echo "exit $?"',
    # busybox's nc (its wget crashes on a refused connection in Debian 12's static build).
    "host loopback": f'run nc -w {CONNECT_SECONDS} 127.0.0.1 "$1" </dev/null 2>&1; echo "exit $?"',
    "host processes": (
        'n=0; for d in /proc/[0-9]*; do [ -d "$d" ] && n=$((n+1)); done; '
        'echo "processes visible: $n"; '
        'if [ -r "/proc/$1/cmdline" ]; then echo "pid $1: $(run tr "\\000" " " '
        '< /proc/$1/cmdline)"; else echo "pid $1: not visible"; fi'),
    "host kernel": _KERNEL_LINE,
    "user namespace": 'run unshare -U true 2>&1 && echo "userns created"; echo "exit $?"; '
                      + _KERNEL_LINE,
    # /bin/sh is an ELF program, not a module: a kernel that accepts the request rejects the
    # image ("invalid module format"), so nothing can ever load; a refused request is EPERM.
    "kernel module": ('for bin in /bin/busybox /usr/bin/busybox /bin/sh; do '
                      '[ -f "$bin" ] && break; done; run insmod "$bin" 2>&1; echo "exit $?"; '
                      + _KERNEL_LINE),
    "host devices": (
        f'for d in {" ".join(HOST_DEVICES)}; do [ -e "$d" ] || continue; '
        'if ( : < "$d" ) 2>/dev/null; then echo "opened $d"; else echo "refused $d"; fi; '
        'done; echo "devices in /dev: $(ls /dev 2>/dev/null | wc -l)"; ' + _KERNEL_LINE),
    "raw syscalls": (
        'grep -E "^(Seccomp|TracerPid):" /proc/self/status 2>&1 || '
        'echo "no /proc/self/status"; ' + _KERNEL_LINE),
}


def _shell_args(probe: str, bait: HostBait) -> list[str]:
    return {"host file": [str(bait.secret)],
            "write outside": [str(bait.target), bait.token],
            "host loopback": [str(bait.port)],
            "host processes": [str(bait.pid)]}.get(probe, [])


def _wat_string(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "/-_.:" else f"\\{ord(ch):02x}"
                   for ch in text.encode().decode("latin-1"))


# A WASI module that tries path_open(dirfd 3, path) and exits with its errno (0 = opened).
# fd 3 would be the first pre-opened folder; labkit pre-opens none.
_WASI_OPEN = """(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "{path}")
  (func (export "_start")
    (call $exit (call $open (i32.const 3) (i32.const 1) (i32.const 64) (i32.const {length})
                            (i32.const {oflags}) (i64.const {rights}) (i64.const 0)
                            (i32.const 0) (i32.const 8)))))"""
# A WASI module that asks the host for a function; it runs only if the host provides it.
_WASI_IMPORT = """(module
  (import "{module}" "{name}" (func (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")))"""
WASI_ERRNO = {0: "success", 2: "EACCES", 8: "EBADF (no such pre-opened folder)",
              44: "ENOENT", 63: "EPERM", 76: "ENOTCAPABLE"}
_O_CREAT, _RIGHT_READ, _RIGHT_WRITE = 1, 2, 64


def _wasi_probes(bait: HostBait) -> dict[str, tuple[str, str]]:
    """probe -> (what the module tries, WAT text)."""
    def opener(path: str, write: bool = False) -> tuple[str, str]:
        text = _WASI_OPEN.format(path=_wat_string(path), length=len(path.encode()),
                                 oflags=_O_CREAT if write else 0,
                                 rights=_RIGHT_WRITE if write else _RIGHT_READ)
        return f"path_open({path!r}{', create' if write else ''})", text

    def importer(module: str, name: str) -> tuple[str, str]:
        return f"import {module}.{name}", _WASI_IMPORT.format(module=module, name=name)

    return {
        "host file": opener(str(bait.secret)),
        "write outside": opener(str(bait.target), write=True),
        # WASI preview 1 can only accept on a socket the host hands over; there is no
        # connect, so a module asking for one cannot be instantiated.
        "host loopback": importer("wasi_snapshot_preview1", "sock_connect"),
        "host processes": opener(f"/proc/{bait.pid}/cmdline"),
        "host kernel": opener("/proc/sys/kernel/osrelease"),
        "user namespace": importer("env", "unshare"),
        "kernel module": importer("env", "init_module"),
        "host devices": opener("/dev/kmsg"),
        "raw syscalls": importer("env", "syscall"),
    }


# JavaScript: one ES module, one exported async function per probe. workerd gives a guest
# no file system, no processes and no network (globalOutbound null); each probe tries the
# door a Node.js program would use and reports what stopped it.
_JS_PROBES = r"""
async function attempt(what, work) {
  try { return what + " -> " + String(await work()); }
  catch (e) {
    return what + " refused: " + (e && e.name ? e.name + ": " : "") + (e && e.message || e);
  }
}
const fsRead = (p) => import("node:fs").then((fs) => fs.readFileSync(p, "utf8"));
export async function hostFile(path) {
  return [await attempt("import node:fs", () => fsRead(path)),
          await attempt("fetch file://", async () => (await fetch("file://" + path)).text())
         ].join("; ");
}
export async function writeOutside(path, token) {
  return attempt("import node:fs", () => import("node:fs").then((fs) => {
    fs.writeFileSync(path, token); return "wrote " + path; }));
}
export async function hostLoopback(port) {
  return attempt("fetch 127.0.0.1:" + port,
                 async () => (await fetch("http://127.0.0.1:" + port + "/")).text());
}
export async function hostProcesses(pid) {
  return [await attempt("typeof process", () => typeof process),
          await attempt("import node:child_process",
                        () => import("node:child_process").then((cp) => typeof cp.execSync)),
          await attempt("read /proc/" + pid + "/cmdline", () => fsRead("/proc/" + pid + "/cmdline"))
         ].join("; ");
}
export async function hostKernel() {
  return [await attempt("import node:os", () => import("node:os").then((os) => os.release())),
          await attempt("navigator.userAgent", () => globalThis.navigator && navigator.userAgent)
         ].join("; ");
}
export async function userNamespace() {
  return attempt("import node:child_process", () => import("node:child_process").then(
    (cp) => cp.execSync("unshare -U true && echo userns created").toString()));
}
export async function kernelModule() {
  return attempt("import node:child_process", () => import("node:child_process").then(
    (cp) => cp.execSync("insmod /bin/sh 2>&1; echo exit $?").toString()));
}
export async function hostDevices() {
  return attempt("read /dev/kmsg", () => fsRead("/dev/kmsg"));
}
export async function rawSyscalls() {
  return [await attempt("typeof require", () => typeof require),
          await attempt("typeof process", () => typeof process),
          await attempt("typeof Deno", () => typeof Deno)].join("; ");
}
"""
_JS_EXPORTS = {"host file": "hostFile", "write outside": "writeOutside",
               "host loopback": "hostLoopback", "host processes": "hostProcesses",
               "host kernel": "hostKernel", "user namespace": "userNamespace",
               "kernel module": "kernelModule", "host devices": "hostDevices",
               "raw syscalls": "rawSyscalls"}


def _js_args(probe: str, bait: HostBait) -> list:
    return {"host file": [str(bait.secret)], "write outside": [str(bait.target), bait.token],
            "host loopback": [bait.port], "host processes": [bait.pid]}.get(probe, [])


# --- running a probe in one kind -----------------------------------------------------------


def door(box_or_class) -> str | None:
    """How the battery reaches a kind's guest, from its capabilities; None if it cannot."""
    caps = box_or_class.capabilities
    if caps.scripts and "sh" in caps.guest_languages:
        return "run_script"
    if "wat" in caps.guest_languages and hasattr(box_or_class, "run_wasi"):
        return "run_wasi"
    if caps.exports and "javascript" in caps.guest_languages:
        return "call_export"
    if caps.family == "process":
        return "plain process"
    return None


def _no_door_reason(cls) -> str:
    caps = cls.capabilities
    return (f"{cls.kind} runs only labkit's own workload: no run_script, no WASI, no "
            f"JavaScript exports (guest languages: {', '.join(caps.guest_languages) or 'none'})")


def _plain_process(script: str, args: list[str], limits: Limits) -> tuple[str, int]:
    """A shell probe as a plain process, started as the process kind starts its guest:
    busybox sh (or /bin/sh) in its own session, with its CPU and address-space rlimits."""
    from .sandboxes.process import shell_command
    cpu, memory = limits.cpu_rlimit, int(limits.memory_mb * 2**20)

    def caps():
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    proc = subprocess.Popen([*shell_command(), "-c", script, "probe", *args],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, preexec_fn=caps,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=limits.backstop_seconds(5))
    except subprocess.TimeoutExpired:
        out = f"(stopped after {limits.backstop_seconds(5):g} s)"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    return out, proc.returncode


def _run_shell(box: Sandbox | None, how: str, probe: str, bait: HostBait,
               limits: Limits) -> str:
    script = _SH_PRELUDE + SHELL_PROBES[probe]
    args = _shell_args(probe, bait)
    if how == "plain process":
        out, _ = _plain_process(script, args, limits)
        return out
    result = box.run_script(script, *args)
    return result.stdout + result.stderr


def _judge_shell(probe: str, out: str, bait: HostBait, facts: dict) -> tuple[str, str]:
    """(verdict, evidence) from the guest's output and the host's own checks."""
    said = _short(out)
    if probe == "host file":
        return (ALLOWED if bait.token in out else BLOCKED), said
    if probe == "write outside":
        landed = bait.written()
        return (ALLOWED if landed else BLOCKED), \
            f"{said}; host: the file {'appeared' if landed else 'never appeared'}"
    if probe == "host processes":
        # The host's command line, as the guest printed it (NULs read as spaces).
        mine = f"pid {bait.pid}: {_words(bait.cmdline)[:120]}" in _words(out)
        return (ALLOWED if mine else BLOCKED), said
    if probe in ("host kernel", "raw syscalls"):
        guest = re.search(r"uname -r: (\S+)", out)
        same = bool(guest) and guest.group(1) == bait.kernel
        if probe == "host kernel":
            return (ALLOWED if same else BLOCKED), f"{said}; host: {bait.kernel}"
        seccomp = re.search(r"Seccomp:\s*(\d+)", out)
        tracer = re.search(r"TracerPid:\s*(\d+)", out)
        unfiltered = bool(seccomp and tracer) and seccomp.group(1) == "0" and \
            tracer.group(1) == "0"
        return (ALLOWED if unfiltered and same else BLOCKED), f"{said}; host: {bait.kernel}"
    if "no " in out and "in this guest" in out:
        return NOT_PROBED, said
    verdict, evidence = _judge_kernel_door(probe, out, said, facts)
    guest = re.search(r"uname -r: (\S+)", out)
    if verdict == ALLOWED and guest and guest.group(1) != bait.kernel:
        return BLOCKED, _short(f"{evidence}; reached the guest's own kernel "
                               f"({guest.group(1)}), not the host's ({bait.kernel})")
    return verdict, evidence


def _judge_kernel_door(probe: str, out: str, said: str, facts: dict) -> tuple[str, str]:
    """A door into a kernel (user namespaces, modules, devices), judged from the output."""
    if probe == "user namespace":
        if facts["user_namespaces"] == 0:
            return NOT_APPLICABLE, f"{said}; host: user.max_user_namespaces is 0"
        return (ALLOWED if "userns created" in out else BLOCKED), said
    if probe == "kernel module":
        refused = any(word in out.lower() for word in
                      ("not permitted", "operation not", "does not support", "not implemented"))
        if not facts["modules"]:
            return NOT_APPLICABLE, f"{said}; host: this kernel loads no modules " \
                                   "(no /proc/modules, or modules_disabled)"
        return (BLOCKED if refused else ALLOWED), said
    if probe == "host devices":
        return (ALLOWED if "opened /dev/" in out else BLOCKED), said
    raise ValueError(f"unknown probe {probe!r}")


def _run_wasi(box, probe: str, bait: HostBait) -> tuple[str, str]:
    what, wat = _wasi_probes(bait)[probe]
    try:
        run = box.run_wasi(wat)
    except (LabkitError, ValueError) as exc:  # refused at instantiation: the evidence
        return BLOCKED, _short(f"{what}: {exc}")
    if probe == "write outside":
        landed = bait.written()
        verdict = ALLOWED if landed or run.exit_code == 0 else BLOCKED
    else:
        verdict = ALLOWED if run.exit_code == 0 else BLOCKED
    reason = WASI_ERRNO.get(run.exit_code, f"errno {run.exit_code}")
    return verdict, _short(f"{what} -> exit {run.exit_code}: {reason}")


def _run_js(box, probe: str, bait: HostBait) -> tuple[str, str]:
    connections = bait.connections
    try:
        said = str(box.call_export(_JS_PROBES, _JS_EXPORTS[probe], *_js_args(probe, bait)))
    except LabkitError as exc:
        return BLOCKED, _short(str(exc))
    if probe == "host file":
        return (ALLOWED if bait.token in said else BLOCKED), _short(said)
    if probe == "write outside":
        return (ALLOWED if bait.written() else BLOCKED), _short(said)
    if probe == "host loopback":
        reached = bait.connections > connections
        return (ALLOWED if reached else BLOCKED), _short(
            f"{said}; host: the listener got {'a connection' if reached else 'nothing'}")
    if probe == "host processes":
        return (ALLOWED if bait.cmdline.split()[0] in said else BLOCKED), _short(said)
    if probe == "host kernel":
        return (ALLOWED if bait.kernel in said else BLOCKED), _short(said)
    if probe in ("user namespace", "kernel module", "host devices"):
        # Nothing the host can check: the door itself (a module, a device) was refused.
        return (BLOCKED if " refused: " in said else ALLOWED), _short(said)
    return (BLOCKED if said.count("-> undefined") == 3 else ALLOWED), _short(said)


def run_probe(box: Sandbox | None, kind: str, how: str, probe: str, bait: HostBait,
              facts: dict, limits: Limits) -> ProbeResult:
    """One probe in one fresh guest of `box` (None for a plain process), judged by the host."""
    try:
        if how == "run_wasi":
            verdict, evidence = _run_wasi(box, probe, bait)
        elif how == "call_export":
            verdict, evidence = _run_js(box, probe, bait)
        else:
            connections = bait.connections
            out = _run_shell(box, how, probe, bait, limits)
            if probe == "host loopback":
                reached = bait.connections > connections
                verdict = ALLOWED if reached else BLOCKED
                evidence = _short(f"{_short(out, 200)}; host: the listener got "
                                  f"{'a connection' if reached else 'nothing'}")
            else:
                verdict, evidence = _judge_shell(probe, out, bait, facts)
    except LimitExceeded as exc:
        verdict, evidence = BLOCKED, _short(f"stopped at a cap: {exc}")
    bait.written()  # whatever a guest left in the host folder, gone before the next probe
    return ProbeResult(kind, probe, verdict, evidence or "(the guest printed nothing)", how)


def probe_kind(kind: str, bait: HostBait | None = None, limits: Limits | None = None,
               probes: Iterable[str] = PROBE_NAMES) -> list[ProbeResult]:
    """Every probe in a fresh guest of one kind; "not probed" rows (with the reason) for a
    kind that cannot run here or runs no guest program of ours."""
    (kind,) = parse_kinds([kind])
    probes = list(probes)
    unknown = [name for name in probes if name not in PROBE_NAMES]
    if unknown:
        raise ValueError(f"unknown probe {unknown[0]!r}; valid ones are: "
                         f"{', '.join(PROBE_NAMES)}")
    limits = limits or Limits()
    found = availability(kind, trial=False)
    if not found.available:
        return [ProbeResult(kind, name, NOT_PROBED, _short(f"not available here: "
                                                           f"{found.reason}"), "none")
                for name in probes]
    cls = sandbox_class(kind)
    how = door(cls)
    if how is None:
        return [ProbeResult(kind, name, NOT_PROBED, _no_door_reason(cls), "none")
                for name in probes]
    facts = host_facts()
    with contextlib.ExitStack() as stack:
        bait = bait or stack.enter_context(HostBait())
        box = None if how == "plain process" else stack.enter_context(
            open_sandbox(kind, limits))
        return [run_probe(box, kind, how, name, bait, facts, limits) for name in probes]


def probe_table(kinds: Iterable[str] | str | None = None) -> list[dict]:
    """The battery in every kind (default: every registered kind), one bait for all:
    a list of ProbeResult dicts, kind by kind in registry order.

    A kind that cannot open here (a missing runtime) gets "not probed" rows with the reason.
    """
    names = parse_kinds(kinds if kinds is None or isinstance(kinds, str) else list(kinds))
    rows = []
    with HostBait() as bait:
        for kind in names:
            try:
                results = probe_kind(kind, bait)
            except (LabkitError, OSError) as exc:  # a runtime that fails to open here
                results = [ProbeResult(kind, name, NOT_PROBED,
                                       _short(f"could not open: {exc}"), "none")
                           for name in PROBE_NAMES]
            rows += [result.to_dict() for result in results]
    return rows


WALLS_CSV = paths.DATA_DIR / "walls.csv"
WALLS_COLUMNS = ("family", "shares", "escape_class", "source", "url", "year", "quote")


def escape_classes(family: str | None = None) -> list[dict]:
    """data/walls.csv: what each family shares with the host and its known escape classes,
    each row with its source, URL, year and quote (one family's rows if given)."""
    with open(WALLS_CSV, newline="") as f:
        rows = list(csv.DictReader(f))
    if family is not None:
        if family not in FAMILIES:
            raise ValueError(f"unknown family {family!r}; valid ones are: {', '.join(FAMILIES)}")
        rows = [row for row in rows if row["family"] == family]
    return rows


def reach(rows: Iterable[dict]) -> dict[str, int]:
    """Allowed probes per kind: how much of the host a guest of that kind reached."""
    counts: dict[str, int] = {}
    for row in rows:
        counts.setdefault(row["kind"], 0)
        counts[row["kind"]] += row["verdict"] == ALLOWED
    return counts


def record(path: str | Path | None = None, kinds: Iterable[str] | None = None,
           extra: dict | None = None) -> Path:
    """Run the battery in every kind and save it with this machine's facts (and `extra`,
    e.g. a notebook's cost measurements of the same run).

    Default path: data/recorded/walls-<date>.json.
    """
    rows = probe_table(kinds)
    path = Path(path) if path else \
        paths.RECORDED_DIR / time.strftime("walls-%Y%m%d-%H%M%S.json")
    payload = {"format": 1, "recorded": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
               "machine": machine_info(), "host": host_facts(),
               "probes": [asdict(probe) for probe in PROBES], "rows": rows,
               "command": "python -c 'from labkit import walls; walls.record()'",
               **(extra or {})}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1) + "\n")
    return path


def load(path: str | Path | None = None) -> dict:
    """A recording (default: the newest data/recorded/walls-*.json), marked as recorded."""
    if path is None:
        found = sorted(paths.RECORDED_DIR.glob(RECORDING_GLOB))
        if not found:
            raise FileNotFoundError(f"no recorded probe table in {paths.RECORDED_DIR} "
                                    f"({RECORDING_GLOB}); make one with labkit.walls.record()")
        path = found[-1]
    payload = json.loads(Path(path).read_text())
    payload["source"] = f"recorded {payload['recorded']} ({Path(path).name})"
    return payload


__all__ = ["ALLOWED", "BLOCKED", "NOT_APPLICABLE", "NOT_PROBED", "PROBES",
           "PROBE_NAMES", "VERDICTS", "HostBait", "Probe", "ProbeResult", "door",
           "escape_classes", "host_facts", "load", "probe_kind", "probe_table", "reach",
           "record", "run_probe"]
