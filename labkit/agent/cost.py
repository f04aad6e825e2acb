"""What an agent-hour costs: the sandbox's compute (the fleet model of notebook 05, fed
with the tool calls measured here) against the model's tokens (published prices).

An agent works through tasks back to back for an hour: tasks per hour = 3,600 s over one
task's time (the model's drawn thinking plus the sandbox's measured time).
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import fleet
from .loop import AgentRun
from .model import ModelFigures

SECONDS_PER_HOUR = 3600
# Sessions the fleet is sized for (the essay's US figure, 24 million at once): at that
# scale whole servers round away.
FLEET_SESSIONS = 24e6


@dataclass(frozen=True)
class AgentHour:
    """One agent-hour of one kind and style, split into its two bills."""

    kind: str
    style: str
    tasks_per_hour: float
    tool_calls_per_hour: float
    model_usd: float
    sandbox_usd: float

    @property
    def total_usd(self) -> float:
        return self.model_usd + self.sandbox_usd

    @property
    def sandbox_share(self) -> float:
        """The sandbox's part of the bill, 0 to 1."""
        return self.sandbox_usd / self.total_usd if self.total_usd else 0.0


def agent_hour(run: AgentRun, start_ms: float, mem_mb_per_instance: float,
               figures: ModelFigures | None = None,
               server: fleet.Server | None = None) -> AgentHour:
    """The bill of an hour of agents like `run`, on a kind that starts a tool call's sandbox
    in `start_ms` and holds `mem_mb_per_instance` per live one (measured or recorded)."""
    figures = figures or ModelFigures.published()
    server = server or fleet.Server()
    task_seconds = run.think_s + run.sandbox_s
    tasks = SECONDS_PER_HOUR / task_seconds
    tokens_in, tokens_out = run.tokens
    model_usd = tasks * (tokens_in * figures.input_usd_per_mtok
                         + tokens_out * figures.output_usd_per_mtok) / 1e6
    calls = tasks * run.tool_calls
    session = fleet.Session(tool_calls_per_minute=calls / 60)
    fit = fleet.fit_kind({"kind": run.kind, "start_ms_p50": start_ms,
                          "mem_mb_per_instance": mem_mb_per_instance}, session, server)
    sandbox_usd = fleet.fleet(fit, FLEET_SESSIONS, server).dollars_per_agent_hour
    return AgentHour(run.kind, run.style, tasks, calls, model_usd, sandbox_usd)
