"""Every kind of sandbox, by name; each module is imported only when first asked for.

So `import labkit` works on a machine with none of the runtimes, and asking for a kind
that cannot run here tells you why and how to fix it instead of raising ImportError.
"""

from __future__ import annotations

import importlib

from ..errors import NotOpen, NotSupported, Unavailable
from .base import FAMILIES, Availability, Capabilities, Limits, Sandbox, trial_error

# name -> (module, class, family): one line per kind, read without importing the kind.
# The order is the order of tables and charts.
KINDS: dict[str, tuple[str, str, str]] = {
    "wasm": ("labkit.sandboxes.wasm", "WasmSandbox", "isolate"),
    "v8": ("labkit.sandboxes.v8", "V8Sandbox", "isolate"),
    "process": ("labkit.sandboxes.process", "ProcessSandbox", "process"),
    "bwrap": ("labkit.sandboxes.bwrap", "BwrapSandbox", "namespaces"),
    "runc": ("labkit.sandboxes.containers", "RuncSandbox", "container"),
    "crun": ("labkit.sandboxes.containers", "CrunSandbox", "container"),
    "podman": ("labkit.sandboxes.containers", "PodmanSandbox", "container"),
    "docker": ("labkit.sandboxes.containers", "DockerSandbox", "container"),
    "gvisor": ("labkit.sandboxes.gvisor", "GvisorSandbox", "user-space kernel"),
    "microvm": ("labkit.sandboxes.microvm", "MicrovmSandbox", "micro-VM"),
}

__all__ = ["FAMILIES", "KINDS", "Availability", "Capabilities", "Limits", "NotOpen",
           "NotSupported", "Sandbox", "availability", "kinds", "open_sandbox", "parse_kinds",
           "sandbox_class"]


def kinds(family: str | None = None) -> list[str]:
    """Registered kinds, in table order; only those of one family if given
    ("isolate", "process" or "container"): `kinds("container")` -> runc, crun, ..."""
    if family is None:
        return list(KINDS)
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; valid ones are: {', '.join(FAMILIES)}")
    return [kind for kind, entry in KINDS.items() if entry[2:3] == (family,)]


def parse_kinds(text: str | list[str] | None) -> list[str]:
    """'wasm,v8' -> ['wasm', 'v8']; None -> every kind; an unknown name is an error."""
    if text is None:
        return list(KINDS)
    if not isinstance(text, (str, list, tuple)) or \
            not all(isinstance(name, str) for name in ([text] if isinstance(text, str) else text)):
        raise TypeError(f"a kind is a name such as 'wasm' (one of: {', '.join(KINDS)}), "
                        f"got {text!r}")
    names = text.split(",") if isinstance(text, str) else list(text)
    names = [name.strip().lower() for name in names if name.strip()]
    if not names:
        raise ValueError(f"no kinds given; valid ones are: {', '.join(KINDS)}")
    unknown = [name for name in names if name not in KINDS]
    if unknown:
        raise ValueError(f"unknown kind {unknown[0]!r}; valid ones are: {', '.join(KINDS)}")
    return list(dict.fromkeys(names))


def sandbox_class(kind: str) -> type[Sandbox]:
    """The class for a kind; Unavailable if its module is not built or cannot import."""
    (kind,) = parse_kinds([kind])
    module_name, class_name = KINDS[kind][:2]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        raise Unavailable(kind, f"a Python package it needs is missing: {missing}",
                          "make lab  (or: .venv/bin/pip install -e .)") from exc
    except Exception as exc:  # a package that imports but broke (a changed API, a bad build)
        raise Unavailable(kind, f"{module_name} failed to load: {_one_line(exc)}",
                          "reinstall the lab's packages: make setup  (or: .venv/bin/pip "
                          "install --force-reinstall -e .)") from exc
    cls = getattr(module, class_name, None)
    if cls is None:
        raise Unavailable(kind, f"{module_name} has no class {class_name}",
                          "reinstall the lab's packages: make setup")
    return cls


def availability(kind: str, trial: bool = True) -> Availability:
    """Whether a kind runs here: by a real trial (default) or only the cheap check.

    Never raises for a kind that cannot run: whatever goes wrong becomes its reason. A
    bug in labkit (TypeError, AttributeError, ...: not a state of the machine) reads
    "checking <kind> failed: ..." and its fix says it is a bug; its traceback is kept in
    `.traceback`.
    (An unknown kind's name is still a ValueError: that is a typo.)
    """
    (kind,) = parse_kinds([kind])
    try:
        cls = sandbox_class(kind)
        return cls.available() if trial else cls.check()
    except Unavailable as exc:
        return Availability(kind, False, exc.reason, exc.fix)
    except Exception as exc:  # a bug: reported as one, never as "this machine cannot"
        return trial_error(kind, exc)


def _one_line(exc: BaseException) -> str:
    """An exception as one short line: its type and the start of its message."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= 200 else text[:197] + "..."


def open_sandbox(kind: str, limits: Limits | None = None) -> Sandbox:
    """A sandbox of that kind, to use in a `with` block."""
    return sandbox_class(kind)(limits)
