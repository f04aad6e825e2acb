"""A warm interpreter: one long-running node, python3 or shell answering calls on stdin.

The warm path of the process-style kinds. The interpreter starts once (its start-up is the
cold path's biggest cost) and then reads one request per line: for a tool, the tool's
source and its input as JSON; it runs the source in a FRESH namespace each call (Python: a
new globals dict; JavaScript: a new `vm` context), calls `tool(input)` and writes one JSON
line back: {"ok": "<the result's JSON text>"} or {"error": "<what it raised>"}. What the
tool itself prints goes to a capped file, never into the answers.

Caps, per call, like the cold path's: CPU time by RLIMIT_CPU, set afresh before each call
(`prlimit`) to what the interpreter has used so far plus the call's allowance; a wall-clock
backstop (past it the server is killed and the call is a LimitExceeded("time")); memory by
RLIMIT_AS on the whole interpreter (node: its JavaScript heap flag, as cold); output by
RLIMIT_FSIZE on the file the tool prints to and a cap on the answer line. A server a cap
stopped is replaced at the next call. It leads its own process group and dies with the
Python that started it; `stop()` ends it (the sandbox's close, an exception, an interrupt).

It is not a fresh process per call: a tool can leave state behind in the interpreter (a
module it imported, a global it changed in Python's builtins), which the next call sees.
That trade, freshness for speed, is exactly what a warm path is.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import select
import signal
import subprocess
import tempfile
import time

import psutil

from ..errors import LIMIT_CPU, LIMIT_MEMORY, LIMIT_OUTPUT, LIMIT_TIME, GuestError, LimitExceeded
from . import _owned

# The largest answer line read back (a tool's JSON result), and what a tool may print.
MAX_ANSWER_BYTES = 16 * 2**20
MAX_PRINTED_BYTES = 2**20
# How long a fresh server gets to say it is ready.
READY_SECONDS = 15.0
# What node and python say when their memory cap refuses them.
OUT_OF_MEMORY = ("heap out of memory", "memoryerror", "failed to reserve virtual memory",
                 "cannot allocate memory")

# The Python server: a new globals dict per call; print() goes to stderr (a capped file).
PYTHON_SERVER = r"""
import builtins, json, os, sys, traceback
answers = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
sys.stdout = sys.stderr
answers.write('{"ready": true}\n'); answers.flush()
for line in sys.stdin.buffer:
    namespace = None
    try:
        request = json.loads(line)
        namespace = {"__name__": "__tool__", "__builtins__": builtins}
        exec(compile(request["source"], "<tool>", "exec"), namespace)
        if not callable(namespace.get("tool")):
            raise TypeError("the tool program defines no function tool(input)")
        answer = {"ok": json.dumps(namespace["tool"](json.loads(request["input"])))}
    except MemoryError:
        answer = {"error": "MemoryError", "memory": True}
    except BaseException as exc:
        lines = traceback.format_exception_only(type(exc), exc)
        answer = {"error": "".join(lines).strip()[-500:]}
    del namespace
    answers.write(json.dumps(answer) + "\n"); answers.flush()
"""

# The node server: a new vm context per call (JavaScript's builtins, a console that writes
# to stderr, nothing of node's: no require, no process); async tools are awaited.
NODE_SERVER = r"""
const vm = require("vm"), fs = require("fs"), readline = require("readline");
const printer = new console.Console(process.stderr, process.stderr);
const answer = (value) => fs.writeSync(1, JSON.stringify(value) + "\n");
answer({ ready: true });
const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
(async () => {
  for await (const line of lines) {
    try {
      const request = JSON.parse(line);
      const context = vm.createContext({ console: printer });
      vm.runInContext(request.source, context, { filename: "tool.js" });
      if (typeof context.tool !== "function") {
        throw new TypeError("the tool program declares no function tool(input)");
      }
      context.__labkit_input = request.input;
      const result = await vm.runInContext("tool(JSON.parse(__labkit_input))", context);
      const text = JSON.stringify(result);
      answer({ ok: text === undefined ? "null" : text });
    } catch (e) {
      answer({ error: String((e && e.stack) || e).slice(0, 500) });
    }
  }
})();
"""

# The shell server for labkit's own fib guest: the same script, run with `set -- n` for
# each line read (its variables are all set afresh by the script itself).
SHELL_SERVER = r"""
script=$1
echo ready
while read -r n; do
  set -- "$n"
  eval "$script"
done
"""


class WarmServer:
    """One long-running interpreter answering one request line per call."""

    def __init__(self, kind: str, argv: list[str], preexec, cpu_rlimit: int,
                 backstop: float, env: dict | None = None):
        self.kind, self.argv, self.preexec = kind, list(argv), preexec
        self.cpu_rlimit, self.backstop = int(cpu_rlimit), float(backstop)
        self.env = env
        self.process: subprocess.Popen | None = None
        self._printed = None  # the file the tool's own output goes to
        self._pending = b""

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        self.stop()
        self._printed = tempfile.TemporaryFile(prefix=_owned.PREFIX + "warm-")
        parent = os.getpid()
        caps, dies = self.preexec, _owned.die_with_parent(parent)

        def before_exec():
            dies()
            caps()

        try:
            self.process = subprocess.Popen(
                self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=self._printed, env=self.env, cwd="/", start_new_session=True,
                preexec_fn=before_exec)
            ready = self._read_line(time.monotonic() + READY_SECONDS)
        except BaseException:
            self.stop()
            raise
        if ready is None or b"ready" not in ready:
            said = self._said()
            self.stop()
            raise GuestError(self.kind, f"the warm interpreter did not start: {said or ready!r}")

    def stop(self) -> None:
        """End the interpreter (its whole process group) and drop its files; safe twice."""
        process, self.process = self.process, None
        if process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            for stream in (process.stdin, process.stdout):
                with contextlib.suppress(OSError):
                    stream.close()
        if self._printed is not None:
            self._printed.close()
            self._printed = None
        self._pending = b""

    def call(self, request: bytes) -> bytes:
        """Send one request line, return the answer line (started first if needed)."""
        if not self.running():
            self.start()
        self._cap_cpu()
        self._printed.truncate(0)
        self._printed.seek(0)
        try:
            self.process.stdin.write(request.rstrip(b"\n") + b"\n")
            self.process.stdin.flush()
            line = self._read_line(time.monotonic() + self.backstop)
        except BrokenPipeError:
            line = None
        except BaseException:  # an interrupt mid-call: the guest may still run
            self.stop()
            raise
        if line is None:
            self._raise_for_death()
        if os.fstat(self._printed.fileno()).st_size >= MAX_PRINTED_BYTES:
            self.stop()
            raise LimitExceeded(self.kind, LIMIT_OUTPUT, f"more than {MAX_PRINTED_BYTES:,} "
                                "bytes printed (RLIMIT_FSIZE)")
        return line

    def call_tool(self, source: str, input_json: str) -> str:
        """A tool call: its JSON result text, or the labkit error for what happened."""
        request = json.dumps({"source": source, "input": input_json}).encode()
        answer = json.loads(self.call(request))
        if "ok" in answer:
            return answer["ok"]
        if answer.get("memory"):
            self.stop()
            raise LimitExceeded(self.kind, LIMIT_MEMORY, "the warm interpreter's memory cap "
                                "(RLIMIT_AS) refused the tool an allocation")
        error = " ".join(str(answer.get("error", "no message")).split())
        raise GuestError(self.kind, f"the tool failed (warm): {error[:300]}")

    # --- internals ------------------------------------------------------------------
    def _cap_cpu(self) -> None:
        """RLIMIT_CPU of this call: the CPU time used so far plus the call's allowance."""
        try:
            times = psutil.Process(self.process.pid).cpu_times()
        except psutil.Error:
            return  # gone: the call finds out
        used = math.ceil(times.user + times.system)
        soft = used + self.cpu_rlimit
        with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
            resource.prlimit(self.process.pid, resource.RLIMIT_CPU, (soft, soft + 1))

    def _read_line(self, deadline: float) -> bytes | None:
        """One line from the interpreter's stdout; None at end of file. Past the deadline
        the server is killed (LimitExceeded "time"); past MAX_ANSWER_BYTES, "output"."""
        fd = self.process.stdout.fileno()
        while b"\n" not in self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                raise LimitExceeded(self.kind, LIMIT_TIME, f"{self.backstop:g} s wall clock, "
                                    "the backstop of its CPU-time cap; the warm interpreter "
                                    "was stopped")
            ready, _, _ = select.select([fd], [], [], min(remaining, 0.5))
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self._pending += chunk
            if len(self._pending) > MAX_ANSWER_BYTES:
                self.stop()
                raise LimitExceeded(self.kind, LIMIT_OUTPUT, f"an answer over "
                                    f"{MAX_ANSWER_BYTES:,} bytes; the warm interpreter was "
                                    "stopped")
        line, _, self._pending = self._pending.partition(b"\n")
        return line

    def _said(self) -> str:
        if self._printed is None:
            return ""
        self._printed.seek(max(0, os.fstat(self._printed.fileno()).st_size - 4096))
        return self._printed.read().decode(errors="replace").strip()[-300:]

    def _raise_for_death(self):
        """The interpreter ended mid-call: say which cap (or the guest) ended it."""
        process = self.process
        returncode = process.wait() if process is not None else None
        said = self._said()
        self.stop()
        if returncode in (-signal.SIGXCPU, -signal.SIGKILL):
            raise LimitExceeded(self.kind, LIMIT_CPU, f"RLIMIT_CPU of {self.cpu_rlimit} s "
                                "for this call")
        if returncode == -signal.SIGXFSZ:
            raise LimitExceeded(self.kind, LIMIT_OUTPUT, "RLIMIT_FSIZE on what it printed")
        if any(words in said.lower() for words in OUT_OF_MEMORY):
            raise LimitExceeded(self.kind, LIMIT_MEMORY, "the warm interpreter's memory cap")
        raise GuestError(self.kind, f"the warm interpreter ended (exit {returncode}): "
                                    f"{said[-200:] or 'no message'}")
