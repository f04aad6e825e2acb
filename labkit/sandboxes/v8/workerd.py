"""labkit's own workerd server: started for a `with` block, never left running.

workerd (Cloudflare's open-source Workers runtime) runs as a separate process. labkit
writes its config into a private run folder, hands it a socket already listening on
127.0.0.1 at a free port (so two labs on one machine never race for a port), waits until
the host worker answers, and stops it again: at the end of the `with` block, on an
exception or KeyboardInterrupt, at interpreter exit (atexit), and, on Linux, when the
Python process that started it dies (a parent-death signal). A workerd whose owner was
killed anyway is found through the pidfile in its run folder and stopped at the next start.

Only labkit may talk to it: every request must carry a per-run secret (a header the host
worker checks), written only into the config in the run folder, which sits in a folder
private to this user (paths.private_dir). Its log is bounded: past LOG_MAX_BYTES the older
part is dropped with a marker, and `log_tail` reads only the end.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
from importlib import resources
from pathlib import Path

import psutil

from ...errors import LabkitError
from ...paths import private_dir
from .._owned import die_with_parent

# How long workerd gets to answer its first request (it compiles the host worker first).
READY_TIMEOUT_S = 15.0
# How long a polite SIGTERM gets before SIGKILL.
STOP_GRACE_S = 2.0
GUEST_FILES = ("v8_host.js", "fib.js")
CONFIG_TEMPLATE = "v8_config.capnp"
PIDFILE = "server.json"
# The header carrying the per-run secret; a request without it gets 403.
TOKEN_HEADER = "X-Labkit-Token"
# workerd's log (guest console.log lands there too) is cut back to its last LOG_KEEP_BYTES
# whenever it passes LOG_MAX_BYTES; log_tail reads at most LOG_TAIL_BYTES from the end.
LOG_MAX_BYTES = 4 * 2**20
LOG_KEEP_BYTES = 64 * 2**10
LOG_TAIL_BYTES = 64 * 2**10

# Strong references: a server dropped without stop() must still be stopped at exit.
_running: set[WorkerdServer] = set()


class WorkerdFailed(LabkitError):
    """workerd would not start, or died; carries the end of its log."""


def state_dir() -> Path:
    """Where run folders live: one per server, in a folder private to this user."""
    return private_dir("workerd")


def _process_if(pid: int | None, create_time: float | None) -> psutil.Process | None:
    """The process with that pid, only if it is the same one (pids are reused)."""
    if not pid:
        return None
    try:
        proc = psutil.Process(pid)
        if create_time is not None and abs(proc.create_time() - create_time) > 0.01:
            return None
        return proc
    except psutil.NoSuchProcess:
        return None


def stop_leftovers(root: Path | None = None) -> list[int]:
    """Stop every workerd whose owning Python process is gone; return their pids.

    A kernel killed with SIGKILL runs no atexit handlers: its workerd would live on. Its
    pidfile names the owner; if that owner is dead and the pid still runs workerd with the
    run folder's config on its command line, it is ours to stop. Live labs are left alone.
    """
    stopped = []
    for run_dir in sorted((root or state_dir()).glob("server-*")):
        try:
            info = json.loads((run_dir / PIDFILE).read_text())
        except (OSError, ValueError):
            # No pidfile: a server being set up right now, or a crash before it started.
            if time.time() - run_dir.stat().st_mtime > 60:
                shutil.rmtree(run_dir, ignore_errors=True)
            continue
        if _process_if(info.get("owner_pid"), info.get("owner_create_time")):
            continue
        proc = _process_if(info.get("pid"), info.get("create_time"))
        if proc is not None:
            with contextlib.suppress(psutil.Error):
                if str(run_dir / "config.capnp") in proc.cmdline():
                    _stop_group(proc.pid)
                    stopped.append(proc.pid)
        shutil.rmtree(run_dir, ignore_errors=True)
    return stopped


def _stop_group(pid: int, process: subprocess.Popen | None = None, force: bool = False) -> None:
    """SIGTERM workerd's process group, then SIGKILL it if it does not go in time.

    `force` skips the polite step: a workerd stuck in a guest's endless loop cannot
    handle SIGTERM, since its event loop never gets a turn.
    """
    if not force:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
        if _wait_gone(pid, process, STOP_GRACE_S):
            return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    _wait_gone(pid, process, STOP_GRACE_S)


def _wait_gone(pid: int, process: subprocess.Popen | None, seconds: float) -> bool:
    """Wait for the process to end (and reap it if it is our child); True if it did."""
    try:
        if process is not None:
            process.wait(seconds)
        else:
            psutil.Process(pid).wait(seconds)
    except (subprocess.TimeoutExpired, psutil.TimeoutExpired):
        return False
    except psutil.NoSuchProcess:
        pass
    return True


def _listening_socket() -> socket.socket:
    """A socket listening on 127.0.0.1 at a port the kernel picked: free by construction."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


class WorkerdServer:
    """One workerd process serving labkit's host worker on 127.0.0.1."""

    def __init__(self, binary: str, heap_mb: int = 64, die_with_parent: bool = True):
        self.binary = binary
        self.heap_mb = int(heap_mb)
        self.die_with_parent = die_with_parent
        self.process: subprocess.Popen | None = None
        self.run_dir: Path | None = None
        self._socket: socket.socket | None = None
        self._log = None
        self.token = ""
        self.log_dropped = 0

    # --- life cycle ---------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._socket is None:
            raise WorkerdFailed("workerd is not running")
        return self._socket.getsockname()[1]

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> WorkerdServer:
        """Stop leftovers of killed labs, write the config, start workerd, wait for it."""
        stop_leftovers()
        try:
            self._spawn()
            self._wait_ready()
        except BaseException:  # a failed or interrupted start leaves nothing behind
            self.stop()
            raise
        return self

    def _spawn(self) -> None:
        if self._socket is None:
            self._socket = _listening_socket()
        self.run_dir = Path(tempfile.mkdtemp(prefix="server-", dir=state_dir()))
        self.token = secrets.token_hex(16)
        self._write_config(self.run_dir)
        me = psutil.Process()
        record = {"owner_pid": me.pid, "owner_create_time": me.create_time()}
        self._write_pidfile(record)
        # Append mode: workerd shares the file offset, so cutting the file back is safe.
        self._log = open(self.run_dir / "workerd.log", "a+b")  # closed in stop()
        fd = self._socket.fileno()
        on_main_thread = threading.current_thread() is threading.main_thread()
        preexec = (die_with_parent(os.getpid())
                   if self.die_with_parent and on_main_thread and sys.platform == "linux"
                   else None)
        self.process = subprocess.Popen(
            [self.binary, "serve", str(self.run_dir / "config.capnp"), "--experimental",
             f"--socket-fd=http={fd}"],
            cwd=self.run_dir, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
            pass_fds=(fd,), start_new_session=True, preexec_fn=preexec,
        )
        _running.add(self)
        proc = _process_if(self.process.pid, None)
        record.update(pid=self.process.pid, create_time=proc.create_time() if proc else None)
        self._write_pidfile(record)

    def stop(self, keep_socket: bool = False, force: bool = False) -> None:
        """Stop workerd and remove its run folder; safe to call twice."""
        _running.discard(self)
        if self.process is not None:
            if self.process.poll() is None:
                _stop_group(self.process.pid, self.process, force)
            self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = None
        if self._socket is not None and not keep_socket:
            self._socket.close()
            self._socket = None

    def restart(self, force: bool = False) -> None:
        """A fresh workerd on the same port: every isolate the old one held is gone."""
        self.stop(keep_socket=True, force=force)
        self.start()

    def __enter__(self) -> WorkerdServer:
        return self.start()

    def __exit__(self, *exc_info) -> bool:
        self.stop()
        return False

    # --- what it says -------------------------------------------------------------
    def log_tail(self, lines: int = 5) -> str:
        """The last lines workerd wrote to stderr/stdout (why it failed, usually).

        Reads only the last LOG_TAIL_BYTES: a guest that flooded the log costs nothing here.
        """
        if self._log is None:
            return ""
        fd = self._log.fileno()
        size = os.fstat(fd).st_size
        tail = os.pread(fd, LOG_TAIL_BYTES, max(0, size - LOG_TAIL_BYTES))
        text = tail.decode(errors="replace").strip().splitlines()
        return "\n".join(text[-lines:])

    def trim_log(self) -> int:
        """Cut the log back to its last LOG_KEEP_BYTES if it passed LOG_MAX_BYTES.

        Guests' console.log goes to this file; without a bound, one guest fills /tmp.
        Returns the log's size afterwards.
        """
        if self._log is None:
            return 0
        fd = self._log.fileno()
        size = os.fstat(fd).st_size
        if size <= LOG_MAX_BYTES:
            return size
        tail = os.pread(fd, LOG_KEEP_BYTES, size - LOG_KEEP_BYTES)
        self.log_dropped += size - len(tail)
        marker = (f"[labkit: {self.log_dropped:,} bytes of workerd's log dropped so far; "
                  f"it keeps at most {LOG_MAX_BYTES:,}]\n").encode()
        # Written over the start and then cut, through a descriptor without O_APPEND: workerd
        # keeps appending meanwhile, and the marker must stay first (truncating to zero and
        # appending would let workerd's next line in ahead of it).
        rewrite = os.open(self._log.name, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.pwrite(rewrite, marker + tail, 0)
            os.ftruncate(rewrite, len(marker) + len(tail))
        finally:
            os.close(rewrite)
        return os.fstat(fd).st_size

    def headers(self) -> dict:
        """What every request to this server must carry (its per-run secret)."""
        return {TOKEN_HEADER: self.token}

    def version(self) -> str:
        done = subprocess.run([self.binary, "--version"], capture_output=True, text=True,
                              timeout=10)
        return done.stdout.strip() or done.stderr.strip()

    # --- internals ----------------------------------------------------------------
    def _write_config(self, run_dir: Path) -> None:
        guests = resources.files("labkit.guests")
        for name in GUEST_FILES:
            (run_dir / name).write_text(guests.joinpath(name).read_text())
        template = string.Template(guests.joinpath(CONFIG_TEMPLATE).read_text())
        config = template.substitute(heap_mb=self.heap_mb, token=self.token)
        fd = os.open(run_dir / "config.capnp", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with open(fd, "w") as f:
            f.write(config)

    def _write_pidfile(self, record: dict) -> None:
        path = self.run_dir / PIDFILE
        path.with_suffix(".tmp").write_text(json.dumps(record))
        path.with_suffix(".tmp").replace(path)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                raise WorkerdFailed(f"workerd exited with {self.process.returncode} while "
                                    f"starting: {self.log_tail() or 'no output'}")
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1.0)
            try:
                conn.request("GET", "/ping", headers=self.headers())
                if conn.getresponse().status == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            finally:
                conn.close()
            if time.monotonic() > deadline:
                raise WorkerdFailed(f"workerd did not answer within {READY_TIMEOUT_S:.0f} s: "
                                    f"{self.log_tail() or 'no output'}")
            time.sleep(0.01)


@atexit.register
def _stop_all() -> None:
    """At interpreter exit, nothing labkit started keeps running."""
    for server in list(_running):
        server.stop()
