"""The small family of errors labkit raises, so notebooks can catch them and fall back."""


class LabkitError(Exception):
    """Base class: every error labkit raises on purpose is one of these."""


class Unavailable(LabkitError):
    """A kind of sandbox cannot run on this machine; carries why and how to fix it."""

    def __init__(self, kind: str, reason: str, fix: str = ""):
        self.kind, self.reason, self.fix = kind, reason, fix
        message = f"{kind} is not available: {reason}"
        if fix:
            message += f" (fix: {fix})"
        super().__init__(message)


# What `LimitExceeded.limit` names: one word per cap, the same for every kind.
LIMIT_CPU = "CPU time"      # CPU time the kernel counted (RLIMIT_CPU)
LIMIT_TIME = "time"         # wall-clock time of one call
LIMIT_MEMORY = "memory"
LIMIT_PROCESSES = "process"
LIMIT_OUTPUT = "output"
LIMIT_STACK = "stack"


class LimitExceeded(LabkitError):
    """Guest code hit one of its caps (`limit` is one of the LIMIT_* names above, or a
    kind's own: "table", "CPU fuel")."""

    def __init__(self, kind: str, limit: str, detail: str = ""):
        self.kind, self.limit, self.detail = kind, limit, detail
        message = f"{kind}: the guest exceeded its {limit} limit"
        if detail:
            message += f" ({detail})"
        super().__init__(message)


class GuestError(LabkitError):
    """Guest code failed for a reason of its own: invalid code, a crash, a wrong answer."""

    def __init__(self, kind: str, detail: str):
        self.kind, self.detail = kind, detail
        super().__init__(f"{kind}: {detail}")


class NotOpen(LabkitError):
    """A sandbox was used outside its `with` block (before it opened or after it closed)."""

    def __init__(self, kind: str):
        self.kind = kind
        super().__init__(f"the {kind} sandbox is not open: use it in a `with` block "
                         f"(with open_sandbox({kind!r}) as box: ...)")


class NotSupported(LabkitError):
    """A kind was asked for an operation it does not have; names the kinds that do."""

    def __init__(self, kind: str, what: str, kinds_that_do: list[str] | tuple[str, ...] = ()):
        self.kind, self.what, self.kinds_that_do = kind, what, tuple(kinds_that_do)
        message = f"the {kind} sandbox has no {what}"
        message += (f"; kinds that do: {', '.join(self.kinds_that_do)}" if self.kinds_that_do
                     else "; no kind here does")
        super().__init__(message)


class UnsafeFolder(LabkitError):
    """A state folder labkit would write to is not private to this user (owner, symlink)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived: unwound like Ctrl-C, so every `with` block cleans up."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"stopped by signal {signum}")
