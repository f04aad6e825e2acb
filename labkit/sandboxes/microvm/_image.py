"""The micro-VM's boot files: a Debian kernel and a busybox initramfs, made once per project.

`python -m labkit setup microvm` fetches two Debian packages with `apt-get download` (no
root needed): the cloud kernel (the exact versioned package `linux-image-cloud-amd64`
depends on) and busybox-static. It extracts the kernel's bzImage and the static busybox
with dpkg-deb, and writes an initramfs (cpio "newc", gzip) whose /init runs one guest
script taken from the kernel command line, prints its output on the serial console between
sentinel lines, and powers off (or, for `hold`, stays idle). Everything lives in the lab's
.runtimes/microvm/, with a manifest recording each file's sha256, checked every time the
files are loaded: a changed kernel or initramfs is refused, never booted.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ... import paths

KERNEL_META_PACKAGE = "linux-image-cloud-amd64"
BUSYBOX_PACKAGE = "busybox-static"
MANIFEST = "manifest.json"
KERNEL_FILE, INITRD_FILE = "vmlinuz", "initrd.cpio.gz"
# apt-get and dpkg-deb are quick; a slow mirror gets this long per step.
STEP_SECONDS = 300
FIX = "python -m labkit setup microvm"

# Lines /init prints on the serial console; the host reads the answer only from these.
BOOTED, READY, EXIT, OUT, ERR, DONE = ("LABKIT-BOOTED", "LABKIT-READY", "LABKIT-EXIT",
                                       "LABKIT-OUT", "LABKIT-ERR", "LABKIT-DONE")
# What one stream of a guest may print (more is cut here, inside the guest).
MAX_OUTPUT_BYTES = 16384

# /init: PID 1 of the guest. The script, its arguments and the memory cap arrive on the
# kernel command line (unknown `name=value` words become init's environment); the script
# runs under `ulimit -v`, its stdout and stderr go to files, and are printed base64-encoded
# between sentinels, so nothing the script prints can pass for the host's answer framing.
INIT = f"""#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t tmpfs -o size=8m tmp /tmp
/bin/busybox --install -s /bin
export PATH=/bin HOME=/tmp
echo {BOOTED}
if [ "$labkit_mode" = hold ]; then
  echo {READY}
  while :; do sleep 3600; done
fi
echo "$labkit_script" | base64 -d > /tmp/script.sh
echo "$labkit_args" | base64 -d > /tmp/args
set --
while IFS= read -r arg; do set -- "$@" "$arg"; done < /tmp/args
( ulimit -v "$labkit_kb"; exec sh /tmp/script.sh "$@" ) > /tmp/out 2> /tmp/err < /dev/null
echo "{EXIT} $?"
echo "{OUT} $(head -c {MAX_OUTPUT_BYTES} /tmp/out | base64 -w 0)"
echo "{ERR} $(head -c {MAX_OUTPUT_BYTES} /tmp/err | base64 -w 0)"
echo {DONE}
poweroff -f
"""


class ImageMissing(Exception):
    """The boot files are not there or not what setup wrote (internal: becomes Unavailable)."""


@dataclass(frozen=True)
class BootFiles:
    kernel: Path
    initrd: Path
    kernel_package: str
    kernel_version: str
    busybox_version: str


def image_dir() -> Path:
    return paths.RUNTIMES_DIR / "microvm"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load(folder: Path | None = None) -> BootFiles:
    """The boot files, each checked against the sha256 setup recorded."""
    folder = image_dir() if folder is None else Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        raise ImageMissing(f"no kernel and initramfs in {folder}") from None
    except (OSError, ValueError) as exc:
        raise ImageMissing(f"the manifest {folder / MANIFEST} is unreadable: {exc}") from None
    for name in (KERNEL_FILE, INITRD_FILE):
        path = folder / name
        if not path.is_file():
            raise ImageMissing(f"{path} is missing")
        want = manifest.get("sha256", {}).get(name)
        if _sha256(path) != want:
            raise ImageMissing(f"{path} does not match the sha256 recorded at setup "
                               f"({str(want)[:12]}...): changed or damaged, refusing to boot it")
    return BootFiles(folder / KERNEL_FILE, folder / INITRD_FILE, manifest["kernel_package"],
                     manifest["kernel_version"], manifest["busybox_version"])


# --- building ------------------------------------------------------------------------------
def _run(command: list[str], cwd: Path) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                          timeout=STEP_SECONDS, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"`{' '.join(command)}` failed: {tail[0]}")
    return done.stdout


def kernel_package() -> str:
    """The versioned package the meta-package depends on (linux-image-6.1.0-N-cloud-amd64)."""
    out = _run(["apt-cache", "depends", KERNEL_META_PACKAGE], Path("/"))
    for line in out.splitlines():
        word = line.strip().removeprefix("Depends:").strip()
        if line.strip().startswith("Depends:") and word.startswith("linux-image-"):
            return word
    raise RuntimeError(f"apt-cache knows no kernel behind {KERNEL_META_PACKAGE} "
                       "(refresh the package lists: sudo apt-get update)")


def _download(package: str, into: Path) -> tuple[Path, str]:
    """apt-get download a package into a folder; its .deb and version."""
    _run(["apt-get", "download", "-q", package], into)
    (deb,) = sorted(into.glob(f"{package}_*.deb"))
    version = _run(["dpkg-deb", "--field", str(deb), "Version"], into).strip()
    return deb, version


def cpio_newc(entries: list[tuple[str, int, bytes, tuple[int, int]]]) -> bytes:
    """A cpio archive in the "newc" format the kernel unpacks: (name, mode, data, rdev)
    per entry, all owned by root. Written here so device nodes need no root."""
    out = io.BytesIO()

    def add(name: str, mode: int, data: bytes, rdev: tuple[int, int], ino: int) -> None:
        encoded = name.encode() + b"\0"
        fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0)
        out.write(b"070701" + b"".join(b"%08X" % value for value in fields) + encoded)
        out.write(b"\0" * (-out.tell() % 4))
        out.write(data)
        out.write(b"\0" * (-out.tell() % 4))

    for ino, (name, mode, data, rdev) in enumerate(entries, start=1):
        add(name, mode, data, rdev, ino)
    add("TRAILER!!!", 0, b"", (0, 0), 0)
    return out.getvalue()


def initramfs(busybox: bytes) -> bytes:
    """The gzipped initramfs: busybox, /init and the folders and nodes it needs."""
    folder, file, char = 0o040755, 0o100755, 0o020600
    entries = [(name, folder, b"", (0, 0)) for name in ("bin", "dev", "proc", "sys", "tmp")]
    entries += [("dev/console", char, b"", (5, 1)), ("dev/null", char | 0o666, b"", (1, 3)),
                ("bin/busybox", file, busybox, (0, 0)), ("init", file, INIT.encode(), (0, 0))]
    return gzip.compress(cpio_newc(entries), compresslevel=6, mtime=0)


def build(folder: Path | None = None) -> BootFiles:
    """Download, extract and write the boot files and their manifest into `folder`."""
    folder = image_dir() if folder is None else Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix="build-") as scratch:
        work = Path(scratch)
        package = kernel_package()
        kernel_deb, kernel_version = _download(package, work)
        busybox_deb, busybox_version = _download(BUSYBOX_PACKAGE, work)
        for deb, to in ((kernel_deb, "kernel"), (busybox_deb, "busybox")):
            _run(["dpkg-deb", "--extract", str(deb), to], work)
        kernels = sorted((work / "kernel" / "boot").glob("vmlinuz-*"))
        if not kernels:
            raise RuntimeError(f"{kernel_deb.name} holds no boot/vmlinuz-*")
        busybox = (work / "busybox" / "bin" / "busybox").read_bytes()
        shutil.copyfile(kernels[0], work / KERNEL_FILE)
        (work / INITRD_FILE).write_bytes(initramfs(busybox))
        manifest = {"kernel_package": package, "kernel_version": kernel_version,
                    "busybox_version": busybox_version,
                    "sha256": {name: _sha256(work / name) for name in (KERNEL_FILE, INITRD_FILE)}}
        (work / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        for name in (KERNEL_FILE, INITRD_FILE, MANIFEST):  # the manifest last: it says "done"
            os.replace(work / name, folder / name)
    return load(folder)


def setup(folder: Path | None = None) -> str:
    """Make the boot files unless they are there and intact; one line saying what happened."""
    try:
        files = load(folder)
        return (f"microvm: kernel {files.kernel_package} and initramfs are ready "
                f"({files.kernel.parent})")
    except ImageMissing:
        pass
    for tool in ("apt-get", "apt-cache", "dpkg-deb"):
        if not shutil.which(tool):
            return (f"microvm: needs {tool} (Debian/Ubuntu) to fetch the Debian kernel; "
                    "this machine has none, so the microvm kind stays unavailable")
    try:
        files = build(folder)
    except (RuntimeError, OSError, ValueError, subprocess.TimeoutExpired) as exc:
        return f"microvm: could not prepare the kernel and initramfs: {exc}"
    return (f"microvm: installed kernel {files.kernel_package} {files.kernel_version} and a "
            f"busybox {files.busybox_version} initramfs into {files.kernel.parent}")
