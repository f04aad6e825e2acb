"""The workshop hub serves a room: three attendees log in and run notebook 02 on it.

A real JupyterHub (workshop/hub/jupyterhub_config.py) on loopback with the npm proxy; each
attendee logs in through the login form, gets a server running as a throwaway account, and
runs every code cell of notebook 02 in a kernel of that server, over the server's REST API
and kernel websocket. Afterwards no process, server or account is left.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime
import grp
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import psutil
import pytest

from labkit import paths

requests = pytest.importorskip("requests")
websocket = pytest.importorskip("websocket")

CONFIG = paths.PROJECT_ROOT / "workshop" / "hub" / "jupyterhub_config.py"
JUPYTERHUB = paths.PROJECT_ROOT / ".venv-hub" / "bin" / "jupyterhub"
PROXY = paths.PROJECT_ROOT / ".runtimes" / "node_modules" / ".bin" / "configurable-http-proxy"
NOTEBOOK = "02_the_scaling_math.ipynb"
GROUP = "agents-lab"


def closed_to_others(path: Path) -> Path | None:
    """The first folder on the way to path that other accounts may not enter, if any."""
    for folder in [*reversed(path.parents), path]:
        if not folder.stat().st_mode & 0o001:
            return folder
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def account_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def processes_of(account: str) -> list[psutil.Process]:
    if not account_exists(account):
        return []
    uid = pwd.getpwnam(account).pw_uid
    return [p for p in psutil.process_iter(["uids"]) if p.info["uids"]
            and p.info["uids"].real == uid]


@contextlib.contextmanager
def running_hub(tmp_path: Path):
    """The workshop config on free loopback ports, state in tmp_path; stopped on the way out."""
    port = free_port()
    env = {**os.environ, "LAB_HUB_IP": "127.0.0.1", "LAB_HUB_PORT": str(port),
           "LAB_HUB_API_PORT": str(free_port()), "LAB_HUB_PROXY_API_PORT": str(free_port()),
           "LAB_HUB_STATE": str(tmp_path / "state")}
    log = open(tmp_path / "hub.log", "w")
    hub = subprocess.Popen([str(JUPYTERHUB), "-f", str(CONFIG)],
                           cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                           start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    family: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{base}/hub/api", timeout=2).ok:
                    break
            if hub.poll() is not None or time.monotonic() > deadline:
                tail = (tmp_path / "hub.log").read_text()[-3000:]
                raise RuntimeError(f"the hub did not start:\n{tail}")
            time.sleep(0.5)
        family = psutil.Process(hub.pid).children(recursive=True)
        yield base, hub, family
    finally:
        family += [p for p in psutil.Process(hub.pid).children(recursive=True)
                   if p not in family] if psutil.pid_exists(hub.pid) else []
        hub.send_signal(signal.SIGTERM)
        try:
            hub.wait(timeout=60)
        except subprocess.TimeoutExpired:
            hub.kill()
            hub.wait()
        psutil.wait_procs(family, timeout=20)
        log.close()


def log_in(base: str, name: str, password: str) -> requests.Session:
    """Log in through the hub's login form, as a browser would."""
    session = requests.Session()
    page = session.get(f"{base}/hub/login", timeout=30)
    page.raise_for_status()
    xsrf = session.cookies.get("_xsrf", path="/hub/")
    done = session.post(f"{base}/hub/login", data={"username": name, "password": password,
                                                     "_xsrf": xsrf},
                        allow_redirects=False, timeout=60)
    assert done.status_code == 302, f"login of {name} failed: {done.status_code}"
    return session


def api_token(base: str, session: requests.Session, name: str) -> str:
    """A token for this user's own API calls, asked for with the login cookie."""
    xsrf = session.cookies.get("_xsrf", path="/hub/")
    reply = session.post(f"{base}/hub/api/users/{name}/tokens", headers={"X-XSRFToken": xsrf},
                         json={"note": "hub test", "expires_in": 3600}, timeout=30)
    reply.raise_for_status()
    return reply.json()["token"]


def start_server(base: str, name: str, token: str) -> None:
    headers = {"Authorization": f"token {token}"}
    reply = requests.post(f"{base}/hub/api/users/{name}/server", headers=headers, timeout=60)
    assert reply.status_code in (201, 202), reply.text
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        server = requests.get(f"{base}/hub/api/users/{name}", headers=headers,
                              timeout=30).json()["servers"].get("", {})
        if server.get("ready"):
            return
        time.sleep(1)
    raise AssertionError(f"{name}'s server did not become ready")


def stop_server(base: str, name: str, token: str) -> None:
    headers = {"Authorization": f"token {token}"}
    requests.delete(f"{base}/hub/api/users/{name}/server", headers=headers, timeout=60)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        user = requests.get(f"{base}/hub/api/users/{name}", headers=headers, timeout=30).json()
        if not user["servers"]:
            return
        time.sleep(1)
    raise AssertionError(f"{name}'s server did not stop")


def execute(ws, session_id: str, code: str, timeout: float = 300) -> tuple[list[str], str]:
    """Run one cell in the kernel; return the errors it raised (none: it ran) and its stdout."""
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({
        "header": {"msg_id": msg_id, "session": session_id, "username": "test",
                   "msg_type": "execute_request", "version": "5.3",
                   "date": datetime.datetime.now(datetime.timezone.utc).isoformat()},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": True,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
    errors, stdout, replied, idle = [], [], False, False
    deadline = time.monotonic() + timeout
    while not (replied and idle):
        ws.settimeout(max(1.0, deadline - time.monotonic()))
        frame = ws.recv()
        if isinstance(frame, bytes):  # a message with binary buffers (widget data): not ours
            continue
        msg = json.loads(frame)
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind = msg["header"]["msg_type"]
        if kind == "stream" and msg["content"]["name"] == "stdout":
            stdout.append(msg["content"]["text"])
        elif kind == "error":
            errors.append(f"{msg['content']['ename']}: {msg['content']['evalue']}")
        elif kind == "execute_reply":
            replied = True
            if msg["content"]["status"] != "ok" and not errors:
                errors.append(f"reply status {msg['content']['status']}")
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            idle = True
    return errors, "".join(stdout)


def run_notebook_on_server(base: str, name: str, token: str) -> dict:
    """Read the user's copy of notebook 02 from their server and run it in a kernel there."""
    user_url = f"{base}/user/{name}"
    headers = {"Authorization": f"token {token}"}
    notebook = requests.get(f"{user_url}/api/contents/notebooks/{NOTEBOOK}", headers=headers,
                            timeout=60)
    notebook.raise_for_status()
    cells = [c for c in notebook.json()["content"]["cells"] if c["cell_type"] == "code"]
    kernel = requests.post(f"{user_url}/api/kernels", headers=headers, timeout=120,
                           json={"name": "python3", "path": "notebooks"})
    kernel.raise_for_status()
    kernel_id = kernel.json()["id"]
    ws_url = user_url.replace("http://", "ws://") + f"/api/kernels/{kernel_id}/channels"
    ws = websocket.create_connection(ws_url, header=[f"Authorization: token {token}"],
                                     timeout=120)
    result = {"cells": len(cells), "ran": 0, "errors": []}
    try:
        session_id = uuid.uuid4().hex
        for index, cell in enumerate(cells):
            errors, _ = execute(ws, session_id, cell["source"])
            result["ran"] += 1
            if errors:
                result["errors"] += [f"code cell {index}: {e}" for e in errors]
                break
        _, facts = execute(ws, session_id, "import os; print(os.getuid(), "
                           "os.environ.get('LABKIT_NO_CONTAINERS'))")
        uid, no_containers = facts.split()
        result["kernel_uid"], result["no_containers"] = int(uid), no_containers
    finally:
        ws.close()
        requests.delete(f"{user_url}/api/kernels/{kernel_id}", headers=headers, timeout=60)
    return result


@pytest.mark.slow
@pytest.mark.timeout(1200)  # five servers' worth of start-up on a busy two-core machine
@pytest.mark.skipif(os.geteuid() != 0, reason="the hub creates one system account per "
                    "attendee, which needs root (CI and a workshop VM run as root)")
@pytest.mark.skipif(shutil.which("useradd") is None, reason="useradd is missing")
@pytest.mark.skipif(not JUPYTERHUB.exists() or not PROXY.exists(),
                    reason="the hub's environment is missing; fix: make hub-env")
def test_three_attendees_run_notebook_02_through_the_hub(tmp_path):
    closed = closed_to_others(paths.PROJECT_ROOT)
    if closed:
        pytest.skip(f"attendees' accounts cannot enter {closed}; a hub needs the checkout in "
                    "a folder every account may read (for example /srv or /opt)")
    tag = secrets.token_hex(3)
    names = [f"hubtest{tag}{i}" for i in range(3)]
    accounts = [f"lab-{name}" for name in names]
    group_was_there = group_exists(GROUP)
    assert not any(account_exists(a) for a in accounts)
    try:
        with running_hub(tmp_path) as (base, hub, family):
            tokens = {}
            for name in names:
                session = log_in(base, name, f"pw-{name}-long")
                tokens[name] = api_token(base, session, name)
            # A wrong password for a user who has set one is refused.
            with pytest.raises(AssertionError, match="login of"):
                log_in(base, names[0], "not-the-password")
            with concurrent.futures.ThreadPoolExecutor(3) as pool:
                list(pool.map(lambda n: start_server(base, n, tokens[n]), names))
            for account in accounts:
                assert account_exists(account)
                home = Path(pwd.getpwnam(account).pw_dir)
                assert (home / "notebooks" / NOTEBOOK).exists()
                assert (home / "notebooks" / NOTEBOOK).stat().st_uid == \
                    pwd.getpwnam(account).pw_uid
                assert processes_of(account), f"no process runs as {account}"
            with concurrent.futures.ThreadPoolExecutor(3) as pool:
                results = dict(zip(names, pool.map(
                    lambda n: run_notebook_on_server(base, n, tokens[n]), names), strict=True))
            for name, result in results.items():
                print(name, json.dumps(result))
                assert result["errors"] == [], f"{name}: {result['errors']}"
                assert result["ran"] == result["cells"] > 5
                assert result["kernel_uid"] == pwd.getpwnam(f"lab-{name}").pw_uid != 0
                assert result["no_containers"] == "1"
            for name in names:
                stop_server(base, name, tokens[name])
            for account in accounts:
                assert processes_of(account) == [], f"{account} still runs processes"
        assert hub.returncode is not None
        assert not [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    finally:
        for account in accounts:
            for proc in processes_of(account):
                proc.kill()
            if account_exists(account):
                subprocess.run(["userdel", "--remove", account], capture_output=True)
        if not group_was_there and group_exists(GROUP):
            subprocess.run(["groupdel", GROUP], capture_output=True)
    assert not any(account_exists(a) for a in accounts)


# ---------------------------------------------------------------------------------------
# The Binder / hub attendee's path: no root, no containers, no workerd, a fresh environment.
# Binder builds the image from environment.yml (conda: not reachable from here), apt.txt and
# postBuild. What can be tested here is: apt.txt names real packages; in a fresh venv with
# labkit, as a non-root account, every notebook runs top to bottom; then postBuild, run the
# same way, leaves a working workerd.

BINDER_NOTEBOOK_RUNNER = """
import json, sys, nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
results = {}
for path in sys.argv[1:]:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": "notebooks"}})
    try:
        client.execute()
        results[path] = None
    except CellExecutionError as exc:
        index = next((i for i, c in enumerate(nb.cells) if c.get("outputs") and any(
            o.get("output_type") == "error" for o in c.outputs)), None)
        results[path] = {"cell": index, "error": f"{exc.ename}: {exc.evalue}"[:500]}
print(json.dumps(results))
"""
SYSTEM_PYTHON = Path("/usr/bin/python3")
ROOTS_PYTHON_VARS = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYENV", "CONDA", "OLDPWD",
                     "PWD", "LABKIT_")
NOTEBOOKS = sorted(p.name for p in (paths.PROJECT_ROOT / "notebooks").glob("*.ipynb"))


def known_to_apt(package: str) -> bool:
    """In apt's package lists, or installed (a machine without lists still knows those)."""
    shown = subprocess.run(["apt-cache", "show", package], capture_output=True, text=True)
    if shown.returncode == 0 and f"Package: {package}" in shown.stdout:
        return True
    installed = subprocess.run(["dpkg-query", "--show", "--showformat=${Package}", package],
                               capture_output=True, text=True)
    return installed.returncode == 0 and installed.stdout.strip() == package


@pytest.mark.skipif(shutil.which("apt-cache") is None or shutil.which("dpkg-query") is None,
                    reason="not a Debian/Ubuntu machine: apt.txt cannot be checked here")
def test_apt_txt_names_real_packages():
    wanted = [line.strip() for line in (paths.PROJECT_ROOT / "apt.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert wanted
    assert [p for p in wanted if not known_to_apt(p)] == []
    assert not known_to_apt("no-such-package-agents-lab")


def test_postbuild_is_an_executable_bash_script():
    script = paths.PROJECT_ROOT / "postBuild"
    assert script.stat().st_mode & 0o111
    assert script.read_text().startswith("#!/bin/bash\n")
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0


def run_as(account: str, command: list[str], cwd: Path, env: dict, timeout: float):
    entry = pwd.getpwnam(account)
    return subprocess.run(command, cwd=cwd, env=env, user=entry.pw_uid, group=entry.pw_gid,
                          extra_groups=[], capture_output=True, text=True, timeout=timeout)


def copy_checkout(target: Path) -> None:
    """The repository as Binder sees it: its files, none of this machine's installs."""
    shutil.copytree(paths.PROJECT_ROOT, target, ignore=shutil.ignore_patterns(
        ".git", ".venv*", ".runtimes", "_site", "__pycache__", "*.egg-info", ".pytest_cache",
        ".ipynb_checkpoints", ".hypothesis"))


@pytest.fixture(scope="module")
def binder_user(tmp_path_factory):
    """A throwaway non-root account with a copy of the repo and a fresh venv with labkit."""
    if os.geteuid() != 0:
        pytest.skip("creating a throwaway non-root account needs root")
    if not SYSTEM_PYTHON.exists():
        pytest.skip(f"{SYSTEM_PYTHON} is missing: the attendee's Python must be one every "
                    "account may run")
    account = f"labbinder{secrets.token_hex(3)}"
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", account], check=True)
    try:
        home = Path(pwd.getpwnam(account).pw_dir)
        repo = home / "repo"
        copy_checkout(repo)
        subprocess.run(["chown", "-R", f"{account}:", str(repo)], check=True)
        # The machine's environment (its certificate settings reach npm and pip), less
        # what belongs to root's Python, plus what a hub or Binder session is: no container
        # can start there.
        env = {k: v for k, v in os.environ.items() if not k.startswith(ROOTS_PYTHON_VARS)}
        env.update(HOME=str(home), USER=account, LOGNAME=account, LANG="C.UTF-8",
                   PATH=f"{home}/venv/bin:/usr/local/bin:/usr/bin:/bin",
                   LABKIT_NO_CONTAINERS="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
        for command in ([str(SYSTEM_PYTHON), "-m", "venv", f"{home}/venv"],
                        [f"{home}/venv/bin/pip", "install", "--quiet", "-e", ".",
                         "nbclient", "ipykernel"]):
            done = run_as(account, command, repo, env, timeout=900)
            assert done.returncode == 0, done.stderr[-2000:]
        yield account, repo, env
    finally:
        for proc in processes_of(account):
            proc.kill()
        subprocess.run(["userdel", "--remove", account], capture_output=True)
        assert not account_exists(account)


@pytest.fixture(scope="module")
def binder_notebook_results(binder_user):
    account, repo, env = binder_user
    doctor = run_as(account, ["python", "-m", "labkit", "doctor", "--json"], repo, env, 300)
    assert doctor.returncode == 0, doctor.stderr
    available = {row["kind"]: row["available"] for row in json.loads(doctor.stdout)}
    runner = repo / ".run_notebooks.py"
    runner.write_text(BINDER_NOTEBOOK_RUNNER)
    done = run_as(account, ["python", str(runner), *[f"notebooks/{n}" for n in NOTEBOOKS]],
                  repo, env, timeout=3000)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    print("\nbinder path:", json.dumps(available), json.dumps(results, indent=1))
    return available, {Path(k).name: v for k, v in results.items()}


# The first of these builds the attendee's venv and runs every notebook: minutes, not seconds.
BINDER_TIMEOUT = pytest.mark.timeout(3000)


@pytest.mark.slow
@BINDER_TIMEOUT
def test_binder_user_has_wasm_but_no_containers_and_no_v8(binder_notebook_results):
    available, _ = binder_notebook_results
    assert available["wasm"] is True
    assert available["v8"] is False
    # Containers are switched off and gVisor needs root; bwrap and an emulated micro-VM may
    # run for an ordinary user where the machine has them (Binder itself has neither).
    assert not any(ok for kind, ok in available.items()
                   if kind not in ("wasm", "process", "bwrap", "microvm"))


@pytest.mark.slow
@BINDER_TIMEOUT
@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_binder_user_runs_every_notebook(binder_notebook_results, notebook):
    _, results = binder_notebook_results
    assert notebook in results
    assert results[notebook] is None, f"{notebook} stopped: {results[notebook]}"


@pytest.mark.slow
@BINDER_TIMEOUT
def test_postbuild_leaves_workerd_installed_as_a_non_root_user(binder_notebook_results,
                                                               binder_user):
    account, repo, env = binder_user
    done = run_as(account, ["bash", "./postBuild"], repo, env, timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    workerd = repo / ".runtimes" / "node_modules" / ".bin" / "workerd"
    assert workerd.exists()
    assert workerd.resolve().stat().st_uid == pwd.getpwnam(account).pw_uid
    doctor = run_as(account, ["python", "-m", "labkit", "doctor", "--json", "--kinds", "v8"],
                    repo, env, 300)
    assert json.loads(doctor.stdout)[0]["available"] is True, doctor.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="checking accounts against a group needs root")
@pytest.mark.skipif(not JUPYTERHUB.exists(),
                    reason="the hub's environment is missing; fix: make hub-env")
def test_spawner_never_takes_over_an_account_outside_the_workshop_group():
    group_was_there = group_exists(GROUP)
    probe = ("import sys; sys.path.insert(0, 'workshop/hub'); import workshop_spawner as w\n"
             "try:\n    w.ensure_account('nobody', 'agents-lab')\n"
             "except PermissionError as exc:\n    print(exc)")
    try:
        done = subprocess.run([str(JUPYTERHUB.parent / "python"), "-c", probe],
                              cwd=paths.PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    finally:
        if not group_was_there and group_exists(GROUP):
            subprocess.run(["groupdel", GROUP], capture_output=True)
    assert done.returncode == 0, done.stderr
    assert "account 'nobody' exists and is not a workshop account" in done.stdout
