"""JupyterLab from the lab's own environment, on a copy of the notebooks, stopped after.

The server runs on a free loopback port with a random token and throw-away settings, so a
test never saves into the repository's notebooks and never reads the developer's own
JupyterLab settings. On the way out it stops the server, gives every process it started
(kernels, workerd, containers) time to end, and reports any that had to be killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

# What a workshop attendee would see, minus anything that reaches the internet or saves.
SETTINGS = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false",
                                                     "checkForUpdates": False},
    "@jupyterlab/docmanager-extension:plugin": {"autosave": False},
}
START_SECONDS = 90    # a cold JupyterLab on a busy 2-core machine
STOP_SECONDS = 30     # kernels shut down, their sandboxes close


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running JupyterLab: where it listens, its token, and what it started."""

    base: str
    token: str
    process: subprocess.Popen
    root: Path
    # every descendant seen: (pid, start time) -> command; the start time tells a reused pid
    seen: dict[tuple[int, float], str] = field(default_factory=dict)

    def url(self, path: str) -> str:
        joiner = "&" if "?" in path else "?"
        return f"{self.base}/{path.lstrip('/')}{joiner}token={self.token}"

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(self.url(f"api/{path}"), method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def remember_descendants(self) -> None:
        """Note every process the server started so far (kernels and what they started)."""
        with contextlib.suppress(psutil.NoSuchProcess):
            for child in psutil.Process(self.process.pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    key = (child.pid, child.create_time())
                    self.seen.setdefault(key, " ".join(child.cmdline())[:200])

    def shut_down_kernels(self) -> None:
        """Stop every kernel through the server, as closing a notebook's kernel does."""
        self.remember_descendants()
        for kernel in self.api("kernels"):
            self.api(f"kernels/{kernel['id']}", method="DELETE")


def _write_settings(settings_dir: Path) -> None:
    for plugin, values in SETTINGS.items():
        package, name = plugin.split(":")
        target = settings_dir / package / f"{name}.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))


def _wait_until_up(server: subprocess.Popen, status_url: str, log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            with urllib.request.urlopen(status_url, timeout=5):
                return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("JupyterLab did not start; its log ends with:\n"
                                   + log.read_text()[-3000:]) from None
            time.sleep(0.25)


def _still_running(key: tuple[int, float]) -> psutil.Process | None:
    """The process, if this very one (same pid, same start time) still runs."""
    pid, started = key
    try:
        process = psutil.Process(pid)
        if process.create_time() == started and process.status() != psutil.STATUS_ZOMBIE:
            return process
    except psutil.Error:
        pass
    return None


def _stop(server: Server) -> list[str]:
    """Stop the server; return the processes it started that outlived it (then killed)."""
    with contextlib.suppress(OSError):
        server.remember_descendants()
    server.process.terminate()
    try:
        server.process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
    deadline = time.monotonic() + STOP_SECONDS
    while any(map(_still_running, server.seen)) and time.monotonic() < deadline:
        time.sleep(0.2)
    leaked = []
    for key, command in server.seen.items():
        process = _still_running(key)
        if process is not None:
            leaked.append(f"{key[0]}: {command}")
            with contextlib.suppress(psutil.Error):
                process.kill()
    return leaked


@contextlib.contextmanager
def serve(project_root: Path, workdir: Path, env: dict[str, str] | None = None):
    """Yield a Server for a copy of project_root/notebooks; stop it and everything it started.

    Raises AssertionError on the way out if a kernel's processes outlived the server.
    """
    root = workdir / "root"
    shutil.copytree(project_root / "notebooks", root / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    settings = workdir / "settings"
    _write_settings(settings)
    log = workdir / "jupyterlab.log"
    port, token = free_port(), secrets.token_hex(16)
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
               f"--port={port}", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={root}", "--expose-app-in-browser",
               "--LabApp.news_url=", "--ServerApp.open_browser=False"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    full_env = {**os.environ, **(env or {}),
                "JUPYTER_RUNTIME_DIR": str(workdir / "runtime"),
                "JUPYTER_CONFIG_DIR": str(workdir / "config"),
                # no kernels from the user's own folders: the lab's venv kernel runs the notebooks
                "JUPYTER_DATA_DIR": str(workdir / "data"),
                "JUPYTERLAB_SETTINGS_DIR": str(settings),
                "JUPYTERLAB_WORKSPACES_DIR": str(workdir / "workspaces"),
                "PYTHONUNBUFFERED": "1"}
    with open(log, "wb") as log_file:
        process = subprocess.Popen(command, env=full_env, stdout=log_file,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", token, process, root)
    leaked: list[str] = []
    try:
        _wait_until_up(process, server.url("api/status"), log)
        yield server
    finally:
        leaked = _stop(server)
    assert not leaked, f"still running after JupyterLab stopped (killed now): {leaked}"
