"""V8 isolates on workerd: a Dynamic Worker per call, created by a Worker Loader binding.

Opening the sandbox starts labkit's own workerd (workerd.py, next to this file) with one host worker
(labkit/guests/v8_host.js). Each `cold_call` asks it, over loopback HTTP, to load a NEW
isolate from the standard workload's JavaScript (an anonymous dynamic worker: created for
this request, discarded after it), run fib(n) in it and answer; `warm_call` reuses one
long-lived isolate instead, so the difference between the two is what the isolate itself
costs. Guests get no network (globalOutbound null) and no bindings.

Limits: workerd enforces no CPU limit of its own (its limit enforcer is a no-op; the
`limits` of a dynamic worker are accepted and ignored), and a runaway loop blocks the
whole server, since its isolates share one thread. So labkit enforces a wall-clock limit
from outside: a call that takes longer than `Limits.cpu_seconds` raises LimitExceeded and
labkit restarts workerd. Memory: every isolate's V8 heap is capped at `Limits.memory_mb`
(`--max-old-space-size`); a guest past it aborts workerd, which labkit reports as
LimitExceeded and restarts. That flag bounds only the JS heap: ArrayBuffers and
WebAssembly memories live outside it, and open-source workerd has no hard per-isolate
memory cap. So labkit also caps the whole workerd process: while a call runs and after
it, labkit reads workerd's resident memory, and past `memory_budget()` (a base for workerd
itself plus `memory_mb` for each live isolate) it stops workerd, starts a fresh one and
raises LimitExceeded. Named isolates (`reuse=`) are capped at MAX_NAMED, and workerd is
recycled every RECYCLE_AFTER calls when no named isolate would be lost (it grows a few KiB
per new isolate otherwise).

Tool calls (`run_tool("javascript", source, input_json)`): the agent's plain script, which
declares `function tool(input)`, becomes one ES module with a small exported entry after it
(TOOL_ENTRY) and runs like `run_js`: a NEW isolate per call, the same caps, no network.

Output: a guest's return value is read up to MAX_RESULT_BYTES (past it: LimitExceeded,
nothing more is read); its console.log goes to workerd's log, which labkit keeps bounded.

Home notebook: notebooks/03_isolates_up_close.ipynb (Part 2).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import itertools
import json
import select
import shutil
import time
import uuid

import psutil

from ... import runtimes
from ...errors import (
    LIMIT_MEMORY,
    LIMIT_TIME,
    GuestError,
    LimitExceeded,
    NotOpen,
    NotSupported,
    Unavailable,
)
from ...measure import Memory, check_count, processes_memory, time_calls
from ...workload import STANDARD_N, check_n, tool_input, tool_source
from ..base import Availability, Capabilities, Limits, Sandbox
from . import workerd
from .workerd import WorkerdFailed, WorkerdServer

# A reader's module larger than this is a mistake, not an exercise (workerd allows 64 MiB).
MAX_SOURCE_BYTES = 1_000_000
# Budget for each held isolate when sizing max_live: ~2 MB measured, doubled for safety.
HOLD_BUDGET_BYTES = 4 * 2**20
MAX_LIVE = 5_000
# workerd's own resident memory, with room for its growth between recycles.
WORKERD_BASE_BYTES = 192 * 2**20
# Named isolates (`reuse=`) live until workerd restarts; each may hold memory_mb.
MAX_NAMED = 32
# Requests after which workerd is replaced, when no named isolate would be lost.
RECYCLE_AFTER = 2_000
# A guest's JSON answer larger than this is refused (unread).
MAX_RESULT_BYTES = 16 * 2**20
# Appended to an agent's tool script to make it a module: parse the input, call tool(input)
# (awaited: it may be async), hand back the JSON text of its result.
TOOL_ENTRY_NAME = "__labkit_tool_entry"
TOOL_ENTRY = f"""
;export async function {TOOL_ENTRY_NAME}(inputJson) {{
  if (typeof tool !== "function") {{
    throw new TypeError("the tool program declares no function tool(input)");
  }}
  const result = JSON.stringify(await tool(JSON.parse(inputJson)));
  return result === undefined ? "null" : result;
}}
"""
# Passes of each request in phases() (the least of them is kept).
PHASE_REPEATS = 3
# How often a running call checks workerd's memory and log size.
POLL_SECONDS = 0.02


def _fix_for_missing_workerd() -> str:
    if shutil.which("npm"):
        return "python -m labkit setup v8  (installs workerd from npm into .runtimes/)"
    return ("install Node.js and npm (Debian/Ubuntu: sudo apt-get install -y nodejs npm; "
            "others: https://nodejs.org), then: python -m labkit setup v8")


class V8Sandbox(Sandbox):
    kind = "v8"
    capabilities = Capabilities(
        family="isolate", cpu_cap="wall-clock",
        memory_cap="JS heap per isolate (--max-old-space-size), and a budget on all of "
                   "workerd for what lives outside the heap",
        guest_languages=("javascript",), exports=True, warm_calls=True, restart=True,
        tools=("javascript",), held_tools=("javascript",))
    live_counts = {"quick": 50, "full": 500}
    warm_how = ("one long-lived isolate reused (named, per program): its code loaded once, "
                "each call runs the function again")

    def __init__(self, limits: Limits | None = None):
        super().__init__(limits)
        self._server: WorkerdServer | None = None
        self._conn: http.client.HTTPConnection | None = None
        self._holds = itertools.count()
        self._named: dict[str, str] = {}  # name -> digest of the code it was created with
        self._hold_bytes = 0
        self._requests = 0
        self._proc: psutil.Process | None = None
        self._fresh = False  # workerd has served nothing since it (re)started

    @classmethod
    def check(cls) -> Availability:
        binary = runtimes.find_workerd()
        if binary is None:
            return Availability(cls.kind, False,
                                "workerd (Cloudflare's open-source Workers runtime) is not "
                                "installed", _fix_for_missing_workerd())
        return Availability(cls.kind, True, "", "")

    # --- life cycle ---------------------------------------------------------------
    def open(self) -> None:
        binary = runtimes.find_workerd()
        if binary is None:
            raise Unavailable(self.kind, "workerd is not installed", _fix_for_missing_workerd())
        self._server = WorkerdServer(binary, heap_mb=self.limits.memory_mb)
        try:
            self._server.start()
            self._fresh = True
        except (WorkerdFailed, OSError) as exc:
            self.close()
            raise Unavailable(self.kind, f"workerd ({binary}) would not start: {exc}",
                              "python -m labkit setup v8, then python -m labkit doctor") from None

    def close(self) -> None:
        self._disconnect()
        if self._server is not None:
            self._server.stop()
            self._server = None

    @property
    def server(self) -> WorkerdServer:
        """The workerd process behind this sandbox (its pid, port, log)."""
        if self._server is None or self._server.process is None:
            raise NotOpen(self.kind)
        return self._server

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    # --- the work -----------------------------------------------------------------
    def cold_call(self, n: int = STANDARD_N) -> int:
        """A NEW isolate loaded with fib.js, fib(n) run in it, the isolate discarded."""
        return self._request("GET", f"/cold?n={check_n(n)}")

    def warm_call(self, n: int = STANDARD_N) -> int:
        """fib(n) in one long-lived isolate, reused: the baseline without isolate creation."""
        return self._request("GET", f"/warm?n={check_n(n)}")

    def floor_call(self) -> None:
        """The same HTTP round trip to workerd, answered by the host worker itself: the
        path with no isolate loaded or called (the harness floor)."""
        if self._request("GET", "/floor") != 0:
            raise GuestError(self.kind, "the host worker's floor answer was not 0")

    def run_js(self, source: str, function: str = "fib", args=(), reuse: str | None = None):
        """Run the reader's own ES module in a fresh isolate: `function(*args)`, its value.

        `source` must export the function; args and the value travel as JSON. With `reuse`
        set to a name, the isolate of that name is kept and reused by later calls with the
        same name (module-level state survives); otherwise every call gets a new isolate.
        """
        if not isinstance(source, str):
            raise TypeError(f"source must be a string of JavaScript, got {type(source).__name__}")
        size = len(source.encode())
        if size > MAX_SOURCE_BYTES:
            raise ValueError(f"source is {size:,} bytes; at most {MAX_SOURCE_BYTES:,} allowed")
        if not isinstance(function, str) or not function.isidentifier():
            raise ValueError(f"function must be a JavaScript name, got {function!r}")
        if reuse is not None and not isinstance(reuse, str):
            raise TypeError(f"reuse must be a name (a string) or None, got {reuse!r}")
        if not isinstance(args, (list, tuple)):
            raise TypeError(f"args must be a list or tuple of arguments, got "
                            f"{type(args).__name__} {args!r:.60}")
        try:
            body = json.dumps({"source": source, "fn": function, "args": list(args),
                               "id": reuse}, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"args must be JSON values (numbers, strings, lists, dicts; not "
                            f"NaN or infinity): {exc}") from None
        if reuse is not None:
            self._claim_name(reuse, source)
        return self._request("POST", "/run", body)

    def _run_tool(self, language: str, source: str, input_json: str) -> str:
        """An agent's tool call: its script plus TOOL_ENTRY as one module, in a NEW isolate.

        The script is module code (strict mode) with no exports of its own; what tool()
        returns comes back as JSON text (a value JSON cannot hold is a GuestError).
        """
        if not isinstance(source, str):
            raise TypeError(f"source must be a string of JavaScript, got {type(source).__name__}")
        if not isinstance(input_json, str):
            raise TypeError(f"input_json must be JSON text (a str), got "
                            f"{type(input_json).__name__}")
        try:
            json.loads(input_json)
        except ValueError as exc:
            raise ValueError(f"input_json is not valid JSON: {exc}") from None
        result = self.run_js(source + "\n" + TOOL_ENTRY, TOOL_ENTRY_NAME, [input_json])
        if not isinstance(result, str):
            raise GuestError(self.kind, f"the tool entry answered {result!r:.80}, not JSON text")
        return result

    def warm_tool(self, language: str, source: str, input_json: str) -> str:
        """The warm path of a tool call: the same script plus TOOL_ENTRY, loaded ONCE into a
        named isolate (keyed by the program's hash) and called again on every call.

        Module-level state of the tool survives between calls (that is what warm means);
        same caps, same JSON answer as the cold `run_tool`."""
        self._require_open()
        if language not in self.capabilities.tools:
            raise NotSupported(self.kind, f"warm_tool() in {language!r}", ["v8"])
        if not isinstance(source, str) or not isinstance(input_json, str):
            raise TypeError("source and input_json must be strings (JavaScript, JSON text)")
        program = source + "\n" + TOOL_ENTRY
        name = "warm-tool-" + hashlib.sha256(program.encode()).hexdigest()[:16]
        result = self.run_js(program, TOOL_ENTRY_NAME, [input_json], reuse=name)
        if not isinstance(result, str):
            raise GuestError(self.kind, f"the tool entry answered {result!r:.80}, not JSON text")
        return result

    def _claim_name(self, name: str, source: str) -> None:
        """A named isolate keeps its first code: refuse new code under the same name, and
        more than MAX_NAMED names (each keeps its memory until workerd restarts)."""
        digest = hashlib.sha256(source.encode()).hexdigest()
        known = self._named.get(name)
        if known is None:
            if len(self._named) >= MAX_NAMED:
                raise ValueError(f"at most {MAX_NAMED} named isolates (reuse=) live at once, "
                                 "each keeping its memory; call box.restart() to drop them")
            self._named[name] = digest
        elif known != digest:
            raise ValueError(f"the isolate reuse={name!r} already runs other code; an "
                             "isolate's code cannot change: use a new name, or "
                             "box.restart() to drop the old one")

    def memory_budget(self) -> int:
        """Bytes of resident memory workerd may use before labkit stops it: a base for
        workerd itself, memory_mb per live isolate (the one running, named ones, held ones).
        """
        per_isolate = int(self.limits.memory_mb * 2**20)
        return WORKERD_BASE_BYTES + per_isolate * (1 + len(self._named)) + self._hold_bytes

    def call_export(self, source: str, export: str, *args):
        """`run_js` in the shape the wasm sandbox uses: export(*args) in a fresh isolate."""
        return self.run_js(source, export, args)

    @contextlib.contextmanager
    def hold(self, count: int, workload: str = "fib"):
        """`count` isolates alive at once inside workerd; for "tool-js", each with the
        standard tool loaded and called once (the tool call's module, as `run_tool` runs it).

        workerd has no call to unload a named isolate, so they are released by restarting
        workerd after the block (a few tens of milliseconds).
        """
        self.check_live_count(count)
        language = self.held_language(workload)
        prefix = f"{next(self._holds)}-{uuid.uuid4().hex[:8]}"
        self._hold_bytes = count * HOLD_BUDGET_BYTES
        timeout = max(self.limits.cpu_seconds, 5 + 0.05 * count)
        try:
            if language is None:
                self._request("POST", f"/hold?prefix={prefix}&count={count}", timeout=timeout)
            else:
                body = json.dumps({"source": tool_source(language) + "\n" + TOOL_ENTRY,
                                   "fn": TOOL_ENTRY_NAME, "args": [tool_input(0)]})
                self._request("POST", f"/hold-tool?prefix={prefix}&count={count}", body,
                              timeout=timeout)
            yield [f"hold-{prefix}-{i}" for i in range(count)]
        finally:
            self._hold_bytes = 0
            self.restart()

    def extra_figures(self, calls: int = 100) -> dict:
        """For `labkit bench`: the warm call (one isolate reused) timed like the cold one."""
        stats = time_calls(self.warm_call, check_count("calls", calls), warmup=5).stats
        return {"warm_ms_p50": stats.median_ms, "warm_ms_p99": stats.p99_ms,
                "warm_per_second": stats.per_second}

    def _phases(self, workload: str) -> dict[str, float]:
        """A cold call as workerd serves it, split by difference between requests timed
        here: "http" (a no-op round trip to the host worker, /ping), "load" (a request that
        loads a NEW isolate with fib.js and calls into it, less the same request to that
        isolate once it exists), "call" (that second request, less the round trip: the
        dispatch into the isolate and its answer). Each request is the least of
        PHASE_REPEATS (a fixed cost is best read from its fastest pass), so the three add up
        to the new-isolate request exactly: there is no "other". The one-off isolates are
        named so a second request reaches them; workerd is restarted afterwards (it has no
        call to unload one) unless the reader's own named isolates live there."""
        if workload != "fib":
            raise NotSupported(self.kind, f"phases() of the {workload} workload (only fib)",
                               [])
        clock = time.perf_counter_ns
        loads, calls, hops = [], [], []
        try:
            for _ in range(PHASE_REPEATS):
                name = uuid.uuid4().hex[:12]
                hops.append(self._ping_ns())
                for path, times in ((f"/phase-load?id={name}", loads),
                                    (f"/phase-call?id={name}&n=0", calls)):
                    t0 = clock()
                    answer = self._request("GET", path)
                    times.append(clock() - t0)
                    if answer != 0:
                        raise GuestError(self.kind, f"phases: fib(0) answered {answer!r}")
        finally:
            if not self._named and not self._hold_bytes:
                self.restart()
        hop, load, call = min(hops), min(loads), min(calls)
        return {"http": hop / 1e6, "load": max(0, load - call) / 1e6,
                "call": max(0, call - hop) / 1e6}

    def _ping_ns(self) -> int:
        """One /ping round trip (the host worker answers "ok", no isolate), in ns."""
        server = self.server
        if self._conn is None:
            self._conn = http.client.HTTPConnection("127.0.0.1", server.port,
                                                    timeout=self.limits.cpu_seconds)
        t0 = time.perf_counter_ns()
        try:
            self._conn.request("GET", "/ping", headers=server.headers())
            response = self._conn.getresponse()
            body = response.read(64)
        except (OSError, http.client.HTTPException) as exc:
            self._disconnect()
            raise GuestError(self.kind, f"the host worker did not answer /ping: {exc}") from None
        took = time.perf_counter_ns() - t0
        if response.status != 200 or body != b"ok":
            raise GuestError(self.kind, f"the host worker answered /ping with {response.status}")
        return took

    def _shared_footprint(self) -> tuple[Memory, str]:
        """workerd itself, holding no isolate (the caller restarts it first): the one
        process every isolate lives in."""
        return self.footprint(), "workerd itself (the process every isolate lives in), idle"

    def footprint(self) -> Memory:
        """workerd's memory: the one process all isolates live in."""
        if self._server is None or self._server.pid is None:
            return Memory()
        with contextlib.suppress(psutil.NoSuchProcess):
            return processes_memory([psutil.Process(self._server.pid)])
        return Memory()

    def max_live(self) -> int:
        room = psutil.virtual_memory().available // HOLD_BUDGET_BYTES
        return int(max(1, min(MAX_LIVE, room)))

    def versions(self) -> dict:
        binary = runtimes.find_workerd()
        if binary is None:
            return {}
        return {"workerd": (self._server or WorkerdServer(binary)).version()}

    # --- talking to the host worker -----------------------------------------------
    def _request(self, method: str, path: str, body: str | None = None,
                 timeout: float | None = None):
        """One HTTP call to the host worker; its JSON answer's value, or a labkit error.

        While it waits, it watches workerd's memory and log every POLL_SECONDS.
        """
        server = self.server
        self._fresh = False
        limit = timeout or self.limits.cpu_seconds
        if self._conn is None:
            self._conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=limit)
        headers = server.headers()
        if body:
            headers["Content-Type"] = "application/json"
        try:
            self._conn.request(method, path, body=body, headers=headers)
            self._wait_for_answer(time.monotonic() + limit)
            self._conn.sock.settimeout(limit)
            response = self._conn.getresponse()
            payload = response.read(MAX_RESULT_BYTES + 1)
        except TimeoutError:
            self.restart(force=True)
            raise LimitExceeded(self.kind, LIMIT_TIME,
                                f"no answer within {limit:g} s of wall-clock time; workerd "
                                "enforces no CPU limit itself, so labkit stopped it and "
                                "started a fresh one") from None
        except (OSError, http.client.HTTPException) as exc:
            self._disconnect()
            self._raise_for_crash(exc)
        except BaseException:
            # KeyboardInterrupt mid-request (or a cap labkit enforced): the guest may still
            # be running (an endless loop blocks all of workerd), so start afresh rather
            # than leave the next call stuck.
            with contextlib.suppress(Exception):
                self.restart(force=True)
            raise
        if len(payload) > MAX_RESULT_BYTES:
            self._disconnect()
            raise LimitExceeded(self.kind, "output", f"the answer passed "
                                f"{MAX_RESULT_BYTES:,} bytes; labkit read no further")
        self._after_request()
        return self._value(response.status, payload)

    def _wait_for_answer(self, deadline: float) -> None:
        """Block until the answer starts to arrive, checking workerd's memory and log."""
        sock = self._conn.sock
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            ready, _, _ = select.select([sock], [], [], min(POLL_SECONDS, remaining))
            if ready:
                return
            self._check_memory()
            self.server.trim_log()

    def _after_request(self) -> None:
        """Memory and log checked once more; workerd recycled now and then."""
        try:
            self._check_memory()
        except LimitExceeded:
            self.restart(force=True)
            raise
        self.server.trim_log()
        self._requests += 1
        if self._requests >= RECYCLE_AFTER and not self._named and not self._hold_bytes:
            self.restart()

    def _check_memory(self) -> None:
        server = self.server
        try:
            if self._proc is None or self._proc.pid != server.pid:
                self._proc = psutil.Process(server.pid)
            rss = self._proc.memory_info().rss
        except psutil.Error:
            return  # it died: the request itself reports why
        budget = self.memory_budget()
        if rss > budget:  # the caller restarts workerd
            raise LimitExceeded(
                self.kind, LIMIT_MEMORY,
                f"workerd held {rss / 2**20:,.0f} MiB, past its budget of "
                f"{budget / 2**20:,.0f} MiB ({WORKERD_BASE_BYTES // 2**20} MiB + "
                f"{self.limits.memory_mb:g} MB per live isolate); open-source workerd caps "
                "only each isolate's JS heap, not its ArrayBuffers or wasm memories, so "
                "labkit stopped all of workerd and started a fresh one")

    def _value(self, status: int, payload: bytes):
        try:
            answer = json.loads(payload)
        except ValueError:
            raise GuestError(self.kind, f"the host worker answered {status} with "
                                        f"{payload[:200]!r}") from None
        if status == 200 and "value" in answer:
            return answer["value"]
        stage, name = answer.get("stage"), answer.get("name") or "Error"
        # workerd's load errors read "Failed to start Worker:\nUncaught SyntaxError: ...\n
        #   at guest.js:1:35": one line, without the preamble, reads better in a notebook.
        error = " ".join(str(answer.get("error", "")).split())
        error = error.removeprefix("Failed to start Worker: ")
        if "hung" in error:
            raise GuestError(self.kind, "guest.js never finished: workerd found that its code "
                                        "hung (a promise that never settles?)")
        if stage == "load":
            raise GuestError(self.kind, f"guest.js did not load in a new isolate: {error}")
        raise GuestError(self.kind, f"guest.js raised {name}: {error}")

    def _raise_for_crash(self, exc: Exception):
        """workerd dropped the connection: find out why, restart it, raise accordingly."""
        server = self._server
        with contextlib.suppress(Exception):
            server.process.wait(1.0)
        alive = server.running()
        log = server.log_tail(8)
        self.restart()
        if "heap limit" in log or "out of memory" in log:
            raise LimitExceeded(self.kind, LIMIT_MEMORY,
                                f"a V8 heap passed {self.limits.memory_mb} MB; workerd aborted "
                                "and labkit started a fresh one") from None
        state = "still running" if alive else "exited"
        raise GuestError(self.kind, f"workerd dropped the request ({exc!r}; it {state}); "
                                    f"restarted it. Its log ends: {log[-300:]}") from None

    def restart(self, force: bool = False) -> None:
        """A fresh workerd on the same port: every isolate the old one held is gone."""
        self._disconnect()
        self._named.clear()
        self._requests = 0
        if self._server is not None:
            self._server.restart(force)
            self._fresh = True

    def fresh_runtime(self) -> None:
        """A workerd that has served nothing yet (restarted unless it already is one), so a
        density point does not count garbage earlier calls left in the shared process."""
        if not self._fresh:
            self.restart()

    @classmethod
    def sweep_leftovers(cls) -> list[int]:
        """Stop the workerd servers of killed labs (their owner process is gone)."""
        return workerd.stop_leftovers()

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
