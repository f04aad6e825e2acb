"""Warm paths: the same workloads through a sandbox made (or kept) ahead of the call.

A cold call pays for a fresh sandbox every time; a warm call reuses what a kind can keep
ready: a V8 isolate, a wasmtime instance slot from the pooling allocator, a running
interpreter, a running container. Each kind with one says what it is in one phrase
(`warm_how`, copied into a bench row's extras["warm_how"]) and offers `warm_call(n)` (fib)
and `warm_tool(language, source, input_json)` (the same tool source, unchanged) for every
tool language it hosts. `capabilities.warm_calls` says whether a kind has one; a kind
without one has a reason here (`no_warm_reason`), never a fake.

The pre-created path sits between the two: a fresh sandbox per call, as cold, but made ahead
off the clock (`precreate`) and only started on the call (`start_precreated`), as a pool of
made-ahead containers serves calls; `capabilities.precreated` says which kinds have it.
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


def no_precreated_reason(kind: str) -> str:
    """Why `kind` has no pre-created path, in one sentence a bench row can carry."""
    return (f"no pre-created path (capabilities.precreated is False): `create` ahead and "
            f"`start` on the call is the OCI containers' split (runc, crun, Podman, Docker), "
            f"which {kind} is not built on in labkit; its made-ahead form, if any, is its "
            "warm path")


def warm_how(box, path: str = "warm") -> str:
    """The kind's one phrase for what its `path` ("warm" or "precreated") is ("" if it has
    none)."""
    if path == "precreated":
        return getattr(box, "precreated_how", "") if box.capabilities.precreated else ""
    return getattr(box, "warm_how", "") if box.capabilities.warm_calls else ""


def precreated_workload_call(box, workload: str):
    """(prepare, call) for timing the pre-created path: `prepare` makes the next call's
    sandbox (to be run before each call, off the clock), `call` starts it and checks its
    answer as a cold call's is checked; a wrong answer is a GuestError."""
    check_workload(workload)

    def prepare() -> None:
        box.precreate(workload)

    if workload == "fib":
        right = expected(STANDARD_N)

        def fib() -> int:
            answer = box.start_precreated()
            if answer != right:
                raise GuestError(box.kind, f"wrong answer for fib({STANDARD_N}) on the "
                                           f"pre-created path: {answer!r}, expected {right}")
            return answer

        return prepare, fib
    given = tool_input(0)

    def tool() -> dict:
        try:
            return check_tool_output(given, box.start_precreated())
        except ValueError as exc:
            raise GuestError(box.kind, f"{workload} (pre-created): {exc}") from None

    return prepare, tool


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
