"""The workloads: the same computation in every kind of sandbox, checked by the host.

fib: every sandbox computes fib(n) iteratively (fib(0)=0, fib(1)=1) from guest code kept in
labkit/guests/ (WAT for wasm, JavaScript for V8, POSIX shell for processes and
containers), so a start-latency comparison compares sandboxes, not workloads, and every
answer can be checked against `expected`. It is the floor: the smallest program in each
sandbox's own language.

The tool call: one realistic program an agent would write (guests/tool.js and tool.py, the
same algorithm): parse a day of expense records (~30 KB of JSON), filter, aggregate, return a
small JSON. `tool_input(seed)` makes the input, `expected_tool_output` is the host's own
answer (computed here, not by the guest's code), `check_tool_output` compares. Process-style
hosts run `tool_program(language, source)`: the tool plus a wrapper that reads the input on
stdin, calls tool and prints its result as JSON.
"""

import functools
import json
import random
from collections import Counter
from functools import cache
from importlib import resources

# fib(78) is the largest that every guest computes exactly (JavaScript numbers are
# exact up to 2**53; fib(79) is past it).
MAX_N = 78
# Small enough that the work is negligible next to starting a sandbox.
STANDARD_N = 20

GUEST_FILES = {"wat": "fib.wat", "js": "fib.js", "sh": "fib.sh"}


def check_n(n) -> int:
    """Refuse inputs the guests cannot answer exactly, naming the bad value."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be a whole number, got {n!r}")
    if not 0 <= n <= MAX_N:
        raise ValueError(f"n must be between 0 and {MAX_N}, got {n}")
    return n


@cache
def expected(n: int = STANDARD_N) -> int:
    """The right answer, computed here on the host, to check what a guest returns.

    Cached: it is checked after every cold call, and must cost nothing next to one."""
    a, b = 0, 1
    for _ in range(check_n(n)):
        a, b = b, a + b
    return a


def guest_source(language: str) -> str:
    """The guest code for one language: 'wat', 'js' or 'sh'."""
    try:
        name = GUEST_FILES[language]
    except KeyError:
        valid = ", ".join(sorted(GUEST_FILES))
        raise ValueError(f"no guest for language {language!r}; valid ones are: {valid}") from None
    return resources.files("labkit.guests").joinpath(name).read_text()


# --- the tool call ----------------------------------------------------------------------------
TOOL_FILES = {"javascript": "tool.js", "python": "tool.py"}
TOOL_LANGUAGES = tuple(TOOL_FILES)
# Records in one input: about 30 KB of JSON, inside the 10-50 KB.
TOOL_RECORDS = 200
DEPARTMENTS = ("engineering", "sales", "support", "finance", "legal", "research")
EMPLOYEES = tuple(f"{first}.{last}" for first in ("ada", "bo", "cy", "di", "ed", "flo")
                  for last in ("ng", "ortiz", "park", "quinn"))
CATEGORIES = ("travel", "meals", "software", "hardware", "training", "office")
NOTES = ("client dinner", "train to the office", "yearly licence", "refund pending",
         "conference ticket", "Refund of a double charge", "taxi after late deploy",
         "team lunch", "replacement charger", "books")


def tool_source(language: str) -> str:
    """The standard tool program for one language: 'javascript' or 'python'."""
    try:
        name = TOOL_FILES[language]
    except KeyError:
        valid = ", ".join(TOOL_LANGUAGES)
        raise ValueError(f"no tool program for language {language!r}; valid ones are: "
                         f"{valid}") from None
    return resources.files("labkit.guests").joinpath(name).read_text()


def tool_input(seed: int = 0) -> str:
    """A day of expense records as JSON text, the same for the same seed on every machine."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be a whole number, got {seed!r}")
    rng = random.Random(seed)
    records = [{
        "id": f"exp-{seed}-{i:04d}",
        "time": f"{rng.randrange(7, 22):02d}:{rng.randrange(60):02d}",
        "employee": rng.choice(EMPLOYEES),
        "department": rng.choice(DEPARTMENTS),
        "category": rng.choice(CATEGORIES),
        "amount_cents": rng.randrange(150, 250_000),
        "currency": rng.choices(("EUR", "USD", "GBP"), weights=(8, 1, 1))[0],
        "status": rng.choices(("approved", "pending", "rejected"), weights=(7, 2, 1))[0],
        "note": rng.choice(NOTES),
    } for i in range(TOOL_RECORDS)]
    day = {"date": f"2026-04-{seed % 28 + 1:02d}", "currency": "EUR",
           "limit_cents": 200_000, "records": records}
    return json.dumps(day, separators=(",", ":"))


def expected_tool_output(input_json: str) -> dict:
    """The host's own answer for one input (written apart from the guests' programs); a
    fresh dict each time, from a cache of the few inputs a run uses, so checking a call's
    answer costs the harness next to nothing (bench times every call with its check)."""
    return json.loads(_expected_json(input_json))


@functools.lru_cache(maxsize=8)
def _expected_json(input_json: str) -> str:
    day = json.loads(input_json)
    kept = [r for r in day["records"]
            if r["status"] == "approved" and r["currency"] == day["currency"]]
    departments, employees = Counter(), Counter()
    for r in kept:
        departments[r["department"]] += r["amount_cents"]
        employees[r["employee"]] += r["amount_cents"]
    top = sorted(employees.items(), key=lambda pair: (-pair[1], pair[0]))[:3]
    return json.dumps({
        "date": day["date"],
        "count": len(kept),
        "total_cents": sum(r["amount_cents"] for r in kept),
        "by_department": dict(departments),
        "top_spenders": [{"employee": name, "cents": cents} for name, cents in top],
        "over_limit": sorted(r["id"] for r in kept if r["amount_cents"] > day["limit_cents"]),
        "refund_notes": sum("refund" in r["note"].lower() for r in kept),
    })


def check_tool_output(input_json: str, output_json: str) -> dict:
    """The guest's answer (JSON text), parsed and compared with the host's; ValueError
    naming the first difference if it is not valid JSON or not the right answer."""
    try:
        answer = json.loads(output_json)
    except (TypeError, ValueError):
        raise ValueError(f"the tool's output is not JSON: {str(output_json)[:80]!r}") from None
    right = expected_tool_output(input_json)
    if answer != right:
        if not isinstance(answer, dict):
            raise ValueError(f"the tool returned {type(answer).__name__}, expected an object")
        wrong = sorted(k for k in set(right) | set(answer) if answer.get(k) != right.get(k))
        raise ValueError(f"the tool's answer differs from the host's in {', '.join(wrong)}")
    return answer


# How a process-style host (node, python3 in a process or a container) runs a tool: the
# program, then this, which reads the input on stdin, calls tool and prints its result.
TOOL_WRAPPERS = {
    "javascript": """
;(async () => {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const result = await tool(JSON.parse(Buffer.concat(chunks).toString("utf8")));
  process.stdout.write(JSON.stringify(result === undefined ? null : result));
})().catch((error) => {
  process.stderr.write(String((error && error.stack) || error) + "\\n");
  process.exitCode = 1;
});
""",
    "python": """
import json as _labkit_json, sys as _labkit_sys
_labkit_sys.stdout.write(_labkit_json.dumps(tool(_labkit_json.loads(_labkit_sys.stdin.buffer.read()))))
""",
}


def tool_program(language: str, source: str) -> str:
    """A tool's source with the wrapper that makes it a program: stdin in, JSON out."""
    if language not in TOOL_WRAPPERS:
        raise ValueError(f"no tool wrapper for language {language!r}; valid ones are: "
                         f"{', '.join(TOOL_WRAPPERS)}")
    if not isinstance(source, str) or not source.strip():
        raise ValueError("the tool's source must be a non-empty string")
    return f"{source}\n{TOOL_WRAPPERS[language]}"


# How a held tool instance idles (for memory): the program, then this, which runs the tool
# once on the input carried in the program itself (stdin stays free), says READY_LINE, and
# waits to be killed: the runtime as it is between two calls, its tool loaded and run.
READY_LINE = "labkit-ready"
TOOL_HELD_WRAPPERS = {
    "javascript": """
;(async () => {
  await tool(JSON.parse(%(input)s));
  process.stdout.write("%(ready)s\\n");
  setInterval(() => {}, 1 << 30);
})().catch((error) => {
  process.stderr.write(String((error && error.stack) || error) + "\\n");
  process.exit(1);
});
""",
    "python": """
import json as _labkit_json, sys as _labkit_sys, time as _labkit_time
tool(_labkit_json.loads(%(input)s))
_labkit_sys.stdout.write("%(ready)s\\n")
_labkit_sys.stdout.flush()
while True:
    _labkit_time.sleep(3600)
""",
}


def tool_held_program(language: str, source: str, input_json: str) -> str:
    """A tool's source as a program that runs it once on `input_json`, prints READY_LINE
    and idles: what a kind holds when it weighs a tool's runtime (bench's memory figure of
    a tool workload)."""
    tool_program(language, source)  # the same checks of language and source
    # JSON text is a string literal in both languages once quoted as JSON
    return f"{source}\n" + TOOL_HELD_WRAPPERS[language] % {
        "input": json.dumps(input_json), "ready": READY_LINE}


# --- workloads as a dimension of bench ------------------------------------------------------
# fib: the floor (labkit's smallest program in each sandbox's own language); the tool calls:
# the standard tool program, in the language each names.
WORKLOADS = ("fib", "tool-js", "tool-py")
WORKLOAD_LANGUAGES = {"tool-js": "javascript", "tool-py": "python"}


def check_workload(name) -> str:
    """A workload's name, or ValueError naming the valid ones."""
    if name not in WORKLOADS:
        raise ValueError(f"unknown workload {name!r}; valid ones are: {', '.join(WORKLOADS)}")
    return name


def can_host(capabilities, workload: str) -> bool:
    """Whether a kind (by its Capabilities) can run this workload: every kind runs fib."""
    language = WORKLOAD_LANGUAGES.get(check_workload(workload))
    return language is None or language in capabilities.tools


def workload_call(box, workload: str, seed: int = 0):
    """One checked cold call of `workload` in an open sandbox, as a function of no arguments
    (what bench times): fib through cold_call checked as run_standard checks it, a tool
    call through run_tool with the standard program and input, its answer compared with the
    host's (GuestError if wrong).
    A workload the kind cannot host raises NotSupported when called, as run_tool does."""
    if check_workload(workload) == "fib":
        # run_standard's check, bound once: one call per call, not three (its own, its
        # not-open guard, cold_call's), so the harness stays well inside 5% of wasm's µs
        cold, right = box.cold_call, expected(STANDARD_N)

        def fib() -> int:
            answer = cold()
            if answer != right:
                from .errors import GuestError
                raise GuestError(box.kind, f"wrong answer for fib({STANDARD_N}): {answer!r}, "
                                           f"expected {right}")
            return answer

        return fib
    language = WORKLOAD_LANGUAGES[workload]
    source, given = tool_source(language), tool_input(seed)

    def call() -> dict:
        from .errors import GuestError  # here: errors imports nothing, but stay lazy
        answer = box.run_tool(language, source, given)
        try:
            return check_tool_output(given, answer)
        except ValueError as exc:
            raise GuestError(box.kind, f"{workload}: {exc}") from None

    return call
