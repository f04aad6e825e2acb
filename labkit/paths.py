"""Where the lab keeps things: the project folder, its data, its local runtimes."""

import os
import stat
import tempfile
from pathlib import Path

# labkit is installed in editable mode from the project folder, so this is the checkout.
PROJECT_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = PROJECT_ROOT / "data"
RECORDED_DIR = DATA_DIR / "recorded"
REFERENCE_FIGURES = DATA_DIR / "reference_figures.csv"
# Runtimes installed for this project only (workerd from npm), never system-wide.
RUNTIMES_DIR = Path(os.environ.get("LABKIT_RUNTIMES", PROJECT_ROOT / ".runtimes"))
WORKERD_LOCAL = RUNTIMES_DIR / "node_modules" / ".bin" / "workerd"


def private_dir(*parts: str) -> Path:
    """A folder only this user can enter, for state labkit keeps between calls.

    Under $XDG_RUNTIME_DIR when it is this user's own, else `<tmp>/labkit-<uid>`. Each
    level is created 0700, or, if it exists already, accepted only as a real folder (never
    a symlink) owned by this user, whose mode is then made 0700: on a shared machine,
    another user who creates the path first must not choose where labkit writes.
    """
    from .errors import UnsafeFolder

    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    folder = Path(runtime) / "labkit" if runtime and _is_own_private(runtime) else \
        Path(tempfile.gettempdir()) / f"labkit-{os.getuid()}"
    for level in (folder, *(folder.joinpath(*parts[:i + 1]) for i in range(len(parts)))):
        try:
            os.mkdir(level, 0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise UnsafeFolder(f"cannot create labkit's private folder {level}: "
                               f"{exc.strerror}") from None
        _claim(level, UnsafeFolder)
    return folder.joinpath(*parts)


def _is_own_private(path: str) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


def _claim(path: Path, error) -> None:
    """Refuse a symlink, a non-folder or another user's folder; make ours 0700."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        raise error(f"{path} is not a plain folder (a symlink or a file?); labkit will not "
                    "use it: remove it, or set TMPDIR to a folder of your own") from None
    try:
        st = os.fstat(fd)
        if st.st_uid != os.getuid():
            raise error(f"{path} belongs to uid {st.st_uid}, not to you (uid {os.getuid()}); "
                        "labkit will not use it: remove it, or set TMPDIR to a folder of "
                        "your own")
        if st.st_mode & 0o077:
            os.fchmod(fd, 0o700)
    finally:
        os.close(fd)
