"""Each attendee's server runs as a throwaway system account, made on first start.

Why not the account named like the hub user, as LocalProcessSpawner does? A hub user name is
whatever an attendee typed at the login page; "root" or "postgres" would hand them an existing
account. Every attendee gets `lab-<name>` instead, in the group `agents-lab`, with a home of
their own holding a copy of the notebooks. After the workshop, `userdel -r` each member of the
group (README in this folder) and nothing is left.
"""

from __future__ import annotations

import grp
import pwd
import shutil
import subprocess
from pathlib import Path

import psutil
from jupyterhub.spawner import LocalProcessSpawner, set_user_setuid
from traitlets import Unicode

COMMENT = "agents lab workshop attendee"


def account_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def ensure_group(group: str) -> None:
    try:
        grp.getgrnam(group)
    except KeyError:
        subprocess.run(["groupadd", "--system", group], check=True, capture_output=True)


def ensure_account(name: str, group: str) -> bool:
    """Create the account with a home of its own; False when it already existed.

    An existing account is used only if its primary group is the workshop group: a name
    that happens to match another account on the machine is refused, never taken over.
    """
    ensure_group(group)
    gid = grp.getgrnam(group).gr_gid
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", "--gid", group,
                        "--comment", COMMENT, name], check=True, capture_output=True)
        return True
    if entry.pw_gid != gid:
        raise PermissionError(f"account {name!r} exists and is not a workshop account "
                              f"(group {group!r}); choose another user name")
    return False


def copy_notebooks(source: Path, name: str) -> None:
    """Give a new account its own copy of the notebooks, so edits stay personal."""
    entry = pwd.getpwnam(name)
    target = Path(entry.pw_dir) / "notebooks"
    if target.exists() or not source.is_dir():
        return
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for path in [target, *target.rglob("*")]:
        shutil.chown(path, user=entry.pw_uid, group=entry.pw_gid)


def end_processes_of(name: str, timeout: float = 10.0) -> list[int]:
    """Terminate whatever still runs as this account (a kernel a server left behind)."""
    uid = pwd.getpwnam(name).pw_uid
    left = [p for p in psutil.process_iter(["uids"]) if p.info["uids"]
            and p.info["uids"].real == uid]
    for proc in left:
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(left, timeout=timeout)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=timeout)
    return [p.pid for p in left]


class WorkshopSpawner(LocalProcessSpawner):
    """LocalProcessSpawner whose processes run as `lab-<hub user>`, created when first needed."""

    account_prefix = Unicode("lab-", config=True,
                             help="Prefix of the system account made for each hub user.")
    account_group = Unicode("agents-lab", config=True,
                            help="Group of every workshop account, for a clean removal.")
    notebooks_source = Unicode("", config=True,
                               help="Folder copied to ~/notebooks of each new account.")

    @property
    def account(self) -> str:
        return self.account_prefix + self.user.name

    def make_preexec_fn(self, name):
        return set_user_setuid(self.account)

    def user_env(self, env):
        entry = pwd.getpwnam(self.account)
        env.update(USER=self.account, HOME=entry.pw_dir, SHELL=entry.pw_shell)
        return env

    async def start(self):
        if ensure_account(self.account, self.account_group) and self.notebooks_source:
            copy_notebooks(Path(self.notebooks_source), self.account)
        return await super().start()

    async def stop(self, now=False):
        await super().stop(now=now)
        if account_exists(self.account):
            end_processes_of(self.account)
