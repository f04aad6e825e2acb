"""The standard workload: the same small computation in every kind of sandbox.

Every sandbox computes fib(n) iteratively (fib(0)=0, fib(1)=1) from guest code kept in
labkit/guests/ (WAT for wasm, JavaScript for V8, POSIX shell for processes and
containers), so a start-latency comparison compares sandboxes, not workloads, and every
answer can be checked against `expected`.
"""

from functools import cache
from importlib import resources

# fib(78) is the largest that every guest computes exactly (JavaScript numbers are
# exact up to 2**53; fib(79) is past it).
MAX_N = 78
# Small enough that the work is negligible next to starting a sandbox.
STANDARD_N = 20

GUEST_FILES = {"wat": "fib.wat", "js": "fib.js", "sh": "fib.sh"}


def check_n(n) -> int:
    """Refuse inputs the guests cannot answer exactly, naming the bad value."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be a whole number, got {n!r}")
    if not 0 <= n <= MAX_N:
        raise ValueError(f"n must be between 0 and {MAX_N}, got {n}")
    return n


@cache
def expected(n: int = STANDARD_N) -> int:
    """The right answer, computed here on the host, to check what a guest returns.

    Cached: it is checked after every cold call, and must cost nothing next to one."""
    a, b = 0, 1
    for _ in range(check_n(n)):
        a, b = b, a + b
    return a


def guest_source(language: str) -> str:
    """The guest code for one language: 'wat', 'js' or 'sh'."""
    try:
        name = GUEST_FILES[language]
    except KeyError:
        valid = ", ".join(sorted(GUEST_FILES))
        raise ValueError(f"no guest for language {language!r}; valid ones are: {valid}") from None
    return resources.files("labkit.guests").joinpath(name).read_text()
