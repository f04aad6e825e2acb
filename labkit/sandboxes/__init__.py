"""Every kind of sandbox, by name; each module is imported only when first asked for.

So `import labkit` works on a machine with none of the runtimes, and asking for a kind
that cannot run here tells you why and how to fix it instead of raising ImportError.
"""

from __future__ import annotations

import importlib
import importlib.util

from ..errors import Unavailable
from .base import Availability, Limits, Sandbox

# name -> (module, class). The order is the order of tables and charts.
KINDS: dict[str, tuple[str, str]] = {
    "wasm": ("labkit.sandboxes.wasm", "WasmSandbox"),
    "v8": ("labkit.sandboxes.v8", "V8Sandbox"),
    "process": ("labkit.sandboxes.process", "ProcessSandbox"),
    "runc": ("labkit.sandboxes.containers", "RuncSandbox"),
    "crun": ("labkit.sandboxes.containers", "CrunSandbox"),
    "podman": ("labkit.sandboxes.containers", "PodmanSandbox"),
    "docker": ("labkit.sandboxes.containers", "DockerSandbox"),
}

__all__ = ["KINDS", "Availability", "Limits", "Sandbox", "availability", "open_sandbox",
           "parse_kinds", "sandbox_class"]


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
    module_name, class_name = KINDS[kind]
    if importlib.util.find_spec(module_name) is None:
        raise Unavailable(kind, "not built yet in this version of labkit",
                          "update the lab (git pull)")
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
        raise Unavailable(kind, "not built yet in this version of labkit",
                          "update the lab (git pull)")
    return cls


def availability(kind: str, trial: bool = True) -> Availability:
    """Whether a kind runs here: by a real trial (default) or only the cheap check.

    Never raises for a kind that cannot run: whatever goes wrong becomes its reason. (An
    unknown kind's name is still a ValueError: that is a typo, not a machine's state.)
    """
    (kind,) = parse_kinds([kind])
    try:
        cls = sandbox_class(kind)
        return cls.available() if trial else cls.check()
    except Unavailable as exc:
        return Availability(kind, False, exc.reason, exc.fix)
    except Exception as exc:  # a check that crashed still answers "not available, why"
        return Availability(kind, False, f"checking {kind} failed: {_one_line(exc)}",
                            "run `python -m labkit doctor`; if it persists, reinstall: "
                            "make setup")


def _one_line(exc: BaseException) -> str:
    """An exception as one short line: its type and the start of its message."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= 200 else text[:197] + "..."


def open_sandbox(kind: str, limits: Limits | None = None) -> Sandbox:
    """A sandbox of that kind, to use in a `with` block."""
    return sandbox_class(kind)(limits)
