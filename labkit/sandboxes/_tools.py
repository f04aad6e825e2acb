"""How the process-style kinds start a tool call: the host's own interpreters, started clean.

The plain process and the containers run the same command line: node or python3 from the
host's /usr (containers bind-mount it read-only), the tool's program on the command line
(`workload.tool_program`: the agent's source plus a wrapper reading stdin), the input on
stdin, a JSON answer on stdout. One place, so every process-style kind runs the tool alike.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import tempfile
import time

from ..errors import GuestError, Unavailable
from ..workload import (
    READY_LINE,
    TOOL_LANGUAGES,
    WORKLOAD_LANGUAGES,
    tool_held_program,
    tool_input,
    tool_program,
    tool_source,
)

# The system's interpreters (not a version manager's shim on PATH): the same paths inside a
# container that sees the host's /usr.
INTERPRETERS = {"javascript": "/usr/bin/node", "python": "/usr/bin/python3"}
APT_PACKAGES = {"javascript": "nodejs", "python": "python3"}
# The whole environment a tool sees: no proxy, no CA or NODE_OPTIONS settings of the host.
TOOL_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp"}
# Linux refuses a single command-line argument over 128 KiB; the program travels as one.
MAX_PROGRAM_BYTES = 128 * 2**10 - 1
# The input a tool call accepts (the standard one is ~37 KB).
MAX_INPUT_BYTES = 8 * 2**20
# V8 reserves address space up front (code range, heap cage): node does not start under an
# address-space cap below about 700 MB (measured: 640 MB fails, 768 MB works). Where the cap
# is RLIMIT_AS, node gets this much on top of Limits.memory_mb, and its JavaScript heap is
# capped at memory_mb by --max-old-space-size instead.
NODE_RESERVED_MB = 1024
# How long a held tool instance may take to run its tool once and say it is ready (node
# starts in well under a second; a sandbox that starts slowly adds its own).
HELD_TOOL_SECONDS = 60


def check_tool_call(language: str, source: str, input_json: str) -> None:
    """Refuse a tool call that cannot travel, naming the problem."""
    if not isinstance(source, str) or not source.strip():
        raise ValueError("the tool's source must be a non-empty string")
    if not isinstance(input_json, str):
        raise TypeError(f"input_json must be JSON text (str), got {type(input_json).__name__}")
    if len(input_json.encode()) > MAX_INPUT_BYTES:
        raise ValueError(f"input_json is over {MAX_INPUT_BYTES:,} bytes")
    if "\0" in source:
        raise ValueError("the tool's source must not contain NUL characters")


def tool_argv(language: str, source: str, heap_mb: float | None = None,
              held_input: str | None = None) -> list[str]:
    """The command line that runs `source` in `language` (its program as one argument);
    `heap_mb` caps node's JavaScript heap where no cgroup caps its memory (a process).
    With `held_input`, the program runs the tool once on it, prints READY_LINE and idles
    (`workload.tool_held_program`): a held instance, weighed for memory."""
    if language not in TOOL_LANGUAGES:
        raise ValueError(f"no interpreter for {language!r}; valid ones are: "
                         f"{', '.join(TOOL_LANGUAGES)}")
    program = (tool_program(language, source) if held_input is None else
               tool_held_program(language, source, held_input))
    size = len(program.encode())
    if size > MAX_PROGRAM_BYTES:
        raise ValueError(f"the tool's program is {size:,} bytes; one command-line argument "
                         f"holds at most {MAX_PROGRAM_BYTES:,}")
    if language == "javascript":
        heap = [f"--max-old-space-size={max(8, int(heap_mb))}"] if heap_mb else []
        return [INTERPRETERS[language], *heap, "-e", program]
    # -I: ignore PYTHON* variables and the user's site folder; -S: no site module at all.
    return [INTERPRETERS[language], "-I", "-S", "-c", program]


def checked_tool_call(kind: str, language: str, source: str, input_json: str,
                      where: str) -> None:
    """Refuse a tool call that cannot travel, or whose interpreter this host lacks (saying
    which and the apt command): what every sandbox checks before it starts one."""
    check_tool_call(language, source, input_json)
    require_interpreter(kind, language, where)


def require_interpreter(kind: str, language: str, where: str) -> None:
    """Unavailable, naming the interpreter and the apt command, if this host lacks the one
    `language` needs (an unknown language is left to the caller's own check)."""
    lacking = missing_interpreters().get(language)
    if lacking:
        raise Unavailable(kind, f"no {INTERPRETERS[language]} on this host to run "
                                f"{language} tools in {where}", lacking)


@contextlib.contextmanager
def input_file(input_json: str, folder=None):
    """The tool's input in a temporary file, at its start: a sandbox's stdin."""
    with tempfile.TemporaryFile(dir=folder) as stdin:
        stdin.write(input_json.encode())
        stdin.seek(0)
        yield stdin


def missing_interpreters() -> dict[str, str]:
    """Languages whose interpreter this host lacks, with the apt command that adds it."""
    return {language: f"sudo apt-get install {APT_PACKAGES[language]}"
            for language, path in INTERPRETERS.items() if not os.access(path, os.X_OK)}


def tool_answer(kind: str, returncode: int, stdout: str, stderr: str) -> str:
    """The JSON text a tool printed, or GuestError with its last words (after the caller has
    turned the ways a cap stops a guest into LimitExceeded)."""
    if returncode != 0:
        # The error's own line: Python's is the traceback's last unindented one, node's
        # the stack's first (the rest are indented "at ..." frames).
        lines = [line for line in stderr.splitlines() if line.strip()]
        said = [line for line in lines if not line[:1].isspace()
                and not line.startswith("Traceback")]
        detail = (said[-1] if said else lines[-1] if lines else "no message")[:300]
        raise GuestError(kind, f"the tool failed (exit {returncode}): {detail}")
    try:
        json.loads(stdout)
    except ValueError:
        raise GuestError(kind, f"the tool's output is not JSON: {stdout[:80]!r}") from None
    return stdout


def held_tool_argv(workload: str, heap_mb: float | None = None) -> list[str]:
    """The command line of one held instance of a tool workload: the standard tool, run
    once on the standard input, then idle (READY_LINE on stdout once it is)."""
    language = WORKLOAD_LANGUAGES[workload]
    return tool_argv(language, tool_source(language), heap_mb, held_input=tool_input(0))


def wait_ready(stream, seconds: float) -> bool:
    """Whether READY_LINE arrives on `stream` (a held instance's stdout) within `seconds`."""
    deadline = time.monotonic() + seconds
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if not selector.select(left):
                return False
            line = stream.readline()
            if not line:  # end of file: the instance is gone
                return False
            if line.decode(errors="replace").strip() == READY_LINE:
                return True
    return False
