"""The fleet model: how many sandboxes, CPUs, servers and dollars agents would need.

Home notebook: notebooks/02_the_scaling_math.ipynb (the essay's arithmetic, checked).

Two ways to say how many sessions fit on a CPU:
- the essay's way, one number: `Scenario(..., sessions_per_cpu=25)`;
- from first principles: what one session needs (a share of a CPU while active, memory =
  sandbox + working set) against what a server has (cores, memory). `fit_sessions` says
  how many fit and which constraint binds; `Scenario.from_needs` builds a scenario on it.

Every field accepts a scalar or a numpy array; results broadcast, so one call evaluates a
whole grid or a million Monte Carlo samples. Scalars in give floats out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from . import reference

MB_PER_GB = 1024  # memory sizes are binary: 1 GB here means 1 GiB, as cloud servers quote


# ---------------------------------------------------------------- validation helpers


def _as_array(name: str, value) -> np.ndarray:
    if isinstance(value, (str, bytes, bool, np.bool_)) or (
            isinstance(value, np.ndarray) and value.dtype.kind not in "iuf"):
        raise ValueError(f"{name} must be a number or an array of numbers, got {value!r}")
    try:
        array = np.asarray(value, dtype=float)
    except OverflowError:
        raise ValueError(f"{name} must be finite, got a number too large for a float") from None
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or an array of numbers, got {value!r}") from None
    if np.isnan(array).any():
        raise ValueError(f"{name} must be a number, got nan")
    if np.isinf(array).any():
        raise ValueError(f"{name} must be finite, got {_first(array, np.isinf(array))}")
    return array


def _first(array: np.ndarray, bad: np.ndarray) -> float:
    """The first offending value, for the error message."""
    return float(np.asarray(array)[bad].flat[0])


def _check(name: str, array: np.ndarray, bad: np.ndarray, rule: str) -> None:
    if bad.any():
        raise ValueError(f"{name} must be {rule}, got {_first(array, bad):g}")


def _out(array):
    """A float for a scalar result, the array otherwise."""
    array = np.asarray(array)
    return float(array) if array.ndim == 0 else array


# ---------------------------------------------------------------- the scenario


@dataclass(frozen=True, eq=False)
class Scenario:
    """Who uses agents, how many at once, and how densely sessions pack onto CPUs.

    workers: people who could use an agent; concurrency: the fraction of them with an
    agent running at the same moment (0..1); agents_per_worker: agents each runs at once;
    sessions_per_cpu: sessions one CPU carries; gb_per_cpu: memory provisioned with each
    CPU (for cost; 4 = the 8 GiB per 2 vCPUs of an EC2 m7g.large); cores_per_server: the
    server shape used to count servers (2 = m7g.large).
    """

    workers: object
    concurrency: object
    agents_per_worker: object = 1.0
    sessions_per_cpu: object = 25.0
    gb_per_cpu: object = 4.0
    cores_per_server: object = 2.0

    def __post_init__(self):
        arrays = {f.name: _as_array(f.name, getattr(self, f.name)) for f in fields(self)}
        _check("workers", arrays["workers"], arrays["workers"] < 0, "0 or more")
        c = arrays["concurrency"]
        _check("concurrency", c, (c < 0) | (c > 1), "a fraction between 0 and 1")
        _check("agents_per_worker", arrays["agents_per_worker"],
               arrays["agents_per_worker"] < 0, "0 or more")
        _check("sessions_per_cpu", arrays["sessions_per_cpu"],
               arrays["sessions_per_cpu"] <= 0, "more than 0")
        _check("gb_per_cpu", arrays["gb_per_cpu"], arrays["gb_per_cpu"] < 0, "0 or more")
        _check("cores_per_server", arrays["cores_per_server"],
               arrays["cores_per_server"] <= 0, "more than 0")
        try:
            np.broadcast_shapes(*(a.shape for a in arrays.values()))
        except ValueError:
            shapes = ", ".join(f"{k}{a.shape}" for k, a in arrays.items() if a.ndim)
            raise ValueError(f"field shapes do not broadcast together: {shapes}") from None
        for name, array in arrays.items():
            object.__setattr__(self, name, _out(array))
        with np.errstate(over="ignore"):
            totals = {"sessions": self.sessions, "cpus": self.cpus, "memory_gb": self.memory_gb}
        for name, total in totals.items():
            if not np.all(np.isfinite(total)):
                raise ValueError(f"inputs too large: {name} overflows a float; "
                                 "use smaller workers or agents_per_worker")

    @classmethod
    def from_needs(cls, workers, concurrency, agents_per_worker=1.0, *,
                   cpu_share, session_memory_mb, server_cores=2.0, server_memory_gb=8.0):
        """A scenario whose sessions per CPU come from first principles (see fit_sessions).

        The fleet is then made of whole servers' worth of CPU and memory: cpus = servers x
        cores, memory = servers x server memory (fractional servers, so it stays smooth).
        """
        fit = fit_sessions(session_memory_mb, cpu_share, server_cores, server_memory_gb)
        if np.any(np.asarray(fit.sessions_per_server) < 1):
            raise ValueError("not even one session fits on the server: "
                             f"session_memory_mb={session_memory_mb!r}, cpu_share={cpu_share!r}")
        return cls(workers, concurrency, agents_per_worker,
                   sessions_per_cpu=fit.sessions_per_cpu,
                   gb_per_cpu=np.asarray(server_memory_gb, dtype=float) / server_cores,
                   cores_per_server=server_cores)

    @property
    def sessions(self):
        """Simultaneous agent sessions: workers x concurrency x agents per worker."""
        return _out(np.multiply(np.multiply(self.workers, self.concurrency),
                                self.agents_per_worker))

    @property
    def cpus(self):
        """CPUs the sessions need: sessions / sessions per CPU.

        A "CPU" here is one vCPU (a hardware thread), the unit clouds rent; the essay's
        "server CPU" is read that way. If it meant a socket, see `socket_reading`.
        """
        return _out(np.divide(self.sessions, self.sessions_per_cpu))

    @property
    def memory_gb(self):
        """Memory provisioned alongside those CPUs, in GB."""
        return _out(np.multiply(self.cpus, self.gb_per_cpu))

    @property
    def servers(self):
        """Whole servers of cores_per_server CPUs each (rounded up)."""
        return _out(np.ceil(np.divide(self.cpus, self.cores_per_server) * (1 - 1e-12)))

    def cost_per_hour(self, prices: Prices | None = None):
        """Dollars per hour to rent the CPUs and memory at per-vCPU-hour and per-GB-hour prices."""
        prices = prices or fargate_prices()
        return _out(np.multiply(self.cpus, prices.vcpu_hour)
                    + np.multiply(self.memory_gb, prices.gb_hour))

    def __repr__(self) -> str:
        parts = ", ".join(f"{f.name}={_short(getattr(self, f.name))}" for f in fields(self))
        return f"Scenario({parts})"


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return f"array{value.shape}"


OUTPUTS = ("sessions", "cpus", "memory_gb", "servers")


def _check_output(output: str) -> None:
    if output not in OUTPUTS:
        raise ValueError(f"unknown output {output!r}; choose one of {list(OUTPUTS)}")


# ---------------------------------------------------------------- first principles


@dataclass(frozen=True)
class Fit:
    """How many sessions one server holds, and which resource runs out first."""

    cpu_bound: object          # sessions the cores could run: cores / cpu_share
    memory_bound: object       # sessions the memory could hold: memory / session memory
    sessions_per_server: object  # the smaller, rounded down to whole sessions
    sessions_per_cpu: object     # sessions_per_server / cores
    binding: object            # "cpu" or "memory" (an array of them for array inputs)


def fit_sessions(session_memory_mb, cpu_share, server_cores=2.0, server_memory_gb=8.0) -> Fit:
    """Sessions per server = min(CPU bound, memory bound); says which one binds.

    session_memory_mb: one session's memory (its sandbox plus its working set), in MB.
    cpu_share: the fraction of one core an active session keeps busy (0.02 = 1/50).
    Ties go to "cpu". Issue 7's measured sandbox memory plugs in as session_memory_mb.
    """
    memory = _as_array("session_memory_mb", session_memory_mb)
    share = _as_array("cpu_share", cpu_share)
    cores = _as_array("server_cores", server_cores)
    server_memory = _as_array("server_memory_gb", server_memory_gb)
    _check("session_memory_mb", memory, memory <= 0, "more than 0")
    _check("cpu_share", share, (share <= 0) | (share > 1), "a fraction above 0 and at most 1")
    _check("server_cores", cores, cores <= 0, "more than 0")
    _check("server_memory_gb", server_memory, server_memory <= 0, "more than 0")
    cpu_bound = cores / share
    memory_bound = server_memory * MB_PER_GB / memory
    # the small tolerance keeps 2/0.02 = 99.999... from rounding down to 99
    per_server = np.floor(np.minimum(cpu_bound, memory_bound) * (1 + 1e-12))
    binding = np.where(cpu_bound <= memory_bound, "cpu", "memory")
    return Fit(cpu_bound=_out(cpu_bound), memory_bound=_out(memory_bound),
               sessions_per_server=_out(per_server), sessions_per_cpu=_out(per_server / cores),
               binding=str(binding) if binding.ndim == 0 else binding)


def session_memory_mb(sandbox_mb, working_set_mb):
    """One session's memory: the sandbox's own footprint plus the data the task holds."""
    sandbox = _as_array("sandbox_mb", sandbox_mb)
    working = _as_array("working_set_mb", working_set_mb)
    _check("sandbox_mb", sandbox, sandbox < 0, "0 or more")
    _check("working_set_mb", working, working < 0, "0 or more")
    return _out(sandbox + working)


# ---------------------------------------------------------------- prices, from data/


@dataclass(frozen=True)
class Prices:
    """Rent for compute: dollars per vCPU-hour and per GB-hour, and where they came from."""

    vcpu_hour: float
    gb_hour: float
    source: str


def fargate_prices() -> Prices:
    """AWS Fargate Linux/x86 us-east-1 rates, read from data/reference_figures.csv."""
    fig = reference.figure("AWS Fargate vCPU-hour")
    vcpu, gb = reference.numbers_in(fig.value)
    return Prices(vcpu_hour=vcpu, gb_hour=gb, source=fig.citation())


def ec2_server_price() -> tuple[float, str]:
    """Dollars per hour for one EC2 m7g.large (2 vCPU, 8 GiB), with its citation."""
    fig = reference.figure("EC2 m7g.large")
    return reference.numbers_in(fig.value)[0], fig.citation()


# ---------------------------------------------------------------- the essay's numbers


@dataclass(frozen=True)
class EssayClaim:
    """The essay's inputs and stated results, parsed from data/reference_figures.csv."""

    workers: float
    concurrency: float
    sessions_stated: float
    sessions_per_cpu: tuple[float, float]
    cpus_stated: tuple[float, float]
    world_workers: float
    citation: str
    quote: str


def essay_claim() -> EssayClaim:
    """What the essay assumes and states, each number read from its reference row."""
    workers = reference.figure("US knowledge workers (post")
    concurrency = reference.figure("Agent concurrency (post")
    sessions = reference.figure("Simultaneous agent sessions, US")
    per_cpu = reference.figure("Users (agent sessions) per CPU")
    cpus = reference.figure("Server CPUs needed, US")
    world = reference.figure("Global knowledge workers (post")
    return EssayClaim(
        workers=reference.numbers_in(workers.value)[0] * 1e6,
        concurrency=reference.numbers_in(concurrency.value)[0] / 100,
        sessions_stated=reference.numbers_in(sessions.value)[0] * 1e6,
        sessions_per_cpu=tuple(reference.numbers_in(per_cpu.value)),
        cpus_stated=tuple(reference.numbers_in(cpus.value)),
        world_workers=reference.numbers_in(world.value)[0] * 1e9,
        citation=workers.citation(),
        quote=workers.quote,
    )


def workers_needed(sessions, concurrency, agents_per_worker=1.0):
    """Workers it takes to reach `sessions` at a given concurrency: the inverse of Scenario."""
    return _out(np.divide(sessions, np.multiply(concurrency, agents_per_worker)))


def concurrency_needed(sessions, workers, agents_per_worker=1.0):
    """Concurrency it takes for `workers` to reach `sessions`."""
    return _out(np.divide(sessions, np.multiply(workers, agents_per_worker)))


# ---------------------------------------------------------------- sensitivity


@dataclass(frozen=True)
class Range:
    """A low..high range for one assumption, and why those ends."""

    low: float
    high: float
    why: str


# The lab's own container case (notebook 02, step 3): a 300 MB sandbox plus a 10 MB working
# set at the essay's 4% of a CPU on a 2-vCPU, 8 GiB server is memory-bound at 13 per vCPU.
CONTAINER_SESSION_MB = 310.0
ESSAY_CPU_SHARE = 0.04


def us_bls_professional_workers() -> float:
    """The BLS 'management, professional, and related' total: the sum of its ten groups."""
    total = reference.figure("BLS 'management, professional, and related'")
    return reference.numbers_in(total.value)[0] * 1e6


def container_sessions_per_cpu() -> float:
    """Sessions per vCPU for the lab's container-sized session (memory binds)."""
    return float(fit_sessions(CONTAINER_SESSION_MB, ESSAY_CPU_SHARE).sessions_per_cpu)


def default_ranges() -> dict[str, Range]:
    """Plausible ranges for the essay's four assumptions; each end says where it comes from.

    Workers start at the BLS 'management, professional, and related' total (~70.3M, the sum
    of its ten occupation groups); sessions per CPU start at the lab's own container case
    (13 per vCPU), so the tornado covers sessions the essay's 25-50 leaves out.
    """
    claim = essay_claim()
    _, high_cpu = claim.sessions_per_cpu
    low_workers = us_bls_professional_workers()
    low_cpu = container_sessions_per_cpu()
    return {
        "workers": Range(low_workers, 161e6, f"{low_workers / 1e6:.1f}M BLS 'management, "
                         "professional, and related' workers to ~161M, all US employment"),
        "concurrency": Range(0.05, 0.24, "an assumed quiet 5% to the 24% the essay's 24M implies"),
        "agents_per_worker": Range(1.0, 2.0, "84% of coding-agent users run 1-2 at a time "
                                             "(Jellyfish Research; developers only)"),
        "sessions_per_cpu": Range(low_cpu, high_cpu, f"{low_cpu:g} per vCPU (the lab's 300 MB "
                                  f"container session, memory-bound) to the essay's {high_cpu:g}"),
    }


@dataclass(frozen=True)
class Swing:
    """One bar of a tornado chart: the result with an assumption at its low and high end."""

    name: str
    low: float
    high: float
    result_at_low: float
    result_at_high: float

    @property
    def width(self) -> float:
        return abs(self.result_at_high - self.result_at_low)


def sensitivity(base: Scenario, ranges: dict[str, Range] | None = None,
                output: str = "cpus") -> list[Swing]:
    """Vary one assumption at a time over its range, others at base; widest swing first."""
    _check_output(output)
    ranges = ranges if ranges is not None else default_ranges()
    swings = []
    for name, rng in ranges.items():
        if name not in {f.name for f in fields(Scenario)}:
            raise ValueError(f"unknown assumption {name!r}; Scenario fields are "
                             f"{[f.name for f in fields(Scenario)]}")
        varied = _replace(base, **{name: np.array([rng.low, rng.high])})
        low_result, high_result = np.asarray(getattr(varied, output), dtype=float)
        swings.append(Swing(name, rng.low, rng.high, float(low_result), float(high_result)))
    return sorted(swings, key=lambda s: s.width, reverse=True)


def _replace(scenario: Scenario, **changes) -> Scenario:
    values = {f.name: getattr(scenario, f.name) for f in fields(Scenario)}
    values.update(changes)
    return Scenario(**values)


# ---------------------------------------------------------------- Monte Carlo


@dataclass(frozen=True)
class Uncertain:
    """A distribution for one assumption: 'uniform' (low, high), 'triangular' (low, mode,
    high) or 'loguniform' (low, high)."""

    kind: str
    params: tuple[float, ...]

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.kind == "uniform":
            return rng.uniform(*self.params, size=n)
        if self.kind == "triangular":
            return rng.triangular(*self.params, size=n)
        if self.kind == "loguniform":
            low, high = np.log(self.params)
            return np.exp(rng.uniform(low, high, size=n))
        raise ValueError(f"unknown distribution {self.kind!r}; use uniform, triangular "
                         "or loguniform")


def default_uncertainty() -> dict[str, Uncertain]:
    """The essay's assumptions as distributions, over the ranges of default_ranges(), except
    sessions per CPU, which stays at the essay's own 25-50: the Monte Carlo asks how sure the
    essay's sum is on its own density; the tornado shows what a container density does."""
    r = default_ranges()
    low_cpu, high_cpu = essay_claim().sessions_per_cpu
    return {
        "workers": Uncertain("uniform", (r["workers"].low, r["workers"].high)),
        "concurrency": Uncertain("triangular", (r["concurrency"].low, 0.15,
                                                r["concurrency"].high)),
        "agents_per_worker": Uncertain("triangular", (1.0, 1.0, r["agents_per_worker"].high)),
        "sessions_per_cpu": Uncertain("uniform", (low_cpu, high_cpu)),
    }


@dataclass(frozen=True)
class MonteCarlo:
    """Samples of an output (CPUs by default) and their 5th, 50th and 95th percentiles."""

    samples: np.ndarray
    p5: float
    p50: float
    p95: float
    seed: int

    def share_within(self, low: float, high: float) -> float:
        """Fraction of samples inside [low, high], e.g. the essay's 500k-1M CPUs."""
        return float(np.mean((self.samples >= low) & (self.samples <= high)))


MAX_SAMPLES = 20_000_000  # about 1 GB of float arrays at most


def monte_carlo(samples: int = 1_000_000, seed: int = 2026,
                uncertainty: dict[str, Uncertain] | None = None,
                output: str = "cpus") -> MonteCarlo:
    """Draw every uncertain assumption `samples` times (seeded: same seed, same numbers)."""
    n = samples
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= MAX_SAMPLES:
        raise ValueError(f"samples must be a whole number from 1 to {MAX_SAMPLES:,} "
                         f"(each sample holds a few arrays of 8-byte floats), got {n!r}")
    _check_output(output)
    uncertainty = uncertainty if uncertainty is not None else default_uncertainty()
    rng = np.random.default_rng(seed)
    draws = {name: dist.sample(rng, n) for name, dist in uncertainty.items()}
    claim = essay_claim()  # assumptions not drawn stay at the essay's values
    scenario = Scenario(**{"workers": claim.workers, "concurrency": claim.concurrency, **draws})
    drawn = np.broadcast_to(np.asarray(getattr(scenario, output), dtype=float), (n,))
    p5, p50, p95 = np.percentile(drawn, [5, 50, 95])
    return MonteCarlo(samples=drawn, p5=float(p5), p50=float(p50), p95=float(p95), seed=seed)


def round_sig(x: float, digits: int = 3) -> float:
    """x rounded to `digits` significant figures, for stable printed results."""
    if x == 0 or not math.isfinite(x):
        return x
    return round(x, digits - 1 - math.floor(math.log10(abs(x))))


# ---------------------------------------------------------------- average vs peak

PEAK_TO_AVERAGE = 2.5  # notebook 01's working day: the busiest minute is 2.5x the average


def at_peak(scenario: Scenario, peak_to_average: float = PEAK_TO_AVERAGE) -> Scenario:
    """The same scenario at the daily peak, reading its concurrency as the daily average.

    Notebook 01 reads the essay's 15% as an average; a fleet must be sized for the peak.
    """
    ratio = _as_array("peak_to_average", peak_to_average)
    _check("peak_to_average", ratio, ratio < 1, "1 or more")
    peak = np.multiply(scenario.concurrency, ratio)
    _check("concurrency x peak_to_average", peak, peak > 1,
           "at most 1 (more users active than exist)")
    return _replace(scenario, concurrency=_out(peak))


# ---------------------------------------------------------------- starts per second


def session_starts_per_second(sessions, session_minutes):
    """Little's law (L = lambda W): sessions held at once / mean session length = starts/s."""
    length = _as_array("session_minutes", session_minutes)
    _check("session_minutes", length, length <= 0, "more than 0")
    return _out(np.divide(sessions, length * 60))


def sandbox_starts_per_second(sessions, tool_calls_per_minute):
    """Fresh sandboxes per second if every tool call of every session gets its own."""
    rate = _as_array("tool_calls_per_minute", tool_calls_per_minute)
    _check("tool_calls_per_minute", rate, rate < 0, "0 or more")
    return _out(np.multiply(sessions, rate / 60))


# ---------------------------------------------------------------- physical servers and power


@dataclass(frozen=True)
class ServerShape:
    """A physical server: hardware threads (= vCPUs), CPU power, and the reference row."""

    name: str
    vcpus: float
    cpu_watts: float
    citation: str


def server_shapes() -> tuple[ServerShape, ...]:
    """A big and a small physical server, read from data/reference_figures.csv."""
    shapes = []
    for metric, name in (("Dual-socket AMD EPYC 9654", "2 x AMD EPYC 9654 (384 vCPUs)"),
                         ("AWS Graviton3 server", "1 x AWS Graviton3 (64 vCPUs)")):
        fig = reference.figure(metric)
        vcpus, watts = reference.numbers_in(fig.value)[:2]
        shapes.append(ServerShape(name, vcpus, watts, fig.citation()))
    return tuple(shapes)


def us_data_centre_watts() -> tuple[float, str]:
    """Average power drawn by all US data centres (annual energy / hours in a year)."""
    fig = reference.figure("US data centre electricity")
    twh = reference.numbers_in(fig.value)[0]
    return twh * 1e12 / (365 * 24), fig.citation()


@dataclass(frozen=True)
class Physical:
    """vCPUs turned into physical servers, their CPU power, and a share of US data centres."""

    shape: ServerShape
    servers: float
    cpu_megawatts: float
    share_of_us_data_centres: float


def physical(vcpus, shape: ServerShape) -> Physical:
    """Whole servers of this shape for `vcpus`, with CPU power only (a floor: memory, disks,
    fans and cooling add to it)."""
    cpus = float(_as_array("vcpus", vcpus))
    _check("vcpus", np.asarray(cpus), np.asarray(cpus < 0), "0 or more")
    servers = math.ceil(cpus / shape.vcpus * (1 - 1e-12))
    watts = servers * shape.cpu_watts
    us_watts, _ = us_data_centre_watts()
    return Physical(shape, servers, watts / 1e6, watts / us_watts)


def socket_reading(cpus_stated, cores_per_socket: float = 96.0):
    """If the essay's "server CPU" meant a socket: the cores those sockets hold."""
    return _out(np.multiply(cpus_stated, cores_per_socket))
