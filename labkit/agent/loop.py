"""The agent loop: the model writes a tool call, a FRESH sandbox runs it, the model reads
the result and decides the next step, until it answers the user.

Every tool call goes through the sandbox protocol's `run_tool`: a new guest is created, the
model's program runs in it, the guest is torn down. The model's thinking time is drawn
(model.py); the sandbox's time is measured here, live. A tool call that fails (a guest
error, a cap that stopped it) is shown to the model as an error, and the agent goes on.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from dataclasses import asdict, dataclass, field

from ..errors import LabkitError, NotSupported
from .model import LANGUAGES, ScriptedModel, summary
from .tasks import Task

STYLES = ("per-step", "code-mode")
# A program that does nothing: its call's time is what the fresh sandbox itself costs.
EMPTY_TOOL = {"javascript": "function tool(input) { return null; }\n",
              "python": "def tool(input):\n    return None\n"}
# A loop that never answers is a bug in the model; stop it.
MAX_TURNS = 12


@dataclass
class Step:
    """One turn of the loop: the model's time, then (for a tool call) the sandbox's."""

    index: int
    action: str                 # "tool" or "answer"
    tool: str
    think_s: float              # drawn from published figures
    input_tokens: int
    output_tokens: int
    sandbox_s: float = 0.0      # measured: the whole run_tool call, fresh guest included
    wait_s: float = 0.0         # measured: waiting for a free sandbox host (under load)
    result: object = None
    error: str | None = None
    bad: str = ""


@dataclass
class AgentRun:
    """One task, start to answer, in one kind and style."""

    task_id: str
    kind: str
    style: str
    language: str
    steps: list[Step] = field(default_factory=list)
    answer: str = ""
    correct: bool = False

    @property
    def tool_calls(self) -> int:
        """Tool calls made; each one a fresh sandbox."""
        return sum(1 for s in self.steps if s.action == "tool")

    @property
    def think_s(self) -> float:
        return sum(s.think_s for s in self.steps)

    @property
    def sandbox_s(self) -> float:
        return sum(s.sandbox_s for s in self.steps)

    @property
    def tokens(self) -> tuple[int, int]:
        """(input, output) tokens over the whole task."""
        return (sum(s.input_tokens for s in self.steps), sum(s.output_tokens for s in self.steps))

    @property
    def errors(self) -> list[str]:
        return [s.error for s in self.steps if s.error]

    def to_dict(self) -> dict:
        return {**asdict(self), "tool_calls": self.tool_calls, "think_s": self.think_s,
                "sandbox_s": self.sandbox_s, "tokens": list(self.tokens)}


def tool_language(box) -> str:
    """The language the model writes for this kind: JavaScript where hosted, else Python."""
    for language in LANGUAGES:
        if language in box.capabilities.tools:
            return language
    raise NotSupported(box.kind, "run_tool() in JavaScript or Python (the agent's tool "
                       "calls)", [])


def check_style(style) -> str:
    if style not in STYLES:
        raise ValueError(f"style must be one of {', '.join(STYLES)}, got {style!r}")
    return style


def run_agent(task: Task, box, style: str = "per-step", seed: int = 0, bad: str | None = None,
              host=None, think_scale: float = 0.0, stop: threading.Event | None = None,
              on_call=None) -> AgentRun:
    """Run one agent on `task` with tool calls in `box` (an open sandbox), to its answer.

    think_scale: the loop sleeps think_s x think_scale per turn (0: the model's time is
    only counted, as for one agent's timeline; under load a fraction of it keeps the
    agents' pace real but compressed). `host` (a context manager yielding an open
    sandbox) replaces `box` under load; `stop` ends the run between turns; `on_call(step)`
    is told of each finished tool call.
    """
    check_style(style)
    language = tool_language(box)
    model = ScriptedModel(f"{seed}:{task.task_id}", bad=bad)
    run = AgentRun(task.task_id, box.kind, style, language)
    history: list[dict] = []
    for index in range(MAX_TURNS):
        if stop is not None and stop.is_set():
            raise InterruptedError("the load run was stopped")
        turn = model.next_turn(task, history, language, style)
        if think_scale and stop is not None:
            stop.wait(turn.think_s * think_scale)
        elif think_scale:
            time.sleep(turn.think_s * think_scale)
        step = Step(index, turn.action, turn.tool, turn.think_s, turn.input_tokens,
                    turn.output_tokens, bad=turn.bad)
        run.steps.append(step)
        if turn.action == "answer":
            run.answer = _answer_text(task, history, style)
            run.correct = run.answer == summary(task, task.answer)
            return run
        waited = time.perf_counter()
        with (host() if host is not None else _same(box)) as sandbox:
            started = time.perf_counter()
            step.wait_s = started - waited
            try:
                text = sandbox.run_tool(language, turn.source, turn.input_json)
                step.result = json.loads(text)
            except LabkitError as exc:  # stopped at a cap, or the guest raised: say so
                step.error = f"{type(exc).__name__}: {exc}"
            finally:
                step.sandbox_s = time.perf_counter() - started
        history.append({"source": turn.source, "result": step.result, "error": step.error,
                        "bad": turn.bad})
        if on_call is not None:
            on_call(step)
    raise RuntimeError(f"the scripted model did not answer within {MAX_TURNS} turns "
                       f"(a bug in labkit.agent.model)")


class _same:
    """`box` itself, as the context manager a host would be."""

    def __init__(self, box):
        self.box = box

    def __enter__(self):
        return self.box

    def __exit__(self, *exc):
        return False


def _answer_text(task, history, style) -> str:
    """The answer the model gives, rebuilt from its last good result (the model's own text)."""
    ok = [h for h in history if h["error"] is None]
    if not ok:
        return "I could not finish: my tool calls kept failing."
    if style == "code-mode":
        return summary(task, ok[-1]["result"])
    if task.kind == "expenses":
        over = ok[1]["result"] if len(ok) > 1 else {}
        return summary(task, {"totals": ok[0]["result"], "over": over,
                              "worst": ok[2]["result"] if len(ok) > 2 else None})
    errors = ok[0]["result"]
    return summary(task, {"errors": errors, "worst": ok[1]["result"] if len(ok) > 1 else None,
                          "first_error_t": ok[2]["result"] if len(ok) > 2 else None})


def sandbox_overhead(box, calls: int = 5) -> float:
    """Median seconds of an empty tool call in `box`: a fresh guest created and torn down,
    with nothing to run; the rest of a real call's time is its program running."""
    language = tool_language(box)
    times = []
    for _ in range(max(1, calls)):
        started = time.perf_counter()
        box.run_tool(language, EMPTY_TOOL[language], "null")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def timeline(run: AgentRun, overhead_s: float) -> list[dict]:
    """Segments for the timeline figure: per step, model thinking, then the sandbox's
    create + tear down (an empty call's median, `overhead_s`) and run (the rest), in order.
    """
    rows, t = [], 0.0
    for step in run.steps:
        rows.append({"step": step.index, "part": "model thinking", "start": t,
                     "seconds": step.think_s, "tool": step.tool or "answer"})
        t += step.think_s
        if step.action == "tool":
            setup = min(overhead_s, step.sandbox_s)
            for part, seconds in (("sandbox create + tear down", setup),
                                  ("tool runs", step.sandbox_s - setup)):
                rows.append({"step": step.index, "part": part, "start": t, "seconds": seconds,
                             "tool": step.tool, "error": step.error})
                t += seconds
    return rows
