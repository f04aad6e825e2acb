"""A plain OS process: the baseline every sandbox is compared with.

Each call starts a shell (busybox sh when installed, the same binary the containers run,
else /bin/sh) that computes the standard workload and exits. A plain process is NOT
isolated: it shares the host's files, network and process list. It is bounded only by
rlimits (CPU seconds by RLIMIT_CPU, address space by RLIMIT_AS) and a wall-clock backstop,
and it runs nothing but labkit's own guest script, never code a reader or a model
supplies. It has no cap on processes: RLIMIT_NPROC counts every process of the user, not
those of one sandbox, so it cannot be one guest's cap (its capabilities say so).

Tool calls (`run_tool`) run the host's node or python3 (`_tools.py`) as a plain process with
the same rlimits, a clean environment and the output capped by RLIMIT_FSIZE. That is the
baseline for the tool call, and NOT a sandbox for files: the tool can read whatever the
user running the lab can read (the tests say so and skip that check here).

Warm path (`warm_call`, `warm_tool`): one long-running shell, python3 or node per box
(`_warm_server.py`), the same rlimits, RLIMIT_CPU renewed per call; ended on close.
"""

from __future__ import annotations

import contextlib
import os
import resource
import select
import shutil
import signal
import subprocess
import tempfile
import time

import psutil

from ..errors import (
    LIMIT_CPU,
    LIMIT_MEMORY,
    LIMIT_OUTPUT,
    LIMIT_TIME,
    GuestError,
    LabkitError,
    LimitExceeded,
    NotSupported,
)
from ..measure import Memory, processes_memory
from ..workload import (
    STANDARD_N,
    WORKLOAD_LANGUAGES,
    check_n,
    check_tool_output,
    expected,
    guest_source,
    tool_input,
    tool_source,
)
from . import _tools, _warm_server
from .base import Availability, Capabilities, Limits, Sandbox, phase_split

# Wall-clock allowance on top of the backstop, for starting and reaping the shell.
SETUP_SECONDS = 5
# What a shell says when RLIMIT_AS refuses it memory (busybox; dash).
OUT_OF_MEMORY = ("out of memory", "out of space", "cannot allocate memory")
# What a tool may write to stdout, and to stderr, per call (RLIMIT_FSIZE on its files).
MAX_TOOL_OUTPUT_BYTES = 2**20
# phases() of a tool call: labkit's wrapper with the guest's own monotonic clock read (the
# host's CLOCK_MONOTONIC) before it parses the input and after it serialises the answer.
PHASE_WRAPPERS = {
    "javascript": """
;(async () => {
  const ready = process.hrtime.bigint();
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const result = JSON.stringify(await tool(JSON.parse(Buffer.concat(chunks).toString("utf8"))));
  process.stderr.write(`labkit-phases ${ready} ${process.hrtime.bigint()}\\n`);
  process.stdout.write(result);
})();
""",
    "python": """
import json as _j, sys as _s, time as _t
_ready = _t.monotonic_ns()
_out = _j.dumps(tool(_j.loads(_s.stdin.buffer.read())))
_s.stderr.write(f"labkit-phases {_ready} {_t.monotonic_ns()}\\n")
_s.stdout.write(_out)
""",
}
# What node and python say when their memory cap refuses them (V8's heap, CPython).
TOOL_OUT_OF_MEMORY = ("heap out of memory", "memoryerror", "failed to reserve virtual memory")


def shell_command() -> list[str]:
    """The shell that runs the guest script: busybox sh if present, else /bin/sh."""
    busybox = shutil.which("busybox")
    return [busybox, "sh"] if busybox else ["/bin/sh"]


def _rlimits(limits: Limits):
    """A preexec function applying the caps inside the child, before it runs the shell."""
    cpu = limits.cpu_rlimit
    memory = int(limits.memory_mb * 2**20)

    def apply():
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))  # SIGXCPU, then SIGKILL
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    return apply


def _tool_rlimits(limits: Limits, language: str):
    """The guest's rlimits for a tool call: node gets room for V8's address-space
    reservations (its heap is capped by --max-old-space-size instead); output files are
    capped by RLIMIT_FSIZE (a write past it raises SIGXFSZ)."""
    room = _tools.NODE_RESERVED_MB if language == "javascript" else 0
    caps = _rlimits(Limits(limits.cpu_seconds, limits.memory_mb + room, limits.pids))

    def apply():
        caps()
        resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_TOOL_OUTPUT_BYTES,) * 2)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def _run_in_own_group(command: list[str], timeout: float, preexec) -> subprocess.CompletedProcess:
    """subprocess.run, but the guest leads its own process group and the whole group is
    killed on a timeout or an interrupt: a shell's children (`sleep`) never outlive it."""
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=preexec,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    finally:
        with contextlib.suppress(ProcessLookupError):  # what the guest left running
            os.killpg(proc.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


class ProcessSandbox(Sandbox):
    kind = "process"
    capabilities = Capabilities(family="process", cpu_cap="cpu-time",
                                memory_cap="address space of the shell (RLIMIT_AS); a tool "
                                           "in node: its JavaScript heap (+1 GB of address "
                                           "space for V8's reservations)",
                                tools=("javascript", "python"), warm_calls=True,
                                held_tools=("javascript", "python"))
    live_counts = {"quick": 50, "full": 500}
    warm_how = ("one long-running interpreter (node, python3; a shell for fib) answering "
                "calls on stdin, each tool run in a fresh namespace; same rlimits per call")

    def __init__(self, limits: Limits | None = None):
        super().__init__(limits)
        self._command = [*shell_command(), "-c", self.guest_script(), "fib"]
        self._held: list[subprocess.Popen] = []
        self._warm: dict[str, _warm_server.WarmServer] = {}  # language -> its server

    @classmethod
    def guest_script(cls) -> str:
        """The shell script every call runs: labkit's own fib guest (never a reader's)."""
        return guest_source("sh")

    @classmethod
    def check(cls) -> Availability:
        shell = shell_command()[0]
        if not os.access(shell, os.X_OK):
            return Availability(cls.kind, False, f"no shell at {shell}",
                                "sudo apt-get install busybox-static")
        return Availability(cls.kind, True, "", "")

    def cold_call(self, n: int = STANDARD_N) -> int:
        check_n(n)
        backstop = self.limits.backstop_seconds(SETUP_SECONDS)
        try:
            done = _run_in_own_group([*self._command, str(n)], backstop,
                                     _rlimits(self.limits))
        except subprocess.TimeoutExpired:
            raise LimitExceeded(self.kind, LIMIT_TIME, f"{backstop:g} s wall clock, the "
                                "backstop of its CPU-time cap") from None
        if done.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
            raise LimitExceeded(self.kind, LIMIT_CPU,
                                f"RLIMIT_CPU of {self.limits.cpu_rlimit} s")
        if done.returncode != 0:
            # The guest is labkit's own script, so its shell's words can be trusted here.
            if any(words in done.stderr.lower() for words in OUT_OF_MEMORY):
                raise LimitExceeded(self.kind, LIMIT_MEMORY, f"RLIMIT_AS of "
                                    f"{self.limits.memory_mb:g} MB")
            raise GuestError(self.kind, f"the shell exited with {done.returncode}: "
                                        f"{done.stderr.strip()[:200]}")
        try:
            return int(done.stdout.strip())
        except ValueError:
            raise GuestError(self.kind, f"unexpected output {done.stdout[:80]!r}") from None

    @contextlib.contextmanager
    def hold(self, count: int, workload: str = "fib"):
        self.check_live_count(count)
        language = self.held_language(workload)
        held = self._held
        try:
            for number in range(1, count + 1):
                if language is None:  # an idle shell, blocked reading its stdin
                    held.append(subprocess.Popen([*shell_command(), "-c", "read _"],
                                                 stdin=subprocess.PIPE,
                                                 preexec_fn=_rlimits(self.limits)))
                    continue
                # the tool's runtime, its tool run once, idle (as between two calls)
                proc = subprocess.Popen(
                    _tools.held_tool_argv(workload, self.limits.memory_mb),
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                    env=_tools.TOOL_ENV, cwd="/",
                    preexec_fn=_tool_rlimits(self.limits, language))
                held.append(proc)
                if not _tools.wait_ready(proc.stdout, _tools.HELD_TOOL_SECONDS):
                    raise LabkitError(f"process: held {workload} instance {number} of {count} "
                                      f"was not ready within {_tools.HELD_TOOL_SECONDS} s")
            yield list(held)
        finally:
            self._release()

    def _release(self) -> None:
        for proc in self._held:
            proc.kill()
        for proc in self._held:
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                if stream:
                    stream.close()
        self._held.clear()

    def footprint(self) -> Memory:
        procs = []
        for proc in self._held:
            with contextlib.suppress(psutil.NoSuchProcess):
                procs.append(psutil.Process(proc.pid))
        return processes_memory(procs)

    def max_live(self) -> int:
        # Keep well under the per-user process limit, leaving room for everything else.
        soft, _ = resource.getrlimit(resource.RLIMIT_NPROC)
        room = 2000 if soft == resource.RLIM_INFINITY else max(1, soft // 4)
        return min(room, 2000)

    def close(self) -> None:
        self._stop_warm()
        self._release()

    def versions(self) -> dict:
        return {"shell": " ".join(shell_command())}

    # --- tool calls and the floor -------------------------------------------------------
    def _run_tool(self, language: str, source: str, input_json: str) -> str:
        """The host's node or python3 as a plain process: the input on stdin, the answer
        (JSON) on stdout, both through temporary files (the output capped by RLIMIT_FSIZE)."""
        _tools.checked_tool_call(self.kind, language, source, input_json, "a process")
        argv = _tools.tool_argv(language, source, self.limits.memory_mb)
        backstop = self.limits.backstop_seconds(SETUP_SECONDS)
        with tempfile.TemporaryFile() as stdin, tempfile.TemporaryFile() as out, \
                tempfile.TemporaryFile() as err:
            stdin.write(input_json.encode())
            stdin.seek(0)
            proc = subprocess.Popen(argv, stdin=stdin, stdout=out, stderr=err,
                                    env=_tools.TOOL_ENV, cwd="/", start_new_session=True,
                                    preexec_fn=_tool_rlimits(self.limits, language))
            try:
                returncode = proc.wait(timeout=backstop)
            except subprocess.TimeoutExpired:
                raise LimitExceeded(self.kind, LIMIT_TIME, f"{backstop:g} s wall clock, the "
                                    "backstop of its CPU-time cap") from None
            finally:
                with contextlib.suppress(ProcessLookupError):  # the tool and its children
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            sizes = [os.fstat(f.fileno()).st_size for f in (out, err)]
            out.seek(0)
            err.seek(max(0, sizes[1] - 65536))  # the error's own words come last
            stdout = out.read().decode(errors="replace")
            stderr = err.read().decode(errors="replace")
            # A file at the cap is a cut-off output, however the tool took it (Python and
            # node ignore SIGXFSZ: the write fails with EFBIG, node may even exit 0).
            full = max(sizes) >= MAX_TOOL_OUTPUT_BYTES
        if returncode in (-signal.SIGXCPU, -signal.SIGKILL):
            raise LimitExceeded(self.kind, LIMIT_CPU, f"RLIMIT_CPU of {self.limits.cpu_rlimit} s")
        if returncode == -signal.SIGXFSZ or full:
            raise LimitExceeded(self.kind, LIMIT_OUTPUT, f"more than {MAX_TOOL_OUTPUT_BYTES:,} "
                                "bytes written (RLIMIT_FSIZE)")
        # A plain process has no cgroup to ask: the interpreter's own words are the evidence.
        if returncode != 0 and any(words in stderr.lower() for words in TOOL_OUT_OF_MEMORY):
            raise LimitExceeded(self.kind, LIMIT_MEMORY, f"{self.limits.memory_mb:g} MB")
        return _tools.tool_answer(self.kind, returncode, stdout, stderr)

    # --- where the time goes ------------------------------------------------------------
    def _phases(self, workload: str) -> dict[str, float]:
        """One cold call split where a plain process can be split honestly.

        fib: "spawn" (fork and exec, until Popen returns: Python waits for the exec), "run"
        (the shell starts, computes, exits: until the kernel reports it gone, through a
        pidfd), "collect" (its output read and its status reaped). A tool call: "spawn",
        "interpreter start" (until the guest's first line of labkit's wrapper runs),
        "tool" (the guest's own clock around parsing the input, tool() and serialising its
        answer), "exit" (until the process is gone); the guest reads the same monotonic
        clock as the host. "other" is the rest of the call."""
        language = WORKLOAD_LANGUAGES.get(workload)
        if workload != "fib" and language is None:
            raise NotSupported(self.kind, f"phases() of the {workload!r} workload", [])
        if language is None:
            argv, preexec, stdin = [*self._command, str(STANDARD_N)], _rlimits(self.limits), None
        else:
            _tools.require_interpreter(self.kind, language, "a process")
            program = tool_source(language) + PHASE_WRAPPERS[language]
            heap = [f"--max-old-space-size={max(8, int(self.limits.memory_mb))}"] \
                if language == "javascript" else ["-I", "-S"]
            argv = [_tools.INTERPRETERS[language], *heap,
                    "-e" if language == "javascript" else "-c", program]
            preexec, stdin = _tool_rlimits(self.limits, language), tempfile.TemporaryFile()
            given = tool_input(0)
            stdin.write(given.encode())
            stdin.seek(0)
        clock = time.monotonic_ns
        backstop = self.limits.backstop_seconds(SETUP_SECONDS)
        try:
            start = clock()
            proc = subprocess.Popen(argv, stdin=stdin or subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    env=_tools.TOOL_ENV if language else None,
                                    start_new_session=True, preexec_fn=preexec)
            spawned = clock()
            try:
                pidfd = os.pidfd_open(proc.pid)
                try:
                    if not select.select([pidfd], [], [], backstop)[0]:
                        raise LimitExceeded(self.kind, LIMIT_TIME, f"{backstop:g} s wall clock")
                finally:
                    os.close(pidfd)
                gone = clock()
                out, err = proc.communicate(timeout=backstop)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            end = clock()
        finally:
            if stdin is not None:
                stdin.close()
        out, err = out.decode(errors="replace"), err.decode(errors="replace")
        if proc.returncode != 0:
            raise GuestError(self.kind, f"phases: the guest exited with {proc.returncode}: "
                                        f"{err.strip()[-200:]}")
        if language is None:
            if out.strip() != str(expected(STANDARD_N)):
                raise GuestError(self.kind, f"phases: fib answered {out[:80]!r}")
            return phase_split([("spawn", start, spawned), ("run", spawned, gone),
                                ("collect", gone, end)], start, end)
        check_tool_output(given, out)
        marks = [line.split() for line in err.splitlines() if line.startswith("labkit-phases ")]
        if len(marks) != 1 or len(marks[0]) != 3:
            raise GuestError(self.kind, "phases: the guest did not report its own clock")
        ready, done = int(marks[0][1]), int(marks[0][2])
        if not start <= ready <= done <= gone:
            raise GuestError(self.kind, "phases: the guest's clock readings are out of order")
        return phase_split([("spawn", start, spawned), ("interpreter start", spawned, ready),
                            ("tool", ready, done), ("exit", done, gone)], start, end)

    def floor_call(self) -> None:
        """`true` from the guest's own shell binary (busybox's applet, else /bin/true),
        spawned as every call spawns its guest (own group, rlimits, pipes): the same program
        loaded, nothing run. (A dynamically linked /bin/true beside a static busybox would
        cost more than the call it is the floor of.)"""
        command = [*shell_command()[:1], "true"] if shutil.which("busybox") else ["/bin/true"]
        done = _run_in_own_group(command, self.limits.backstop_seconds(SETUP_SECONDS),
                                 _rlimits(self.limits))
        if done.returncode != 0:
            raise GuestError(self.kind, f"{' '.join(command)} exited with {done.returncode}")

    # --- the warm path: one long-running interpreter per language (_warm_server.py) -------
    def warm_call(self, n: int = STANDARD_N) -> int:
        """fib(n) by a shell that stays running: the same guest script, read per line."""
        check_n(n)
        answer = self._warm_server("sh").call(str(n).encode())
        try:
            return int(answer.strip())
        except ValueError:
            raise GuestError(self.kind, f"unexpected output {answer[:80]!r}") from None

    def warm_tool(self, language: str, source: str, input_json: str) -> str:
        """The tool's unchanged source, run by a warm node or python3 in a fresh namespace."""
        self._require_open()
        _tools.check_tool_call(language, source, input_json)
        if language not in self.capabilities.tools:
            raise ValueError(f"no warm interpreter for {language!r}; valid ones are: "
                             f"{', '.join(self.capabilities.tools)}")
        _tools.require_interpreter(self.kind, language, "a warm process")
        return self._warm_server(language).call_tool(source, input_json)

    def _warm_server(self, language: str) -> _warm_server.WarmServer:
        self._require_open()
        server = self._warm.get(language)
        if server is None:
            if language == "sh":
                argv = [*shell_command(), "-c", _warm_server.SHELL_SERVER, "warm",
                        self.guest_script()]
                preexec = _rlimits(self.limits)
            elif language == "python":
                argv = [_tools.INTERPRETERS[language], "-I", "-S", "-c",
                        _warm_server.PYTHON_SERVER]
                preexec = _tool_rlimits(self.limits, language)
            else:
                heap = max(8, int(self.limits.memory_mb))
                argv = [_tools.INTERPRETERS[language], f"--max-old-space-size={heap}", "-e",
                        _warm_server.NODE_SERVER]
                preexec = _tool_rlimits(self.limits, language)
            server = _warm_server.WarmServer(
                self.kind, argv, preexec, self.limits.cpu_rlimit,
                self.limits.backstop_seconds(SETUP_SECONDS), env=_tools.TOOL_ENV)
            self._warm[language] = server
        return server

    def _stop_warm(self) -> None:
        while self._warm:
            _, server = self._warm.popitem()
            server.stop()
