"""A micro-VM per guest: QEMU's `microvm` machine booting a Debian kernel and busybox.

The strongest wall in the lab: each guest gets its own kernel, and only a hypervisor is
shared with the host. Every cold call boots one VM (`-M microvm`, 96 MB or more of RAM,
no devices but a serial port), whose /init runs the guest script, prints the answer on the
serial console and powers off; the answer is read from the console, never from QEMU's exit
code (QEMU exits 0 even when the guest's kernel panics). Boot files come from
`python -m labkit setup microvm` (see _image.py).

KVM is used only when /dev/kvm opens AND a real trial boot succeeds within a few seconds;
otherwise QEMU emulates the CPU in software (TCG), which boots about ten times slower:
then versions() carries a loud `warning` that these boots are not comparable with KVM
boots. (On a machine whose /dev/kvm is itself nested without hardware support, such as a
cloud VM with kvm_pvm, the trial hangs and is cut off.) The verdict is kept per process;
LABKIT_MICROVM_ACCEL=tcg or =kvm skips the trial.

Caps: Limits.cpu_seconds is wall-clock time for the guest script once the VM has booted
(booting has its own generous bound); Limits.memory_mb is the VM's RAM (at least 96 MB,
which the kernel needs to boot: a smaller cap is raised to it) and, inside, the script's
address space (`ulimit -v`). Processes inside the VM are not capped. Every QEMU leads its
own process group, which is killed on a timeout, an error or an interrupt.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass

import psutil

from ...errors import (
    LIMIT_MEMORY,
    LIMIT_OUTPUT,
    LIMIT_TIME,
    GuestError,
    LabkitError,
    LimitExceeded,
    NotSupported,
)
from ...measure import Memory, processes_memory
from ...workload import STANDARD_N, check_n, expected, guest_source
from .. import _owned
from ..base import Availability, Capabilities, Limits, Sandbox, phase_split
from . import _image

QEMU = "qemu-system-x86_64"
QEMU_FIX = "sudo apt-get install -y --no-install-recommends qemu-system-x86"
# The Debian kernel does not decompress in less (and fails silently: QEMU exits 0).
MIN_RAM_MB = 96
# TCG's translation cache; QEMU's default would add about 30 MB more per VM.
TB_SIZE_MB = 32
# Without a fixed TSC frequency, about a quarter of emulated boots hang calibrating it.
KERNEL_ARGS = "console=ttyS0 quiet panic=-1 tsc_early_khz=2000000"
# How long a boot may take before the call fails as LimitExceeded("time"): generous,
# since emulated boots on a busy 2-core machine take several seconds each.
BOOT_SECONDS = {"kvm": 30.0, "tcg": 120.0}
# After the script ends, the time /init has to print its output.
REPORT_SECONDS = 30.0
# The KVM trial: a real boot must reach /init within this, or KVM is not used (a KVM boot
# takes well under a second; every process that opens the kind on a machine without
# working KVM pays this once).
KVM_TRIAL_SECONDS = 8.0
# Console output one VM may print (the kernel's and /init's) before it is stopped.
MAX_CONSOLE_BYTES = 1 << 20
# The kernel's command line holds 2048 bytes on x86, the script and its arguments included.
MAX_APPEND = 2000
# What a busybox shell says when `ulimit -v` refuses it memory; the guest kernel's OOM killer.
OUT_OF_MEMORY = ("out of memory", "cannot allocate memory")
OOM_KILLER = re.compile(r"Out of memory|oom-kill|Killed process")
EMULATED_WARNING = ("emulated: not comparable to KVM boots (QEMU TCG, software emulation; "
                    "a real KVM boot is roughly ten times faster)")
_serial = itertools.count(1)


@dataclass(frozen=True)
class VmRun:
    """What a script printed inside a fresh VM, and how it exited."""

    stdout: str
    stderr: str
    returncode: int
    console: str = ""


@dataclass(frozen=True)
class Accelerator:
    """QEMU's accelerator for this process's VMs, and why it was chosen."""

    name: str  # "kvm" or "tcg"
    reason: str


_verdict: Accelerator | None = None


def _qemu_version() -> str:
    try:
        out = subprocess.run([QEMU, "--version"], capture_output=True, text=True, timeout=10,
                             stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.splitlines()[0].removeprefix("QEMU emulator version ").strip() if out else "unknown"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _command(files: _image.BootFiles, accel: str, ram_mb: int, append: str, name: str) -> list:
    accel_arg = f"tcg,tb-size={TB_SIZE_MB}" if accel == "tcg" else "kvm"
    return [QEMU, "-name", name, "-M", "microvm", "-accel", accel_arg, "-m", str(ram_mb),
            "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio",
            "-kernel", str(files.kernel), "-initrd", str(files.initrd),
            "-append", append, "-no-reboot"]


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the VM's whole process group and reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=30)
    if proc.stdout:
        proc.stdout.close()


class _Console:
    """The serial console of one VM, read line by line with deadlines (never blocking)."""

    def __init__(self, proc: subprocess.Popen, kind: str):
        self.proc, self.kind = proc, kind
        self.lines: list[str] = []
        self._partial = b""
        self._size = 0
        os.set_blocking(proc.stdout.fileno(), False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(proc.stdout, selectors.EVENT_READ)

    def close(self) -> None:
        self._selector.close()

    def tail(self, count: int = 6) -> str:
        shown = [line for line in self.lines if line.strip()][-count:]
        return " | ".join(shown)[-600:] or "no output"

    def until(self, prefix: str, deadline: float) -> str | None:
        """Read until a line starting with `prefix`; that line, None at end of output, or
        TimeoutError past the deadline."""
        for line in self.lines:
            if line.startswith(prefix):
                return line
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            if not self._selector.select(timeout=min(left, 1.0)):
                continue
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                if self._partial:
                    self.lines.append(self._partial.decode("utf-8", "replace"))
                    self._partial = b""
                return None
            self._size += len(chunk)
            if self._size > MAX_CONSOLE_BYTES:
                raise LimitExceeded(self.kind, LIMIT_OUTPUT,
                                    f"more than {MAX_CONSOLE_BYTES:,} bytes on the console")
            *complete, self._partial = (self._partial + chunk).split(b"\n")
            found = None
            for raw in complete:
                line = raw.decode("utf-8", "replace").rstrip("\r")
                self.lines.append(line)
                if found is None and line.startswith(prefix):
                    found = line
            if found is not None:
                return found


class MicrovmSandbox(Sandbox):
    kind = "microvm"
    capabilities = Capabilities(
        family="micro-VM", cpu_cap="wall-clock",
        memory_cap=f"the VM's RAM (at least {MIN_RAM_MB} MB, which the kernel needs to boot) "
                   "and the script's address space inside it (ulimit -v)",
        guest_languages=("sh",), scripts=True)
    # About 160 MB and a few seconds per emulated VM: a handful says enough.
    live_counts = {"quick": 2, "full": 5}
    # Cold calls per bench size: an emulated boot takes seconds, so few (bench.py's
    # defaults would take minutes); the bench should say so in its output.
    bench_calls = {"quick": 3, "full": 30}

    def __init__(self, limits: Limits | None = None):
        super().__init__(limits)
        self._files: _image.BootFiles | None = None
        self._accel: Accelerator | None = None
        self._held: list[subprocess.Popen] = []

    # --- availability -------------------------------------------------------------------
    @classmethod
    def check(cls) -> Availability:
        if not shutil.which(QEMU):
            return Availability(cls.kind, False, f"QEMU is not installed (no {QEMU})",
                                QEMU_FIX + "  (as root; or ask your admin)")
        forced = os.environ.get("LABKIT_MICROVM_ACCEL", "")
        if forced.strip().lower() not in ("", "kvm", "tcg"):
            return Availability(cls.kind, False, f"LABKIT_MICROVM_ACCEL is {forced!r}, "
                                "neither 'kvm' nor 'tcg'", "unset it (then a trial boot "
                                "decides) or set it to kvm or tcg")
        try:
            _image.load()
        except _image.ImageMissing as exc:
            return Availability(cls.kind, False, f"no guest kernel: {exc}", _image.FIX)
        return Availability(cls.kind, True, "", "")

    @classmethod
    def sweep_leftovers(cls) -> list:
        """SIGKILL this user's labkit VMs whose owning lab is gone (killed with -9)."""
        killed = []
        for proc in psutil.process_iter(["name", "cmdline", "uids"]):
            with contextlib.suppress(psutil.Error, TypeError, ValueError, IndexError):
                cmdline = proc.info["cmdline"] or []
                if not cmdline or not os.path.basename(cmdline[0]).startswith("qemu-system"):
                    continue
                if proc.info["uids"].real != os.getuid() or "-name" not in cmdline:
                    continue
                name = cmdline[cmdline.index("-name") + 1]
                if name.startswith(_owned.PREFIX) and _owned.is_leftover(name):
                    proc.kill()
                    killed.append(name)
        return killed

    # --- life cycle ---------------------------------------------------------------------
    def open(self) -> None:
        self._files = _image.load()
        self._accel = accelerator(self._files)

    def close(self) -> None:
        self._release()

    @property
    def accelerator(self) -> Accelerator:
        self._require_open()
        return self._accel

    @property
    def ram_mb(self) -> int:
        """The VM's RAM: memory_mb, raised to the least the kernel boots in."""
        return max(MIN_RAM_MB, int(self.limits.memory_mb + 0.999))

    # --- one VM ---------------------------------------------------------------------------
    def _append(self, mode: str, script: str = "", args: tuple[str, ...] = ()) -> str:
        words = [KERNEL_ARGS, f"labkit_mode={mode}",
                 f"labkit_kb={max(1, int(self.limits.memory_mb * 1024))}"]
        if script:
            words.append(f"labkit_script={_b64(script)}")
        if args:
            words.append(f"labkit_args={_b64(''.join(arg + chr(10) for arg in args))}")
        append = " ".join(words)
        if len(append) > MAX_APPEND:
            raise ValueError(f"script and arguments take {len(append):,} bytes of the kernel "
                             f"command line, which holds at most {MAX_APPEND:,} (base64 makes "
                             "them a third longer): use a shorter script")
        return append

    def _start(self, append: str, accel: str | None = None) -> subprocess.Popen:
        name = f"{_owned.PREFIX}{_owned.owner_tag()}-vm{next(_serial)}"
        command = _command(self._files, accel or self._accel.name, self.ram_mb, append, name)
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_owned.die_with_parent())

    def floor_call(self) -> None:
        """`qemu-system-x86_64 --version` started the way every VM is (own session, parent
        death signal, output on a pipe): the path with no machine built and no boot."""
        self._require_open()
        proc = subprocess.Popen([QEMU, "--version"], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=_owned.die_with_parent())
        try:
            out = proc.communicate(timeout=10)[0]
        finally:
            _kill_group(proc)
        if proc.returncode != 0:
            raise LabkitError(f"{QEMU} --version exited with {proc.returncode}: "
                              f"{out.decode(errors='replace').strip()[:200]}")

    def _boot_and_run(self, script: str, args: tuple[str, ...] = (),
                      marks: dict | None = None) -> VmRun:
        """Boot one VM, run `script` in it, read its framed output; the VM is gone after.
        `marks`, a dict, gets the monotonic ns at which each step was seen: "start" (QEMU
        spawned), "booted", "exited", "reported" (the console lines /init prints, timed when
        labkit reads them), "gone" (QEMU ended)."""
        append = self._append("run", script, args)
        boot_seconds = BOOT_SECONDS[self._accel.name]
        marks = {} if marks is None else marks
        marks["start"] = time.monotonic_ns()
        proc = self._start(append)
        console = _Console(proc, self.kind)
        stage = "boot"
        try:
            if console.until(_image.BOOTED, time.monotonic() + boot_seconds) is None:
                raise self._stopped(console, "before /init ran")
            marks["booted"] = time.monotonic_ns()
            stage = "run"
            exit_line = console.until(_image.EXIT, time.monotonic() + self.limits.cpu_seconds)
            if exit_line is None:
                raise self._stopped(console, "while the script ran")
            marks["exited"] = time.monotonic_ns()
            stage = "report"
            if console.until(_image.DONE, time.monotonic() + REPORT_SECONDS) is None:
                raise self._stopped(console, "before printing the script's output")
            marks["reported"] = time.monotonic_ns()
        except TimeoutError:
            detail = {"boot": f"the VM did not boot within {boot_seconds:g} s "
                              f"({self._accel.name}); console: {console.tail()}",
                      "run": f"{self.limits.cpu_seconds:g} s wall clock for the script "
                             "after the VM booted",
                      "report": f"the VM did not report within {REPORT_SECONDS:g} s"}[stage]
            raise LimitExceeded(self.kind, LIMIT_TIME, detail) from None
        finally:
            console.close()
            _kill_group(proc)
            marks["gone"] = time.monotonic_ns()
        return self._parse(console)

    def _stopped(self, console: _Console, when: str) -> Exception:
        """The VM ended without the answer: a guest crash (QEMU still exits 0)."""
        text = "\n".join(console.lines)
        if OOM_KILLER.search(text):
            return LimitExceeded(self.kind, LIMIT_MEMORY, f"the guest kernel ran out of its "
                                 f"{self.ram_mb} MB: {console.tail(3)}")
        panic = [line for line in console.lines if "Kernel panic" in line][:1]
        said = f"the guest kernel panicked: {panic[0].strip()[:200]}" if panic else \
            f"console: {console.tail()}"
        return GuestError(self.kind, f"the VM stopped {when} (QEMU exit "
                                     f"{self._exit_code(console)}); {said}")

    @staticmethod
    def _exit_code(console: _Console):
        with contextlib.suppress(subprocess.TimeoutExpired):
            return console.proc.wait(timeout=5)
        return "?"

    def _parse(self, console: _Console) -> VmRun:
        fields = {}
        for line in console.lines:
            for key in (_image.EXIT, _image.OUT, _image.ERR):
                if line.startswith(key + " ") or line == key:
                    fields.setdefault(key, line[len(key):].strip())
        try:
            returncode = int(fields[_image.EXIT])
            stdout, stderr = (base64.b64decode(fields[key]).decode("utf-8", "replace")
                              for key in (_image.OUT, _image.ERR))
        except (KeyError, ValueError) as exc:
            raise GuestError(self.kind, f"the VM's report is garbled ({exc}); console: "
                                        f"{console.tail()}") from None
        console_text = "\n".join(line for line in console.lines
                                 if not line.startswith("LABKIT-"))
        return VmRun(stdout, stderr, returncode, console_text)

    def _raise_if_out_of_memory(self, run: VmRun) -> None:
        """Only on evidence: the guest kernel's OOM killer, or the shell refused memory."""
        if run.returncode == 0:
            return
        if OOM_KILLER.search(run.console):
            raise LimitExceeded(self.kind, LIMIT_MEMORY, f"the guest kernel's OOM killer, in "
                                                         f"{self.ram_mb} MB of RAM")
        if any(words in run.stderr.lower() for words in OUT_OF_MEMORY):
            raise LimitExceeded(self.kind, LIMIT_MEMORY, f"ulimit -v of "
                                                         f"{self.limits.memory_mb:g} MB")

    # --- the work -------------------------------------------------------------------------
    @classmethod
    def guest_script(cls) -> str:
        """The script every cold call runs: labkit's own fib guest, as processes run it."""
        return guest_source("sh")

    def cold_call(self, n: int = STANDARD_N) -> int:
        check_n(n)
        return self._fib_answer(self._boot_and_run(self.guest_script(), (str(n),)))

    def _phases(self, workload: str) -> dict[str, float]:
        """One cold fib call as the VM's life, from the lines its /init prints on the
        serial console (each timed when labkit reads it): "boot" (QEMU starts, firmware,
        the kernel boots, /init runs), "run" (the guest script, until /init prints its
        exit code; a script as short as fib's may arrive in the same read as the boot
        line, and then reads near zero), "report" (its output framed on the console),
        "power off" (QEMU ended)."""
        if workload != "fib":
            raise NotSupported(self.kind, f"phases() of the {workload} workload (a micro-VM "
                               "here runs labkit's shell guest only)", [])
        marks: dict[str, int] = {}
        answer = self._fib_answer(self._boot_and_run(self.guest_script(), (str(STANDARD_N),),
                                                     marks))
        if answer != expected(STANDARD_N):
            raise GuestError(self.kind, f"phases: fib({STANDARD_N}) answered {answer}")
        return phase_split([("boot", marks["start"], marks["booted"]),
                            ("run", marks["booted"], marks["exited"]),
                            ("report", marks["exited"], marks["reported"]),
                            ("power off", marks["reported"], marks["gone"])],
                           marks["start"], marks["gone"])

    def _fib_answer(self, run: VmRun) -> int:
        """The guest script's number, or the cap or GuestError that stopped it."""
        self._raise_if_out_of_memory(run)
        if run.returncode != 0:
            raise GuestError(self.kind, f"the guest script exited with {run.returncode}: "
                                        f"{run.stderr.strip()[-300:]}")
        try:
            return int(run.stdout.strip())
        except ValueError:
            raise GuestError(self.kind, f"unexpected output {run.stdout[:80]!r}") from None

    def run_script(self, script: str, *args: str) -> VmRun:
        """Run a shell script (busybox sh) in a fresh VM, for looking around inside.

        Script and arguments travel on the kernel command line, so together they are
        limited to about 1.4 kB; an argument cannot hold a newline. Raises LimitExceeded
        on a cap, else returns what the script printed and its exit code, whatever it is.
        """
        if not isinstance(script, str) or not script.strip():
            raise ValueError("script must be a non-empty string of shell code")
        args = tuple(map(str, args))
        if any("\n" in arg or "\0" in arg for arg in args):
            raise ValueError("an argument of run_script must not contain a newline or NUL")
        run = self._boot_and_run(script, args)
        self._raise_if_out_of_memory(run)
        return run

    @contextlib.contextmanager
    def hold(self, count: int, workload: str = "fib"):
        self.check_live_count(count)
        self.held_language(workload)  # its initramfs carries no interpreter: fib only
        append = self._append("hold")
        deadline = time.monotonic() + BOOT_SECONDS[self._accel.name] * max(1, count / 2)
        try:
            for _ in range(count):  # booted side by side: the slow part is the kernel's
                self._held.append(self._start(append))
            for proc in self._held:
                console = _Console(proc, self.kind)
                try:
                    if console.until(_image.READY, deadline) is None:
                        raise self._stopped(console, "before it was ready")
                except TimeoutError:
                    raise LimitExceeded(self.kind, LIMIT_TIME, f"{count} VMs did not all boot "
                                        "in time; console: " + console.tail()) from None
                finally:
                    console.close()
            yield list(self._held)
        finally:
            self._release()

    def _release(self) -> None:
        while self._held:
            _kill_group(self._held.pop())

    def footprint(self) -> Memory:
        procs = []
        for proc in self._held:
            with contextlib.suppress(psutil.NoSuchProcess):
                procs.append(psutil.Process(proc.pid))
        return processes_memory(procs)

    def max_live(self) -> int:
        """As many VMs as half the free memory holds (guest RAM + TCG cache + QEMU)."""
        emulated = self._accel is None or self._accel.name == "tcg"
        per_vm = (self.ram_mb + (TB_SIZE_MB if emulated else 0) + 30) * 2**20
        room = psutil.virtual_memory().available // 2
        return max(1, min(64, int(room // per_vm)))

    def versions(self) -> dict:
        found = {"qemu": _qemu_version(), "machine": "microvm",
                 "ram_mb": str(self.ram_mb)}
        files = self._files
        with contextlib.suppress(_image.ImageMissing, OSError, KeyError):
            files = files or _image.load()
        if files is not None:
            found["kernel"] = f"{files.kernel_package} {files.kernel_version}"
            found["busybox"] = files.busybox_version
        accel = self._accel or _verdict
        if accel is None:
            found["accelerator"] = "not chosen yet (the first open decides)"
        else:
            found["accelerator"] = accel.name
            found["accelerator_reason"] = accel.reason
            if accel.name == "tcg":
                found["warning"] = EMULATED_WARNING
        return found

    def extra_figures(self, calls: int) -> dict:
        """1 when these boots were emulated (TCG), 0 with KVM: see versions()["warning"]."""
        return {"emulated": int(self._accel.name == "tcg")}


# --- choosing the accelerator -----------------------------------------------------------
def accelerator(files: _image.BootFiles) -> Accelerator:
    """KVM if /dev/kvm opens and a real trial boot reaches /init; else TCG.

    Decided once per machine boot: the verdict is kept in this user's private state folder,
    keyed by the boot id, QEMU and the kernel, so a second notebook or `doctor` does not pay
    the trial again (a forced LABKIT_MICROVM_ACCEL is never kept)."""
    global _verdict
    if _verdict is None:
        key = _verdict_key(files)
        _verdict = _kept_verdict(key)
        if _verdict is None:
            _verdict = choose_accelerator(files)
            if not os.environ.get("LABKIT_MICROVM_ACCEL", "").strip():
                _keep_verdict(key, _verdict)
    return _verdict


def _verdict_key(files: _image.BootFiles) -> str:
    """What the accelerator verdict depends on: this boot of the host, QEMU, the kernel."""
    try:
        boot = open("/proc/sys/kernel/random/boot_id").read().strip()
    except OSError:
        boot = "unknown"
    qemu = shutil.which(QEMU) or QEMU
    with contextlib.suppress(OSError):
        qemu += f"@{os.stat(qemu).st_mtime_ns}"
    return f"{boot} {qemu} {files.kernel_version}"


def _verdict_file():
    from ...paths import private_dir
    return private_dir("microvm") / "accelerator.json"


def _kept_verdict(key: str) -> Accelerator | None:
    """The verdict an earlier process reached on this boot, if it still applies."""
    if os.environ.get("LABKIT_MICROVM_ACCEL", "").strip():
        return None
    try:
        kept = json.loads(_verdict_file().read_text())
        if kept.get("key") == key and kept.get("name") in ("kvm", "tcg"):
            return Accelerator(kept["name"], f"{kept['reason']} (decided by an earlier trial "
                                             "since the machine booted)")
    except (OSError, ValueError, AttributeError, TypeError):
        return None
    return None


def _keep_verdict(key: str, verdict: Accelerator) -> None:
    with contextlib.suppress(OSError, LabkitError):
        _verdict_file().write_text(json.dumps({"key": key, "name": verdict.name,
                                               "reason": verdict.reason}))


def choose_accelerator(files: _image.BootFiles,
                       trial_seconds: float = KVM_TRIAL_SECONDS) -> Accelerator:
    """Decide without the cache (the tests call this to see the fallback happen)."""
    forced = os.environ.get("LABKIT_MICROVM_ACCEL", "").strip().lower()
    if forced in ("kvm", "tcg"):
        return Accelerator(forced, "set by LABKIT_MICROVM_ACCEL")
    if forced:
        raise ValueError(f"LABKIT_MICROVM_ACCEL must be 'kvm' or 'tcg', got {forced!r}")
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC))
    except OSError as exc:
        return Accelerator("tcg", f"/dev/kvm cannot be opened ({exc.strerror}): software "
                                  "emulation; for KVM add yourself to the kvm group")
    trial = MicrovmSandbox(Limits(cpu_seconds=trial_seconds, memory_mb=MIN_RAM_MB))
    trial._files = files
    trial._accel = Accelerator("kvm", "trial")
    started = time.monotonic()
    proc = trial._start(trial._append("hold"))
    console = _Console(proc, MicrovmSandbox.kind)
    try:
        ready = console.until(_image.READY, started + trial_seconds)
    except (TimeoutError, LimitExceeded):
        ready = None
        why = f"did not reach /init within {trial_seconds:g} s"
    else:
        why = f"stopped before /init: {console.tail(2)}"
    finally:
        console.close()
        _kill_group(proc)
    if ready is None:
        return Accelerator("tcg", f"/dev/kvm opens but a KVM trial boot {why} (nested KVM "
                                  "without hardware support?): software emulation")
    return Accelerator("kvm", f"a KVM trial boot reached /init in "
                              f"{time.monotonic() - started:.1f} s")
