"""Real Linux containers: runc and crun on a bundle labkit builds, Podman and Docker.

A container is a process the kernel lies to: its own process list (pid namespace), its own
hostname (uts), its own mounts and root filesystem (mount), its own network holding only a
loopback interface (network), its own System V IPC (ipc), with cgroups capping its memory
and process count.

- `runtime.py`: runc and crun, the low-level OCI runtimes, on a bundle labkit writes;
- `bundle.py`: that bundle, a root filesystem plus config.json;
- `managers.py`: Podman and Docker, managers on top of such a runtime, driven by their CLI;
- `seccomp.py`: the system-call filter, an allow list like Docker's default;
- `cgroups.py`: where a container's cgroups go (under the lab's own);
- `ahead.py`: a container made ahead (`create`) and started on the call, with the small
  shim that waits for it (runc, crun and runsc leave no process to), and the cold call split
  into the runtime's own steps;
- `common.py`: what every container kind shares: the cap on output, caps read from
  evidence the guest cannot forge, memory accounting, the switch that makes containers
  report themselves missing.

Every cold call creates a container, runs the standard workload in it, waits for it and
deletes it. Nothing outlives the call or the `with` block: containers are deleted on errors and on
KeyboardInterrupt, and leftovers of a killed kernel are removed when the next sandbox opens.

Home notebook: notebooks/04_containers_up_close.ipynb.
"""

from .common import DISABLE_ENV, MAX_OUTPUT_BYTES, MAX_SCRIPT_BUNDLES, ContainerSandbox
from .managers import CliSandbox, DockerSandbox, PodmanSandbox
from .runtime import CrunSandbox, OciSandbox, RuncSandbox

__all__ = ["DISABLE_ENV", "MAX_OUTPUT_BYTES", "MAX_SCRIPT_BUNDLES", "CliSandbox",
           "ContainerSandbox", "CrunSandbox", "DockerSandbox", "OciSandbox", "PodmanSandbox",
           "RuncSandbox"]
