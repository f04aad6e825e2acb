"""Many agents at once on this machine, each tool call in a fresh sandbox.

Each agent is a thread: it mostly waits on its model (the drawn thinking time, slept at a
fraction `think_scale` so a run takes seconds, not minutes), and only its tool calls need a
sandbox. Those run on a few open sandbox hosts (one workerd, one runtime each) shared by
all agents: an agent takes a free host for one call, a fresh guest is created in it, runs,
is torn down, and the host goes back. This is the distinction the essay blurs: the agent
loop can be multiplexed like a chat server; only code execution needs its own sandbox.

Measured: tool-call latency as the agent sees it (waiting for a host included) and its
p50/p99, peak sandboxes live at once, peak memory of this process and its children,
failures, and agents finished per minute. Nothing outlives the run: an interrupt sets a
stop flag, every agent ends at its next turn, and every host's `with` block closes it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import queue
import resource
import statistics
import threading
import time
from pathlib import Path

import psutil

from ..errors import NotSupported
from ..measure import machine_info, tree_memory
from ..sandboxes import open_sandbox, sandbox_class
from ..sandboxes.base import Limits
from .loop import check_style, run_agent
from .tasks import make_tasks

# labkit's own ceiling for one lab run: the "a few hundred", with room.
MAX_AGENTS = 500
# What one agent thread may hold (its stack as touched, its task data and history).
AGENT_BYTES = 8 * 2**20
# Memory maps one thread adds (its stack and guard page), with margin.
MAPS_PER_AGENT = 4
# Threads this process keeps for itself and the runtime's helpers.
THREAD_MARGIN = 64
# How often the sampler reads memory and the live count.
SAMPLE_SECONDS = 0.05


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _cgroup_pids_room() -> int | None:
    """pids.max - pids.current of this process's cgroup (v2), if it has a limit."""
    try:
        line = Path("/proc/self/cgroup").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    folder = "/sys/fs/cgroup" + line.split("::", 1)[-1]
    limit, current = _read_int(folder + "/pids.max"), _read_int(folder + "/pids.current")
    return None if limit is None or current is None else limit - current


def agent_bound() -> tuple[int, str]:
    """The most agents this machine runs at once here, and what sets that bound."""
    me = psutil.Process()
    bounds = [(MAX_AGENTS, "labkit's ceiling for one lab run")]
    available = psutil.virtual_memory().available
    bounds.append((available // AGENT_BYTES,
                   f"memory: {available / 2**30:.1f} GiB available at "
                   f"{AGENT_BYTES // 2**20} MiB per agent"))
    soft, _ = resource.getrlimit(resource.RLIMIT_NPROC)
    if soft != resource.RLIM_INFINITY:
        try:
            mine = (p for p in psutil.process_iter(["num_threads", "uids"])
                    if p.info["uids"] and p.info["uids"].real == os.getuid())
            used = sum(p.info["num_threads"] or 0 for p in mine)
        except psutil.Error:
            used = me.num_threads()
        bounds.append((soft - used - THREAD_MARGIN,
                       f"pids: this user may run {soft:,} threads (ulimit -u) and runs {used:,}"))
    room = _cgroup_pids_room()
    if room is not None:
        bounds.append((room - THREAD_MARGIN, f"pids: this cgroup's pids.max leaves {room:,}"))
    threads_max = _read_int("/proc/sys/kernel/threads-max")
    if threads_max:
        bounds.append((threads_max // 2, f"pids: kernel.threads-max is {threads_max:,}"))
    max_maps = _read_int("/proc/sys/vm/max_map_count")
    if max_maps:
        try:
            maps = len(me.memory_maps(grouped=False))
        except psutil.Error:
            maps = 0
        bounds.append(((max_maps - maps) // MAPS_PER_AGENT,
                       f"max map count: vm.max_map_count is {max_maps:,}, this process uses "
                       f"{maps:,}, a thread adds about {MAPS_PER_AGENT}"))
    count, why = min(bounds, key=lambda b: b[0])
    return max(0, int(count)), why


def check_agents(agents) -> int:
    """Refuse a count that is not a whole number, or more than this machine can run."""
    if isinstance(agents, bool) or not isinstance(agents, int):
        raise ValueError(f"agents must be a whole number, got {agents!r}")
    if agents < 1:
        raise ValueError(f"agents must be at least 1, got {agents}")
    if agents > MAX_AGENTS:  # refused before anything is counted
        raise ValueError(f"{agents:,} agents at once is more than this run allows: at most "
                         f"{MAX_AGENTS} (labkit's ceiling for one lab run)")
    bound, why = agent_bound()
    if agents > bound:
        raise ValueError(f"{agents:,} agents at once is more than this machine allows: at most "
                         f"{bound:,} ({why})")
    return agents


def default_hosts(kind_family: str) -> int:
    """Sandbox hosts to share: one per core (an isolate host runs one guest at a time)."""
    return max(1, os.cpu_count() or 1)


def percentile(values, q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


class _Hosts:
    """Open sandboxes shared by the agents, one call at a time each; counts live calls."""

    def __init__(self, boxes):
        self.free: queue.Queue = queue.Queue()
        for box in boxes:
            self.free.put(box)
        self.lock = threading.Lock()
        self.live = 0
        self.peak = 0

    @contextlib.contextmanager
    def take(self):
        box = self.free.get()
        with self.lock:
            self.live += 1
            self.peak = max(self.peak, self.live)
        try:
            yield box
        finally:
            with self.lock:
                self.live -= 1
            self.free.put(box)


def run_load(kind: str, agents: int, style: str = "per-step", seed: int = 0,
             think_scale: float = 0.01, hosts: int | None = None, limits: Limits | None = None,
             progress=None, stop: threading.Event | None = None) -> dict:
    """N agents at once, each on its own seeded task; the load figures as one dict.

    think_scale: the fraction of each drawn thinking time the agents really wait (1.0 is
    real time; the default 0.01 runs 100x compressed, so the sandboxes see the tool calls
    of 100x as many real agents). progress(done, total) is called as agents finish.
    """
    check_style(style)
    agents = check_agents(agents)
    hosted = set(sandbox_class(kind).capabilities.tools) & {"javascript", "python"}
    if not hosted:
        from .record import kinds_with_tools
        raise NotSupported(kind, "run_tool() in JavaScript or Python (the agent's tool calls)",
                           kinds_with_tools())
    if not (isinstance(think_scale, (int, float)) and 0 <= think_scale <= 1):
        raise ValueError(f"think_scale must be from 0 to 1, got {think_scale!r}")
    stop = stop or threading.Event()
    tasks = make_tasks(agents, seed)
    latencies, runs, failures = [], [], []
    peak_rss = [0]
    record_lock = threading.Lock()

    def on_call(step):
        with record_lock:
            latencies.append(step.wait_s + step.sandbox_s)

    with contextlib.ExitStack() as stack:
        count = hosts or default_hosts(kind)
        boxes = [stack.enter_context(open_sandbox(kind, limits)) for _ in range(count)]
        shared = _Hosts(boxes)
        sampling = threading.Event()

        def sample():
            while not sampling.wait(SAMPLE_SECONDS):
                peak_rss[0] = max(peak_rss[0], tree_memory().rss)

        sampler = threading.Thread(target=sample, daemon=True)
        baseline = tree_memory().rss
        sampler.start()
        stack.callback(sampler.join)
        stack.callback(sampling.set)

        def one(index):
            return run_agent(tasks[index], boxes[0], style, seed=seed, host=shared.take,
                             think_scale=think_scale, stop=stop, on_call=on_call)

        started = time.perf_counter()
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=agents,
                                                     thread_name_prefix="labkit-agent")
        try:
            pending = {pool.submit(one, i) for i in range(agents)}
            while pending:
                done, pending = concurrent.futures.wait(pending, timeout=0.1)
                for future in done:
                    try:
                        run = future.result()
                    except Exception as exc:  # an agent that crashed is a failure, counted
                        failures.append(f"{type(exc).__name__}: {exc}")
                        continue
                    runs.append(run)
                    if not run.correct:
                        failures.append(f"{run.task_id}: wrong answer {run.answer!r}")
                if progress is not None and done:
                    progress(len(runs) + len(failures), agents)
        except BaseException:
            stop.set()  # every agent ends at its next turn; the hosts close after them
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        seconds = time.perf_counter() - started
    calls = [s for r in runs for s in r.steps if s.action == "tool"]
    think = statistics.fmean(r.think_s for r in runs) if runs else 0.0
    return {
        "kind": kind, "style": style, "agents": agents, "seed": seed, "hosts": count,
        "think_scale": think_scale, "seconds": seconds,
        "agents_per_minute": len(runs) / seconds * 60 if seconds else 0.0,
        "tool_calls": len(calls), "tool_calls_per_second": len(calls) / seconds if seconds else 0.0,
        "peak_live_sandboxes": shared.peak,
        "tool_ms_p50": percentile(latencies, 50) * 1000,
        "tool_ms_p99": percentile(latencies, 99) * 1000,
        "run_ms_p50": percentile([s.sandbox_s for s in calls], 50) * 1000,
        "peak_memory_mb": max(peak_rss[0], baseline) / 1e6,
        "memory_added_mb": max(0, peak_rss[0] - baseline) / 1e6,
        "failures": len(failures), "failure_reasons": failures[:5],
        "model_s_per_agent": think, "machine": machine_info(),
    }


def real_agents_served(result: dict) -> float:
    """How many real-time agents (thinking at the published pace) make the tool calls per
    second this run's sandboxes handled: the compressed agents stand in for that many."""
    if not result["agents"] or not result["tool_calls"]:
        return 0.0
    calls_per_agent = result["tool_calls"] / result["agents"]
    real_seconds = result["model_s_per_agent"] + calls_per_agent * result["run_ms_p50"] / 1000
    return result["tool_calls_per_second"] / (calls_per_agent / real_seconds)
