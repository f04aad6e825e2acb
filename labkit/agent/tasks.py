"""The agent's tasks and their data, generated from a seed: the same seed, the same task.

Two kinds of task a personal assistant gets: tidy up a month of expense records, or find
what went wrong in a day of server logs. Each task carries its data (what the agent's tool
calls read) and the question the user asked; the answer is computed here too, on the host,
so the agent's result can be checked.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

TASK_KINDS = ("expenses", "logs")
CATEGORIES = ("travel", "meals", "software", "office", "training")
SERVICES = ("auth", "billing", "search", "checkout")
LEVELS = ("INFO", "WARN", "ERROR")
# A task's data stays small: it travels to every tool call as JSON.
MAX_RECORDS = 2_000


@dataclass(frozen=True)
class Task:
    """One user's request: what kind, the question, the data, the host's own answer."""

    task_id: str
    kind: str
    question: str
    records: tuple = field(repr=False)
    answer: dict = field(repr=False)

    def data_json(self) -> str:
        """The records as the JSON text a tool call receives."""
        return json.dumps(list(self.records), separators=(",", ":"))


def _check_seed_and_size(seed, records) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be a whole number, got {seed!r}")
    if isinstance(records, bool) or not isinstance(records, int) or not 1 <= records <= MAX_RECORDS:
        raise ValueError(f"records must be a whole number from 1 to {MAX_RECORDS}, got {records!r}")


def expenses_task(seed: int, records: int = 40) -> Task:
    """A month of expense records; the user asks which category over its budget costs most."""
    _check_seed_and_size(seed, records)
    rng = random.Random(f"expenses-{seed}")
    budget = {c: rng.choice((200, 300, 500, 800)) for c in CATEGORIES}
    rows = tuple({"id": i + 1, "day": rng.randint(1, 28), "category": rng.choice(CATEGORIES),
                  "amount": round(rng.uniform(5, 180), 2), "budget": budget}
                 for i in range(records))
    totals = {c: round(sum(r["amount"] for r in rows if r["category"] == c), 2) for c in CATEGORIES}
    over = {c: round(totals[c] - budget[c], 2) for c in CATEGORIES if totals[c] > budget[c]}
    worst = max(over, key=lambda c: (over[c], c)) if over else None
    return Task(f"expenses-{seed}", "expenses",
                "Which spending categories went over budget this month, and by how much?",
                rows, {"totals": totals, "over": over, "worst": worst})


def logs_task(seed: int, records: int = 60) -> Task:
    """A day of server logs; the user asks which service failed most and when it began."""
    _check_seed_and_size(seed, records)
    rng = random.Random(f"logs-{seed}")
    weights = {s: rng.random() for s in SERVICES}
    shares = list(weights.values())
    rows = tuple({"t": sorted_t, "service": rng.choices(SERVICES, weights=shares)[0],
                  "level": rng.choices(LEVELS, weights=(70, 20, 10))[0],
                  "ms": rng.randint(3, 900)}
                 for sorted_t in sorted(rng.randint(0, 86_399) for _ in range(records)))
    errors = {s: sum(1 for r in rows if r["service"] == s and r["level"] == "ERROR")
              for s in SERVICES}
    worst = max(SERVICES, key=lambda s: (errors[s], s)) if any(errors.values()) else None
    first = min((r["t"] for r in rows if r["service"] == worst and r["level"] == "ERROR"),
                default=None)
    return Task(f"logs-{seed}", "logs",
                "Which service logged the most errors today, and when did they start?",
                rows, {"errors": errors, "worst": worst, "first_error_t": first})


def make_tasks(count: int, seed: int = 0) -> list[Task]:
    """`count` tasks, alternating expenses and logs, each from its own seed."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a whole number of tasks, at least 1, got {count!r}")
    return [(expenses_task if i % 2 == 0 else logs_task)(seed * 100_003 + i) for i in range(count)]
