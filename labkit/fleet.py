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
from .reference import figure, numbers_in

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
    recorded: bool = False      # the bench result came from a recording, not this machine

    @property
    def label(self) -> str:
        """The kind as tables and charts show it: recorded ones say so."""
        return f"{self.kind} (RECORDED)" if self.recorded else self.kind


def fit_kind(result: dict, session: Session = Session(), server: Server = Server()) -> KindFit:
    """Pack sessions of one measured kind (a bench result) onto one server."""
    startup = result["start_ms_p50"] / 1000 * session.tool_calls_per_minute / 60
    share = session.cpu_share + startup
    memory = scaling.session_memory_mb(result["mem_mb_per_instance"], session.working_set_mb)
    recorded = bool(result.get("recorded"))
    if share > server.cores:  # not even one session fits: starting sandboxes eats the server
        return KindFit(result["kind"], memory, startup, share, 0.0, "start-up", recorded)
    fit = scaling.fit_sessions(memory, min(share, 1.0), server.cores, server.memory_gb)
    if fit.binding == "memory":
        binding = "memory"
    else:
        binding = "start-up" if startup > session.cpu_share else "cpu"
    return KindFit(result["kind"], memory, startup, share, fit.sessions_per_server, binding,
                   recorded)


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
#
# Monthly free allowances (Lambda's free GB-s, Workers' included CPU-ms and requests) are
# left out on purpose: at a fleet of millions of sessions they are a rounding error.


@dataclass(frozen=True)
class BillLine:
    """One line of a bill for one agent-hour: what it is, its dollars, in the total or not."""

    item: str
    dollars: float
    included: bool
    why: str


@dataclass(frozen=True)
class Bill:
    """A service's bill for one active agent-hour, line by line."""

    service: str
    lines: tuple[BillLine, ...]

    @property
    def total(self) -> float:
        """Dollars per agent-hour: the included lines only."""
        return sum(line.dollars for line in self.lines if line.included)

    def text(self) -> str:
        """The bill as a notebook prints it: every line, in or out, and why."""
        rows = [f"{self.service}: ${self.total:.4f} per agent-hour"]
        for line in self.lines:
            mark = "in " if line.included else "out"
            rows.append(f"  [{mark}] {line.item:<34}${line.dollars:>9.4f}  {line.why}")
        return "\n".join(rows)


def _price(metric: str) -> float:
    return numbers_in(figure(metric).value)[0]


def lambda_bill(fit: KindFit, session: Session = Session()) -> Bill:
    """AWS Lambda for one agent session held for an hour, one tool call per fresh invocation.

    Lambda bills the memory configured (128 MB at least, in 1 MB steps) for the whole
    duration, and CPU comes with memory (1,769 MB = one vCPU); an invocation lasts at most
    15 minutes, so an hour-long session is at least four invocations, each with a request
    charge, plus one request per tool call.
    """
    gb_second = _price("AWS Lambda duration price")
    mb_per_vcpu = _price("AWS Lambda memory-to-vCPU")
    min_mb = _price("AWS Lambda memory range")
    max_seconds = _price("AWS Lambda maximum timeout")
    per_million = _price("AWS Lambda request price")
    needed_mb = max(fit.session_memory_mb, fit.cpu_share * mb_per_vcpu)
    billed_mb = max(min_mb, math.ceil(needed_mb))
    chained = math.ceil(SECONDS_PER_HOUR / max_seconds)
    tool_calls = session.tool_calls_per_minute * 60
    floor = " (the 128 MB minimum)" if billed_mb == min_mb else ""
    return Bill("AWS Lambda", (
        BillLine("duration", billed_mb / 1024 * gb_second * SECONDS_PER_HOUR, True,
                 f"{billed_mb:,.0f} MB{floor} for 3,600 s"),
        BillLine("requests", (chained + tool_calls) / 1e6 * per_million, True,
                 f"{chained} invocations to span an hour (15-minute maximum) "
                 f"+ {tool_calls:,.0f} tool calls"),
    ))


def workers_bill(fit: KindFit, session: Session = Session(),
                 include_beta_waived: bool = False) -> Bill:
    """Cloudflare Workers for one agent session held for an hour.

    Workers bills CPU milliseconds and requests, not memory held; the Agents SDK runs each
    agent as a Durable Object, billed for duration at 128 MB while it is active. Dynamic
    Workers add $0.002 per unique Worker loaded per day: shown, but left out of the total
    while the open beta waives it (include_beta_waived=True counts it), assuming every tool
    call is new model-written code, the worst case.
    """
    del fit  # the same session costs the same on Workers whatever sandbox it would use here
    cpu_ms = session.cpu_share * SECONDS_PER_HOUR * 1000
    tool_calls = session.tool_calls_per_minute * 60
    # Cloudflare's own worked example counts 128 MB as 0.128 GB (552,960 GB-s for 4.32M s)
    object_gb_seconds = 128 / 1000 * SECONDS_PER_HOUR
    return Bill("Cloudflare Workers", (
        BillLine("CPU time", cpu_ms / 1e6 * _price("Workers CPU price"), True,
                 f"{cpu_ms:,.0f} CPU-ms ({session.cpu_share:.0%} of a CPU)"),
        BillLine("requests", tool_calls / 1e6 * _price("Workers request price"), True,
                 f"{tool_calls:,.0f} tool calls"),
        BillLine("Durable Object duration", object_gb_seconds / 1e6
                 * _price("Durable Objects duration price"), True,
                 "the agent's Durable Object, 128 MB for 3,600 s"),
        BillLine("Dynamic Worker loads", tool_calls * _price("Dynamic Worker load price"),
                 include_beta_waived,
                 f"{tool_calls:,.0f} unique Workers x $0.002 if every tool call is new code; "
                 + ("counted" if include_beta_waived else "waived in the open beta")),
    ))


def lambda_dollars_per_agent_hour(fit: KindFit, session: Session = Session()) -> float:
    """AWS Lambda's total per agent-hour (see lambda_bill for the lines)."""
    return lambda_bill(fit, session).total


def workers_dollars_per_agent_hour(fit: KindFit, session: Session = Session()) -> float:
    """Cloudflare Workers' total per agent-hour, beta-waived lines left out (see workers_bill)."""
    return workers_bill(fit, session).total


def price_sources() -> list[str]:
    """Citations for every price this module uses."""
    rows = ("EC2 m7g.large", "AWS Lambda duration price", "AWS Lambda memory-to-vCPU",
            "AWS Lambda memory range", "AWS Lambda maximum timeout", "AWS Lambda request price",
            "Workers CPU price", "Workers request price", "Durable Objects duration price",
            "Dynamic Worker load price")
    return [f"{figure(r).metric}: {figure(r).citation()}" for r in rows]
