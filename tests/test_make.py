"""The Makefile's first steps on a machine that lacks what they need."""

import shutil
import subprocess

import pytest

from labkit import paths

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def copy_project(tmp_path):
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(paths.PROJECT_ROOT / name, tmp_path / name)
    return tmp_path


def fake_python(tmp_path, body: str):
    script = tmp_path / "fake-python3"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return script


def test_missing_venv_module_gives_the_fix_and_leaves_nothing(tmp_path):
    project = copy_project(tmp_path)
    # Passes the version check, then fails like Debian's python3 without python3-venv.
    python = fake_python(tmp_path, 'case "$2" in venv) mkdir -p .venv; '
                                   'echo "ensurepip is not available" >&2; exit 1;; esac; exit 0')
    done = subprocess.run(["make", "setup", f"PYTHON={python}"], cwd=project,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "sudo apt-get install -y python3-venv" in done.stdout + done.stderr
    assert not (project / ".venv").exists()


def test_too_old_python_is_named(tmp_path):
    project = copy_project(tmp_path)
    python = fake_python(tmp_path, "exit 1")
    done = subprocess.run(["make", "setup", f"PYTHON={python}"], cwd=project,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "needs Python 3.10 or newer" in done.stdout + done.stderr
