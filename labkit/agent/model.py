"""A scripted, deterministic stand-in for the model: no network, no weights.

Given a task, it plans the steps and WRITES the code of each tool call, in JavaScript or
Python, with the task's own values (its budget, its services) written into the program, so
two tasks get two different programs. What a real model's turn would cost in time and
tokens is drawn from published figures (data/reference_figures.csv: time to first token,
output tokens per second, characters per token) with a seeded generator, so a run repeats
exactly except for what is measured live: the sandbox.

Two styles: one tool call per step (the model sees each result before writing the next
call), and Code Mode (the model writes one program against typed tool bindings; one
sandbox runs it all). A "bad" turn writes code that reads a host file, loops forever or
grabs memory, as a confused or manipulated model might; the next turn writes it properly.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

from ..reference import figure, numbers_in
from .tasks import Task

LANGUAGES = ("javascript", "python")
BAD_KINDS = ("read_host_file", "loop_forever", "grab_memory")
# The prompt every turn starts with (system prompt + tool descriptions), in tokens: an
# assumption of this lab, stated here, not a published figure.
SYSTEM_PROMPT_TOKENS = 1_200
# How far one turn's time to first token and speed stray from the published medians: a
# lognormal spread, also this lab's assumption (a median hides the spread).
TTFT_SPREAD = 0.35
SPEED_SPREAD = 0.15
# The final answer the model writes for the user, in tokens.
ANSWER_TOKENS = 120


def _value(metric: str) -> float:
    return numbers_in(figure(metric).value)[0]


@dataclass(frozen=True)
class ModelFigures:
    """The published figures a turn's time and tokens are drawn from."""

    ttft_s: float
    tokens_per_s: float
    chars_per_token: float
    input_usd_per_mtok: float
    output_usd_per_mtok: float

    @classmethod
    def published(cls) -> ModelFigures:
        return cls(_value("LLM time to first token"), _value("LLM output speed"),
                   _value("Characters per token"), _value("LLM input token price"),
                   _value("LLM output token price"))

    @staticmethod
    def sources() -> list[str]:
        """Where each figure comes from, for the notebook to show."""
        rows = ("LLM time to first token", "LLM output speed", "Characters per token",
                "LLM input token price", "LLM output token price")
        return [f"{figure(r).metric}: {figure(r).value} {figure(r).unit}; {figure(r).citation()}"
                for r in rows]


@dataclass(frozen=True)
class Turn:
    """One model turn: what it decided, the code it wrote (if a tool call), its cost."""

    action: str            # "tool" or "answer"
    tool: str              # the tool's name, or "" for the answer
    language: str
    source: str            # the program for the sandbox ("" for the answer)
    input_json: str        # what the loop hands the tool call
    input_tokens: int
    output_tokens: int
    think_s: float         # time to first token + output tokens / speed
    bad: str = ""          # which bad tool call this is, if one


# --- the code the model writes, per tool and language -------------------------------------
# Each returns source text; values from the task are written into it.

def _js_totals(categories) -> str:
    return (f"// sum each category's spending\nconst CATEGORIES = {json.dumps(categories)};\n"
            "function tool(records) {\n  const totals = {};\n"
            "  for (const c of CATEGORIES) totals[c] = 0;\n"
            "  for (const r of records) totals[r.category] += r.amount;\n"
            "  for (const c of CATEGORIES) totals[c] = Math.round(totals[c] * 100) / 100;\n"
            "  return totals;\n}\n")


def _py_totals(categories) -> str:
    return (f"# sum each category's spending\nCATEGORIES = {json.dumps(categories)}\n"
            "def tool(records):\n    totals = {c: 0.0 for c in CATEGORIES}\n"
            "    for r in records:\n        totals[r['category']] += r['amount']\n"
            "    return {c: round(v, 2) for c, v in totals.items()}\n")


def _js_over(budget) -> str:
    return (f"// this month's budget, from the user's records\nconst BUDGET = {json.dumps(budget)};\n"
            "function tool(totals) {\n  const over = {};\n"
            "  for (const [c, spent] of Object.entries(totals)) {\n"
            "    if (spent > BUDGET[c]) over[c] = Math.round((spent - BUDGET[c]) * 100) / 100;\n"
            "  }\n  return over;\n}\n")


def _py_over(budget) -> str:
    return (f"# this month's budget, from the user's records\nBUDGET = {json.dumps(budget)}\n"
            "def tool(totals):\n"
            "    return {c: round(s - BUDGET[c], 2) for c, s in totals.items() if s > BUDGET[c]}\n")


_JS_WORST = ("function tool(amounts) {\n  let worst = null;\n"
             "  for (const [k, v] of Object.entries(amounts)) {\n"
             "    if (worst === null || v > amounts[worst] || (v === amounts[worst] && k > worst)) worst = k;\n"
             "  }\n  return worst;\n}\n")
_PY_WORST = ("def tool(amounts):\n"
             "    return max(amounts, key=lambda k: (amounts[k], k)) if amounts else None\n")


def _js_errors(services) -> str:
    return (f"// count ERROR lines per service\nconst SERVICES = {json.dumps(services)};\n"
            "function tool(lines) {\n  const errors = {};\n"
            "  for (const s of SERVICES) errors[s] = 0;\n"
            "  for (const l of lines) if (l.level === \"ERROR\") errors[l.service] += 1;\n"
            "  return errors;\n}\n")


def _py_errors(services) -> str:
    return (f"# count ERROR lines per service\nSERVICES = {json.dumps(services)}\n"
            "def tool(lines):\n    errors = {s: 0 for s in SERVICES}\n"
            "    for l in lines:\n        if l['level'] == 'ERROR':\n"
            "            errors[l['service']] += 1\n    return errors\n")


def _js_first(service) -> str:
    return (f"// when did {service} start failing?\n"
            "function tool(lines) {\n"
            f"  const hits = lines.filter(l => l.service === {json.dumps(service)} && l.level === \"ERROR\");\n"
            "  return hits.length ? Math.min(...hits.map(l => l.t)) : null;\n}\n")


def _py_first(service) -> str:
    return (f"# when did {service} start failing?\n"
            "def tool(lines):\n"
            f"    hits = [l['t'] for l in lines if l['service'] == {service!r} and l['level'] == 'ERROR']\n"
            "    return min(hits) if hits else None\n")


BAD_CODE = {
    "javascript": {
        "read_host_file": "function tool(input) {\n  const fs = require(\"fs\");\n"
                          "  return fs.readFileSync(\"/etc/passwd\", \"utf8\");\n}\n",
        "loop_forever": "function tool(input) {\n  let n = 0;\n  while (true) { n += 1; }\n}\n",
        "grab_memory": "function tool(input) {\n  const hoard = [];\n"
                       "  while (true) hoard.push(new Array(1e6).fill(input.length));\n}\n",
    },
    "python": {
        "read_host_file": "def tool(input):\n    with open('/etc/passwd') as f:\n"
                          "        return f.read()\n",
        "loop_forever": "def tool(input):\n    n = 0\n    while True:\n        n += 1\n",
        "grab_memory": "def tool(input):\n    hoard = []\n    while True:\n"
                       "        hoard.append(bytearray(50_000_000))\n",
    },
}

# Code Mode: the tools as typed bindings (JSDoc types) the model's one program calls.
_JS_BINDINGS = ("/** @typedef {{id:number, day:number, category:string, amount:number}} Expense */\n"
                "/** @typedef {{t:number, service:string, level:string, ms:number}} LogLine */\n"
                "const tools = {\n"
                "  /** @param {Expense[]} records @param {string[]} cats @returns {Object<string,number>} */\n"
                "  totalsByCategory(records, cats) { const t = {}; for (const c of cats) t[c] = 0;\n"
                "    for (const r of records) t[r.category] += r.amount;\n"
                "    for (const c of cats) t[c] = Math.round(t[c] * 100) / 100; return t; },\n"
                "  /** @param {LogLine[]} lines @param {string[]} services @returns {Object<string,number>} */\n"
                "  errorsByService(lines, services) { const e = {}; for (const s of services) e[s] = 0;\n"
                "    for (const l of lines) if (l.level === \"ERROR\") e[l.service] += 1; return e; },\n"
                "  /** @param {Object<string,number>} amounts @returns {string|null} */\n"
                "  largest(amounts) { let w = null; for (const [k, v] of Object.entries(amounts))\n"
                "    if (w === null || v > amounts[w] || (v === amounts[w] && k > w)) w = k; return w; },\n"
                "};\n")
_PY_BINDINGS = ("# typed tool bindings\n"
                "def totals_by_category(records: list[dict], cats: list[str]) -> dict[str, float]:\n"
                "    t = {c: 0.0 for c in cats}\n    for r in records:\n"
                "        t[r['category']] += r['amount']\n"
                "    return {c: round(v, 2) for c, v in t.items()}\n"
                "def errors_by_service(lines: list[dict], services: list[str]) -> dict[str, int]:\n"
                "    e = {s: 0 for s in services}\n    for l in lines:\n"
                "        if l['level'] == 'ERROR':\n            e[l['service']] += 1\n    return e\n"
                "def largest(amounts: dict) -> str | None:\n"
                "    return max(amounts, key=lambda k: (amounts[k], k)) if amounts else None\n")


def code_mode_program(task: Task, language: str) -> str:
    """The one program Code Mode writes: the bindings, then the task's plan calling them."""
    if task.kind == "expenses":
        budget = task.records[0]["budget"]
        cats = sorted(budget)
        if language == "javascript":
            return _JS_BINDINGS + (
                f"const BUDGET = {json.dumps(budget)};\n"
                "function tool(records) {\n"
                f"  const totals = tools.totalsByCategory(records, {json.dumps(cats)});\n"
                "  const over = {};\n  for (const [c, s] of Object.entries(totals))\n"
                "    if (s > BUDGET[c]) over[c] = Math.round((s - BUDGET[c]) * 100) / 100;\n"
                "  return { totals, over, worst: tools.largest(over) };\n}\n")
        return _PY_BINDINGS + (
            f"BUDGET = {json.dumps(budget)}\n"
            "def tool(records):\n"
            f"    totals = totals_by_category(records, {json.dumps(cats)})\n"
            "    over = {c: round(s - BUDGET[c], 2) for c, s in totals.items() if s > BUDGET[c]}\n"
            "    return {'totals': totals, 'over': over, 'worst': largest(over)}\n")
    services = sorted({r["service"] for r in task.records})
    if language == "javascript":
        return _JS_BINDINGS + (
            "function tool(lines) {\n"
            f"  const errors = tools.errorsByService(lines, {json.dumps(services)});\n"
            "  const worst = Object.values(errors).some(n => n > 0) ? tools.largest(errors) : null;\n"
            "  const hits = lines.filter(l => l.service === worst && l.level === \"ERROR\");\n"
            "  return { errors, worst, first_error_t: hits.length ? Math.min(...hits.map(l => l.t)) : null };\n}\n")
    return _PY_BINDINGS + (
        "def tool(lines):\n"
        f"    errors = errors_by_service(lines, {json.dumps(services)})\n"
        "    worst = largest(errors) if any(errors.values()) else None\n"
        "    hits = [l['t'] for l in lines if l['service'] == worst and l['level'] == 'ERROR']\n"
        "    return {'errors': errors, 'worst': worst, 'first_error_t': min(hits) if hits else None}\n")


class ScriptedModel:
    """Plans a task step by step and writes each tool call; its time and tokens are drawn.

    `next_turn(task, history)` is the whole interface the loop uses: given what happened so
    far (the tool calls and their results or errors), the next turn. The decisions depend
    only on the task and the history, the drawn time and tokens only on the seed.
    """

    def __init__(self, seed: int | str = 0, figures: ModelFigures | None = None,
                 bad: str | None = None):
        if isinstance(seed, bool) or not isinstance(seed, (int, str)):
            raise TypeError(f"seed must be a whole number or a string, got {seed!r}")
        if bad is not None and bad not in BAD_KINDS:
            raise ValueError(f"bad must be one of {', '.join(BAD_KINDS)} or None, got {bad!r}")
        self.figures = figures or ModelFigures.published()
        self.rng = random.Random(f"model-{seed}")
        self.bad = bad

    def _turn(self, action, tool, language, source, input_json, context_chars, out_chars,
              bad="") -> Turn:
        f = self.figures
        input_tokens = SYSTEM_PROMPT_TOKENS + round(context_chars / f.chars_per_token)
        output_tokens = max(1, round(out_chars / f.chars_per_token))
        ttft = f.ttft_s * self.rng.lognormvariate(0, TTFT_SPREAD)
        speed = f.tokens_per_s * self.rng.lognormvariate(0, SPEED_SPREAD)
        return Turn(action, tool, language, source, input_json, input_tokens, output_tokens,
                    ttft + output_tokens / speed, bad)

    def _tool(self, name, language, source, input_json, history, bad=""):
        context = len(history_text(history))
        return self._turn("tool", name, language, source, input_json, context, len(source), bad)

    def answer(self, history, text: str) -> Turn:
        return self._turn("answer", "", "", "", "", len(history_text(history)),
                          max(len(text), ANSWER_TOKENS * self.figures.chars_per_token))

    # --- the plans ---------------------------------------------------------------------
    def next_turn(self, task: Task, history: list, language: str, style: str) -> Turn:
        """The next turn of `style` ("per-step" or "code-mode") for `task`."""
        if language not in LANGUAGES:
            raise ValueError(f"language must be one of {LANGUAGES}, got {language!r}")
        ok = [h for h in history if h.get("error") is None]
        if history and history[-1].get("error") is not None and len(history) >= 6:
            return self.answer(history, "I could not finish: my tool calls kept failing.")
        # The bad tool call comes first, once; after its error the model writes it properly.
        if self.bad and not any(h.get("bad") for h in history):
            return self._tool(f"bad:{self.bad}", language, BAD_CODE[language][self.bad],
                              task.data_json(), history, bad=self.bad)
        if style == "code-mode":
            if not ok:
                return self._tool("program", language, code_mode_program(task, language),
                                  task.data_json(), history)
            return self.answer(history, summary(task, ok[-1]["result"]))
        if style != "per-step":
            raise ValueError(f"style must be 'per-step' or 'code-mode', got {style!r}")
        plan = _expenses_step if task.kind == "expenses" else _logs_step
        return plan(self, task, ok, history, language)


def _expenses_step(model, task, ok, history, language):
    js = language == "javascript"
    budget = task.records[0]["budget"]
    if len(ok) == 0:
        cats = sorted(budget)
        return model._tool("totals", language, (_js_totals if js else _py_totals)(cats),
                           task.data_json(), history)
    if len(ok) == 1:
        return model._tool("over_budget", language, (_js_over if js else _py_over)(budget),
                           json.dumps(ok[0]["result"]), history)
    over = ok[1]["result"]
    if len(ok) == 2 and over:  # decided from the result: only look for the worst if any
        return model._tool("worst", language, _JS_WORST if js else _PY_WORST,
                           json.dumps(over), history)
    result = {"totals": ok[0]["result"], "over": over, "worst": ok[2]["result"] if len(ok) > 2 else None}
    return model.answer(history, summary(task, result))


def _logs_step(model, task, ok, history, language):
    js = language == "javascript"
    if len(ok) == 0:
        services = sorted({r["service"] for r in task.records})
        return model._tool("errors", language, (_js_errors if js else _py_errors)(services),
                           task.data_json(), history)
    errors = ok[0]["result"]
    if len(ok) == 1 and any(errors.values()):
        return model._tool("worst", language, _JS_WORST if js else _PY_WORST,
                           json.dumps(errors), history)
    worst = ok[1]["result"] if len(ok) > 1 else None
    if len(ok) == 2 and worst is not None:
        return model._tool("first_error", language, (_js_first if js else _py_first)(worst),
                           task.data_json(), history)
    result = {"errors": errors, "worst": worst, "first_error_t": ok[2]["result"] if len(ok) > 2 else None}
    return model.answer(history, summary(task, result))


def history_text(history: list) -> str:
    """What the model has read so far: each call's code and its result or error."""
    return "".join(h.get("source", "") + json.dumps(h.get("result")) + (h.get("error") or "")
                   for h in history)


def summary(task: Task, result: dict) -> str:
    """The model's answer to the user, from its last result."""
    if task.kind == "expenses":
        if not result.get("over"):
            return "Nothing went over budget this month."
        parts = ", ".join(f"{c} by ${v:,.2f}" for c, v in sorted(result["over"].items()))
        return f"Over budget: {parts}; the largest overrun is {result['worst']}."
    if result.get("worst") is None:
        return "No service logged an error today."
    t = result["first_error_t"]
    return (f"{result['worst']} logged the most errors ({result['errors'][result['worst']]}); "
            f"the first at {t // 3600:02d}:{t % 3600 // 60:02d}:{t % 60:02d}.")
