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


class LimitExceeded(LabkitError):
    """Guest code hit one of its caps (CPU time, memory, stack, processes)."""

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


class UnsafeFolder(LabkitError):
    """A state folder labkit would write to is not private to this user (owner, symlink)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived: unwound like Ctrl-C, so every `with` block cleans up."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"stopped by signal {signum}")
