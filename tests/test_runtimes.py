"""Installing runtimes: what labkit says when it may not, or cannot, install them."""

import pytest

from labkit import runtimes


def test_unknown_part_is_refused_with_the_valid_ones():
    with pytest.raises(ValueError, match="valid ones are: containers, v8"):
        runtimes.setup(["gpu"])


def test_without_npm_v8_setup_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setattr(runtimes.paths, "WORKERD_LOCAL", tmp_path / "none" / "workerd")
    monkeypatch.setattr(runtimes.shutil, "which", lambda name: None)
    message = runtimes.setup_v8()
    assert "npm" in message and "apt-get install -y nodejs npm" in message
    assert "python -m labkit setup v8" in message


def test_a_non_root_user_gets_the_sudo_command(monkeypatch):
    monkeypatch.setattr(runtimes.shutil, "which",
                        lambda name: "/usr/bin/apt-get" if name == "apt-get" else None)
    monkeypatch.setattr(runtimes.os, "geteuid", lambda: 1000)
    message = runtimes.setup_containers()
    assert "sudo apt-get install -y" in message
    assert "runc" in message and "crun" in message and "busybox-static" in message


def test_present_runtimes_are_left_alone(monkeypatch):
    monkeypatch.setattr(runtimes.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert runtimes.setup_containers() == "containers: runc, crun and busybox are installed"


def test_workerd_is_installed_into_the_project_not_globally():
    command = runtimes.workerd_install_command()
    assert command[:4] == ["npm", "install", "--prefix", str(runtimes.paths.RUNTIMES_DIR)]
    assert command[-1] == f"workerd@{runtimes.WORKERD_VERSION}"


def test_setup_compiles_python_for_webassembly_once():
    """`labkit setup python-wasm` leaves CPython-on-WASI compiled, so a notebook's first
    Python tool call in wasm does not pay tens of seconds; a second setup says it is ready."""
    from labkit.sandboxes import availability

    if not availability("wasm", trial=False).available:
        pytest.skip("wasm is not available here")
    first = runtimes.setup(["python-wasm"])[0]
    assert first.startswith("python-wasm: "), first
    assert "could not" not in first, first
    assert runtimes.setup(["python-wasm"]) == [
        "python-wasm: CPython for WebAssembly is ready (compiled before)"]
