"""Warm paths: the same workloads through a sandbox made (or kept) ahead of the call.

A cold call pays for a fresh sandbox every time; a warm call reuses what a kind can keep
ready: a V8 isolate, a wasmtime instance slot from the pooling allocator, a running
interpreter, a running container. Each kind with one says what it is in one phrase
(`warm_how`, copied into a bench row's extras["warm_how"]) and offers `warm_call(n)` (fib)
and `warm_tool(language, source, input_json)` (the same tool source, unchanged) for every
tool language it hosts. `capabilities.warm_calls` says whether a kind has one; a kind
without one has a reason here (`no_warm_reason`), never a fake.
"""

from __future__ import annotations

from ..errors import GuestError
from ..workload import (
    STANDARD_N,
    WORKLOAD_LANGUAGES,
    check_tool_output,
    check_workload,
    expected,
    tool_input,
    tool_source,
)

# Why a kind has no warm path in labkit (kinds not named get the general sentence).
NO_WARM_PATH = {
    "bwrap": "bubblewrap makes its namespaces for one command and ends with it; a warm "
             "bwrap is a long-running interpreter inside one, which labkit does not build",
    "gvisor": "a warm gVisor sandbox (runsc exec into a running one) is not built in labkit: "
              "each call here starts a fresh sandbox",
    "microvm": "a warm micro-VM (a booted guest kept waiting for calls, or a snapshot "
               "restore) is not built in labkit: each call here boots a fresh VM",
}


def no_warm_reason(kind: str) -> str:
    """Why `kind` has no warm path, in one sentence a bench row can carry."""
    why = NO_WARM_PATH.get(kind, f"{kind} keeps nothing ready between calls in labkit")
    return f"no warm path (capabilities.warm_calls is False): {why}"


def warm_how(box) -> str:
    """The kind's one phrase for what its warm path is ("" if it has none)."""
    return getattr(box, "warm_how", "") if box.capabilities.warm_calls else ""


def warm_workload_call(box, workload: str, seed: int = 0):
    """One checked warm call of `workload` in an open sandbox, as a function of no
    arguments (what bench times): fib through warm_call, a tool through warm_tool with the
    standard program and input; a wrong answer is a GuestError, as in the cold path."""
    if check_workload(workload) == "fib":
        right = expected(STANDARD_N)

        def fib() -> int:
            answer = box.warm_call(STANDARD_N)
            if answer != right:
                raise GuestError(box.kind, f"wrong answer for fib({STANDARD_N}) on the warm "
                                           f"path: {answer!r}, expected {right}")
            return answer

        return fib
    language = WORKLOAD_LANGUAGES[workload]
    source, given = tool_source(language), tool_input(seed)

    def tool() -> dict:
        answer = box.warm_tool(language, source, given)
        try:
            return check_tool_output(given, answer)
        except ValueError as exc:
            raise GuestError(box.kind, f"{workload} (warm): {exc}") from None

    return tool
