"""JupyterHub for a workshop room on one VM: `make hub` (as root) serves it.

Attendees open the hub's address, type a user name of their choice and a password of at
least 8 characters: the first login sets the password (FirstUseAuthenticator), later logins
must repeat it. Each attendee's JupyterLab runs as a throwaway system account `lab-<name>`
(workshop_spawner.py), from this checkout's .venv, with a copy of the notebooks in its home.

Settings come from the environment so nothing secret lives in the repo:
  LAB_HUB_IP, LAB_HUB_PORT     where attendees connect (default 0.0.0.0:8000)
  LAB_HUB_API_PORT, LAB_HUB_PROXY_API_PORT   loopback ports for the hub's own API (8081, 8001)
  LAB_HUB_STATE                database, cookie secret, password hashes (/srv/agents-lab-hub)
  LAB_HUB_ADMINS               comma-separated hub users who may open the admin page
  LAB_HUB_SSL_CERT, LAB_HUB_SSL_KEY   serve HTTPS (do, on any network you do not trust)
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parents[1]
# make hub-env builds .venv-hub from a Python every attendee's account may run.
HUB_VENV_BIN = PROJECT / ".venv-hub" / "bin"
VENV_BIN = HUB_VENV_BIN if HUB_VENV_BIN.exists() else PROJECT / ".venv" / "bin"
sys.path.insert(0, str(HERE))  # workshop_spawner lives next to this file

c = get_config()  # noqa: F821 (provided by JupyterHub when it loads this file)

ip = os.environ.get("LAB_HUB_IP", "0.0.0.0")
port = int(os.environ.get("LAB_HUB_PORT", "8000"))
state = Path(os.environ.get("LAB_HUB_STATE", "/srv/agents-lab-hub"))
state.mkdir(parents=True, exist_ok=True, mode=0o700)

# Where attendees connect, and the hub's private ports (loopback only).
c.JupyterHub.bind_url = f"http://{ip}:{port}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(os.environ.get("LAB_HUB_API_PORT", "8081"))
c.ConfigurableHTTPProxy.api_url = \
    f"http://127.0.0.1:{int(os.environ.get('LAB_HUB_PROXY_API_PORT', '8001'))}"
if os.environ.get("LAB_HUB_SSL_CERT"):
    c.JupyterHub.ssl_cert = os.environ["LAB_HUB_SSL_CERT"]
    c.JupyterHub.ssl_key = os.environ["LAB_HUB_SSL_KEY"]

# The proxy from npm (make hub installs it into .runtimes/), else one on PATH.
proxy = PROJECT / ".runtimes" / "node_modules" / ".bin" / "configurable-http-proxy"
if proxy.exists():
    c.ConfigurableHTTPProxy.command = [str(proxy)]

# State kept out of the checkout, readable by root only.
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
# Stopping the hub stops every attendee's server too: nothing outlives the workshop.
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True

# Log in: any name (lower-case letters and digits), password set on first use.
c.JupyterHub.authenticator_class = "firstuseauthenticator.FirstUseAuthenticator"
c.FirstUseAuthenticator.dbm_path = str(state / "passwords.dbm")
c.FirstUseAuthenticator.min_password_length = 8
c.Authenticator.allow_all = True
c.Authenticator.username_pattern = r"^[a-z][a-z0-9]{0,19}$"
admins = {name.strip() for name in os.environ.get("LAB_HUB_ADMINS", "").split(",")}
c.Authenticator.admin_users = admins - {""}

# Each attendee: a throwaway account, this checkout's environment, their own notebooks.
c.JupyterHub.spawner_class = "workshop_spawner.WorkshopSpawner"
c.WorkshopSpawner.notebooks_source = str(PROJECT / "notebooks")
c.Spawner.cmd = [str(VENV_BIN / "jupyterhub-singleuser")]
c.Spawner.notebook_dir = "~"
c.Spawner.default_url = "/lab/tree/notebooks/00_start_here.ipynb"
c.Spawner.environment = {
    "PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
    # Attendees are not root, so runc and crun cannot start; rootless Podman might, thirty
    # times over on one VM. The notebooks take their recorded path instead, and say so.
    "LABKIT_NO_CONTAINERS": "1",
}
# A VM busy starting thirty servers at once is slow: wait rather than fail.
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 180
