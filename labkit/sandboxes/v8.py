"""V8 isolates on workerd: a Dynamic Worker per call, created by a Worker Loader binding.

Opening the sandbox starts labkit's own workerd (labkit/workerd.py) with one host worker
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
LimitExceeded and restarts.

Home notebook: notebooks/03_isolates_up_close.ipynb (Part 2).
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import shutil
import uuid

import psutil

from .. import runtimes
from ..errors import GuestError, LimitExceeded, Unavailable
from ..measure import Memory, check_count, processes_memory, time_calls
from ..workerd import WorkerdFailed, WorkerdServer
from ..workload import STANDARD_N, check_n
from .base import Availability, Limits, Sandbox

# A reader's module larger than this is a mistake, not an exercise (workerd allows 64 MiB).
MAX_SOURCE_BYTES = 1_000_000
# Budget for each held isolate when sizing max_live: ~2 MB measured, doubled for safety.
HOLD_BUDGET_BYTES = 4 * 2**20
MAX_LIVE = 5_000


def _fix_for_missing_workerd() -> str:
    if shutil.which("npm"):
        return "python -m labkit setup v8  (installs workerd from npm into .runtimes/)"
    return ("install Node.js and npm (Debian/Ubuntu: sudo apt-get install -y nodejs npm; "
            "others: https://nodejs.org), then: python -m labkit setup v8")


class V8Sandbox(Sandbox):
    kind = "v8"
    default_live = 50

    def __init__(self, limits: Limits | None = None):
        super().__init__(limits)
        self._server: WorkerdServer | None = None
        self._conn: http.client.HTTPConnection | None = None
        self._holds = itertools.count()

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
            raise RuntimeError("the v8 sandbox is not open: use it in a `with` block")
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
        try:
            body = json.dumps({"source": source, "fn": function, "args": list(args),
                               "id": reuse})
        except TypeError as exc:
            raise TypeError(f"args must be JSON values (numbers, strings, lists, dicts): "
                            f"{exc}") from None
        return self._request("POST", "/run", body)

    def call_export(self, source: str, export: str, *args):
        """`run_js` in the shape the wasm sandbox uses: export(*args) in a fresh isolate."""
        return self.run_js(source, export, args)

    @contextlib.contextmanager
    def hold(self, count: int):
        """`count` isolates alive at once inside workerd.

        workerd has no call to unload a named isolate, so they are released by restarting
        workerd after the block (a few tens of milliseconds).
        """
        check_count("count", count, maximum=self.max_live())
        prefix = f"{next(self._holds)}-{uuid.uuid4().hex[:8]}"
        try:
            self._request("POST", f"/hold?prefix={prefix}&count={count}",
                          timeout=max(self.limits.cpu_seconds, 5 + 0.05 * count))
            yield [f"hold-{prefix}-{i}" for i in range(count)]
        finally:
            self.restart()

    def extra_figures(self, n: int = 100) -> dict:
        """For `labkit bench`: the warm call (one isolate reused) timed like the cold one."""
        stats = time_calls(self.warm_call, check_count("n", n), warmup=5).stats
        return {"warm_ms_p50": stats.median_ms, "warm_ms_p99": stats.p99_ms,
                "warm_per_second": stats.per_second}

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
        """One HTTP call to the host worker; its JSON answer's value, or a labkit error."""
        server = self.server
        limit = timeout or self.limits.cpu_seconds
        if self._conn is None:
            self._conn = http.client.HTTPConnection("127.0.0.1", server.port)
        self._conn.timeout = limit
        if self._conn.sock is not None:
            self._conn.sock.settimeout(limit)
        try:
            self._conn.request(method, path, body=body,
                               headers={"Content-Type": "application/json"} if body else {})
            response = self._conn.getresponse()
            payload = response.read()
        except TimeoutError:
            self.restart(force=True)
            raise LimitExceeded(self.kind, "time",
                                f"no answer within {limit:g} s of wall-clock time; workerd "
                                "enforces no CPU limit itself, so labkit stopped it and "
                                "started a fresh one") from None
        except (OSError, http.client.HTTPException) as exc:
            self._disconnect()
            self._raise_for_crash(exc)
        except BaseException:
            # KeyboardInterrupt mid-request: the guest may still be running (an endless loop
            # blocks all of workerd), so start afresh rather than leave the next call stuck.
            with contextlib.suppress(Exception):
                self.restart(force=True)
            raise
        return self._value(response.status, payload)

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
            raise LimitExceeded(self.kind, "memory",
                                f"a V8 heap passed {self.limits.memory_mb} MB; workerd aborted "
                                "and labkit started a fresh one") from None
        state = "still running" if alive else "exited"
        raise GuestError(self.kind, f"workerd dropped the request ({exc!r}; it {state}); "
                                    f"restarted it. Its log ends: {log[-300:]}") from None

    def restart(self, force: bool = False) -> None:
        """A fresh workerd on the same port: every isolate the old one held is gone."""
        self._disconnect()
        if self._server is not None:
            self._server.restart(force)

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
