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
from pathlib import Path

from ...errors import LabkitError
from .. import _owned

# The shim: argv = report fd, pid file, then the `create` command line. Its stdio are the
# container's (the init inherits them from `create`); it writes only on the report fd.
SHIM = """\
import ctypes, os, subprocess, sys
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans become ours
report = os.fdopen(int(sys.argv[1]), "w", buffering=1)
made = subprocess.run(sys.argv[3:]).returncode
print("created", made, file=report)
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
    """One container created by a shim, waiting to be started; its exit comes on a pipe."""

    def __init__(self, create: list[str], pid_file: Path, stdin, stdout, stderr,
                 timeout: float):
        read_end, write_end = os.pipe()
        try:
            self.shim = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", SHIM, str(write_end), str(pid_file),
                 *create], stdin=stdin, stdout=stdout, stderr=stderr, pass_fds=(write_end,),
                preexec_fn=_owned.die_with_parent())
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        self._report = os.fdopen(read_end, "r")
        self.pid_file = pid_file
        try:
            self.created = self.said("created", timeout) == "0"
        except TimeoutError:
            self.created = False

    def said(self, word: str, timeout: float) -> str | None:
        """What the shim said after `word` ("created", "exit"), None if it ended without
        saying it; TimeoutError if it said nothing within `timeout` s."""
        if not select.select([self._report], [], [], timeout)[0]:
            raise TimeoutError(f"no {word!r} from the container's shim in {timeout:g} s")
        line = self._report.readline().split()
        return line[1] if len(line) == 2 and line[0] == word else None

    @property
    def init_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int(self.pid_file.read_text())
        return None

    def end(self) -> None:
        """Wait for the shim (its container deleted first by the caller), kill it if it
        lingers, close the pipe."""
        try:
            self.shim.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.shim.kill()
            self.shim.wait()
        self._report.close()
        for leftover in (self.pid_file, self.pid_file.with_name(f".{self.pid_file.name}")):
            leftover.unlink(missing_ok=True)


def exit_code(made: MadeAhead, timeout: float) -> int:
    """The init's exit code (128+signal when killed, as `runc run` reports it), once it has
    exited; LabkitError if the shim ends without one, TimeoutError past `timeout`."""
    code = made.said("exit", timeout)
    if code is None:
        raise LabkitError("the container's shim ended without its exit status")
    return int(code)
