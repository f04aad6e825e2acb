"""`make lab` serves the notebooks: JupyterLab starts headless, lists them, and stops."""

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request

import psutil

from labkit import paths


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, timeout: float = 2.0):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


@contextlib.contextmanager
def serve_jupyterlab(tmp_path):
    """JupyterLab on a free loopback port with a random token, stopped on the way out."""
    port, token = free_port(), secrets.token_hex(16)
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}",
               "--ip=127.0.0.1", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={paths.PROJECT_ROOT}"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config")}
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                get_json(f"{base}/api/status?token={token}")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not start: "
                                       + server.stderr.read().decode()[-2000:]) from None
                time.sleep(0.25)
        yield base, token, server.pid
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_jupyterlab_lists_every_notebook_then_stops(tmp_path):
    with serve_jupyterlab(tmp_path) as (base, token, pid):
        listing = get_json(f"{base}/api/contents/notebooks?token={token}")
        lab_page = urllib.request.urlopen(f"{base}/lab?token={token}", timeout=10)
        assert lab_page.status == 200
    served = {item["name"] for item in listing["content"] if item["type"] == "notebook"}
    on_disk = {p.name for p in (paths.PROJECT_ROOT / "notebooks").glob("*.ipynb")}
    assert "00_start_here.ipynb" in served
    assert served == on_disk
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
