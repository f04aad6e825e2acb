"""A container made ahead of its call: `create` off the clock, `start` on it.

This is what a pool of pre-made containers pays per call. `runc create` (or crun's) sets
up namespaces, cgroup, mounts and seccomp, leaves the container's init waiting on its exec
fifo, and exits; `start` releases the init into the guest. Nobody is left to wait for that
init: its parent, `create`, is gone. Under Docker and Kubernetes, containerd's shim waits
for it, as the init's child subreaper. labkit does the same with a small shim per made
container (`SHIM`): it marks itself a subreaper, runs `create` with the container's stdio,
and reports on a pipe first that the container exists, then how its init exited.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ...errors import LIMIT_OUTPUT, LIMIT_TIME, LabkitError, LimitExceeded
from .. import _owned
from .common import MAX_OUTPUT_BYTES, SETUP_SECONDS, ContainerRun, OutputOverflow

# The shim: argv = report fd, pid file, then the `create` command line. Its stdio are the
# container's (the init inherits them from `create`); it writes only on the report fd:
# "created <exit code of create> <ns it took>", then "exit <the init's exit code>".
SHIM = """\
import ctypes, os, subprocess, sys, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans become ours
report = os.fdopen(int(sys.argv[1]), "w", buffering=1)
took = time.monotonic_ns()
made = subprocess.run(sys.argv[3:]).returncode
print("created", made, time.monotonic_ns() - took, file=report)
init = int(open(sys.argv[2]).read()) if made == 0 else None
while True:
    try:
        pid, status = os.wait()
    except ChildProcessError:
        break
    if pid == init:
        code = os.waitstatus_to_exitcode(status)
        print("exit", 128 - code if code < 0 else code, file=report)
"""


class MadeAhead:
    """One container created by a shim, waiting to be started; its stdio are files of its
    own (stdin holding the input, if any), its exit comes on a pipe. `created` says whether
    `create` succeeded; the caller deletes the container, then calls end()."""

    def __init__(self, create: list[str], pid_file: Path, input_json: str | None,
                 folder: Path, timeout: float):
        self.files = [tempfile.TemporaryFile(dir=folder) for _ in range(3)]
        if input_json is not None:
            self.files[0].write(input_json.encode())
            self.files[0].seek(0)
        self.pid_file = pid_file
        self.started = False
        read_end, write_end = os.pipe()
        try:
            self.shim = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", SHIM, str(write_end), str(pid_file),
                 *create], stdin=self.files[0], stdout=self.files[1], stderr=self.files[2],
                pass_fds=(write_end,), preexec_fn=_owned.die_with_parent())
        except BaseException:
            os.close(read_end)
            self._close_files()
            raise
        finally:
            os.close(write_end)
        self._report = os.fdopen(read_end, "r")
        self.create_ns = 0  # how long `create` itself took (the shim's start-up is not in it)
        try:
            said = self.said("created", timeout)
        except TimeoutError:
            said = None
        self.created = bool(said) and said[0] == "0"
        if self.created:
            self.create_ns = int(said[1])

    def said(self, word: str, timeout: float) -> list[str] | None:
        """What the shim said after `word` ("created", "exit"), None if it ended without
        saying it; TimeoutError if it said nothing within `timeout` s."""
        if not select.select([self._report], [], [], timeout)[0]:
            raise TimeoutError(f"no {word!r} from the container's shim in {timeout:g} s")
        line = self._report.readline().split()
        return line[1:] if len(line) > 1 and line[0] == word else None

    def begin(self, command: list[str], timeout: float) -> None:
        """Run the runtime's `start` (command): the init execs the guest. LabkitError if
        it fails."""
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout)
        if done.returncode != 0:
            raise LabkitError(f"`start` failed: "
                              f"{done.stderr.decode(errors='replace').strip()[-300:]}")
        self.started = True

    def start(self, command: list[str], timeout: float) -> tuple[int, str, str]:
        """`begin` (unless begun already), then wait for the init's exit: its exit code
        (128+signal when killed, as `runc run` reports it) and what it wrote. LabkitError if
        `start` fails or the shim ends without a code, TimeoutError past `timeout`,
        OutputOverflow past MAX_OUTPUT_BYTES on a stream."""
        if not self.started:
            self.begin(command, timeout)
        said = self.said("exit", timeout)
        if not said:
            raise LabkitError("the container's shim ended without its exit status")
        code = said[0]
        words = []
        for file, stream in zip(self.files[1:], ("stdout", "stderr"), strict=True):
            if os.fstat(file.fileno()).st_size > MAX_OUTPUT_BYTES:
                raise OutputOverflow(stream)
            file.seek(0)
            words.append(file.read().decode(errors="replace"))
        return int(code), words[0], words[1]

    @property
    def init_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int(self.pid_file.read_text())
        return None

    def end(self) -> None:
        """Wait for the shim (its container deleted first by the caller), kill it if it
        lingers; close the pipe and the files."""
        try:
            self.shim.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.shim.kill()
            self.shim.wait()
        self._report.close()
        self._close_files()
        for leftover in (self.pid_file, self.pid_file.with_name(f".{self.pid_file.name}")):
            leftover.unlink(missing_ok=True)

    def errors(self) -> str:
        """The end of what was written to stderr (the runtime's words when `create` fails)."""
        self.files[2].seek(0)
        return self.files[2].read()[-300:].decode(errors="replace").strip()

    def _close_files(self) -> None:
        for file in self.files:
            file.close()


class StartedByShim:
    """The pre-created path's start and removal for an OCI runtime whose `create` a shim
    waits on (runc, crun, runsc). The kind's `_create_ahead` sets `self._ahead` to
    (MadeAhead, container id); the kind has `_command` and `_delete(cid)`."""

    _ahead: tuple[MadeAhead, str] | None

    def _start_ahead(self) -> ContainerRun:
        """`start` the made container and wait for its init (the shim reports its exit); a
        call past the backstop, or flooding its output, removes it and raises."""
        made, cid = self._ahead
        timeout = self.limits.backstop_seconds(SETUP_SECONDS)
        try:
            returncode, out, err = made.start([*self._command, "start", cid], timeout)
        except TimeoutError:
            self._drop_precreated()
            raise LimitExceeded(self.kind, LIMIT_TIME, f"{timeout:g} s wall clock") from None
        except OutputOverflow as exc:
            self._drop_precreated()
            raise LimitExceeded(self.kind, LIMIT_OUTPUT, f"more than {MAX_OUTPUT_BYTES:,} "
                                f"bytes written to {exc.stream}") from None
        except LabkitError as exc:
            self._drop_precreated()
            raise LabkitError(f"{self.kind}: {exc}") from None
        return ContainerRun(out, err, returncode, "", cid, made.init_pid)

    def _drop_precreated(self) -> None:
        """Delete the container made ahead (started or not) and end its shim."""
        found, self._ahead = self._ahead, None
        if found is not None:
            try:
                self._delete(found[1])
            finally:
                found[0].end()


def shim_phases(box, workload: str) -> dict[str, float]:
    """One cold call of `workload` in a kind with StartedByShim, as the runtime's own
    steps: `create` (the runtime's `create` itself, timed by the shim), `start` (until the
    runtime's `start` returns: the init execs the guest), `run` (from there until the shim
    reports the guest's exit, its answer read and checked as a cold call's), `delete`;
    "other" is labkit's own time between them. The call is counted from `create`'s start:
    the shim's own start-up before it (a Python process, tens of ms) is labkit's stand-in
    for containerd's shim and no part of `runc run`. Four runtime commands where a cold
    call's `run` is one."""
    from .._warm import precreated_workload_call  # (_warm is above the kinds)
    from ..base import phase_split
    prepare, call = precreated_workload_call(box, workload)
    clock = time.monotonic_ns
    prepare()
    t1 = clock()
    try:
        made, cid = box._ahead
        made.begin([*box._command, "start", cid], box.limits.backstop_seconds(SETUP_SECONDS))
        t2 = clock()
        call()
        t3 = clock()
    finally:
        t4 = clock()
        box._drop_precreated()
        t5 = clock()
    return phase_split([("create", t1 - made.create_ns, t1), ("start", t1, t2),
                        ("run", t2, t3), ("delete", t4, t5)], t1 - made.create_ns, clock())
