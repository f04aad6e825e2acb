"""From measured sandboxes to a fleet: sessions per server, servers, dollars (notebook 05).

labkit.scaling knows how sessions pack onto a server given their CPU share and memory.
This module supplies those two numbers for each kind of sandbox from a bench run:

- memory per session = the sandbox's measured memory per live instance + the task's
  working set;
- CPU per session = the work itself (a share of a core while active) + start-up: if every
  tool call runs in a fresh sandbox, each call pays one cold start. The caller's wall time
  of a cold call is taken as CPU time, an upper bound (some of it is waiting).

Sessions per server is the smallest of what the cores and the memory allow, and the
binding constraint is "memory", "start-up" (CPU, mostly spent starting sandboxes) or "cpu".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import scaling
from .reference import figure
from .scaling import _numbers

SECONDS_PER_HOUR = 3600


@dataclass(frozen=True)
class Session:
    """What one active agent session needs, besides its sandbox."""

    cpu_share: float = 0.04            # of one core while active: the essay's 25 per CPU
    working_set_mb: float = 10.0       # data the task holds in memory
    tool_calls_per_minute: float = 6.0  # each one starts a fresh sandbox

    def __post_init__(self):
        _positive("cpu_share", self.cpu_share, upper=1)
        _positive("working_set_mb", self.working_set_mb, allow_zero=True)
        _positive("tool_calls_per_minute", self.tool_calls_per_minute, allow_zero=True)


@dataclass(frozen=True)
class Server:
    """The machine sessions pack onto; the default is an EC2 m7g.large (priced in data/)."""

    cores: float = 2.0
    memory_gb: float = 8.0

    def __post_init__(self):
        _positive("cores", self.cores)
        _positive("memory_gb", self.memory_gb)


def _positive(name, value, upper=None, allow_zero=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero) or (upper is not None and value > upper):
        bound = f" and at most {upper}" if upper is not None else ""
        raise ValueError(f"{name} must be {'0 or more' if allow_zero else 'above 0'}"
                         f"{bound}, got {value!r}")


@dataclass(frozen=True)
class KindFit:
    """How one kind of sandbox packs onto the server."""

    kind: str
    session_memory_mb: float
    startup_share: float        # of a core, spent starting sandboxes for one session
    cpu_share: float            # work + start-up
    sessions_per_server: float
    binding: str                # "memory", "start-up" or "cpu"


def fit_kind(result: dict, session: Session = Session(), server: Server = Server()) -> KindFit:
    """Pack sessions of one measured kind (a bench result) onto one server."""
    startup = result["start_ms_p50"] / 1000 * session.tool_calls_per_minute / 60
    share = session.cpu_share + startup
    memory = scaling.session_memory_mb(result["mem_mb_per_instance"], session.working_set_mb)
    if share > server.cores:  # not even one session fits: starting sandboxes eats the server
        return KindFit(result["kind"], memory, startup, share, 0.0, "start-up")
    fit = scaling.fit_sessions(memory, min(share, 1.0), server.cores, server.memory_gb)
    if fit.binding == "memory":
        binding = "memory"
    else:
        binding = "start-up" if startup > session.cpu_share else "cpu"
    return KindFit(result["kind"], memory, startup, share, fit.sessions_per_server, binding)


@dataclass(frozen=True)
class Fleet:
    """The fleet for a population of agent sessions on one kind of sandbox."""

    kind: str
    sessions: float
    servers: float
    cpus: float
    dollars_per_hour: float          # servers rented at EC2 on-demand prices
    dollars_per_agent_hour: float


def fleet(fit: KindFit, sessions: float, server: Server = Server()) -> Fleet:
    """Servers (whole ones), CPUs and rent to carry `sessions` of one kind at once."""
    if fit.sessions_per_server <= 0:
        return Fleet(fit.kind, sessions, math.inf, math.inf, math.inf, math.inf)
    servers = math.ceil(sessions / fit.sessions_per_server)
    per_hour = servers * server_price_per_hour(server)
    return Fleet(fit.kind, sessions, servers, servers * server.cores, per_hour,
                 per_hour / sessions if sessions else 0.0)


def server_price_per_hour(server: Server) -> float:
    """Rent one server as so many m7g.large (2 vCPU, 8 GiB): whichever of cores or memory
    needs more of them, since cloud prices scale about linearly within a family."""
    price, _ = scaling.ec2_server_price()
    return price * max(server.cores / 2, server.memory_gb / 8)


# ------------------------------------------------------------- per agent-hour, as a service


def lambda_dollars_per_agent_hour(fit: KindFit) -> float:
    """AWS Lambda bills GB-seconds; CPU comes with memory (1,769 MB = one vCPU)."""
    gb_second = _numbers(figure("AWS Lambda duration price").value)[0]
    mb_per_vcpu = _numbers(figure("AWS Lambda memory-to-vCPU").value)[0]
    billed_mb = max(fit.session_memory_mb, fit.cpu_share * mb_per_vcpu)
    return billed_mb / 1024 * gb_second * SECONDS_PER_HOUR


def workers_dollars_per_agent_hour(fit: KindFit, session: Session = Session()) -> float:
    """Cloudflare Workers bills CPU milliseconds and requests, not memory held."""
    per_million_cpu_ms = _numbers(figure("Workers CPU price").value)[0]
    per_million_requests = _numbers(figure("Workers request price").value)[0]
    cpu_ms = session.cpu_share * SECONDS_PER_HOUR * 1000
    requests = session.tool_calls_per_minute * 60
    return cpu_ms / 1e6 * per_million_cpu_ms + requests / 1e6 * per_million_requests


def price_sources() -> list[str]:
    """Citations for every price this module uses."""
    rows = ("EC2 m7g.large", "AWS Lambda duration price", "AWS Lambda memory-to-vCPU",
            "Workers CPU price", "Workers request price")
    return [f"{figure(r).metric}: {figure(r).citation()}" for r in rows]
