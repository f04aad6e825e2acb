"""`python -m labkit agent`: many agents at once on one kind, from the command line."""

from __future__ import annotations

import argparse
import json
import sys

from tqdm.auto import tqdm

from .load import real_agents_served, run_load
from .loop import STYLES


def _count(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def add_parser(sub) -> None:
    """The `agent` subcommand, added to labkit's parser."""
    agent = sub.add_parser("agent", help="run N agents at once, each tool call in a fresh sandbox")
    agent.add_argument("--kind", default="v8", help="the sandbox kind for tool calls (default v8)")
    agent.add_argument("--agents", type=_count, default=20, help="agents at once (default 20)")
    agent.add_argument("--style", choices=STYLES, default="per-step",
                       help="one tool call per step, or Code Mode (one program)")
    agent.add_argument("--seed", type=_count, default=0, help="seed of the tasks and the model")
    agent.add_argument("--think-scale", type=float, default=0.01,
                       help="fraction of the model's drawn time the agents wait (default 0.01)")
    agent.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args) -> int:
    """Run the load and print it; errors propagate to main's one-line handler."""
    bar = None if args.json else tqdm(total=args.agents, desc=f"agents on {args.kind}",
                                      file=sys.stderr)

    def progress(done, total):
        if bar is not None:
            bar.n = done
            bar.refresh()

    try:
        result = run_load(args.kind, args.agents, style=args.style, seed=args.seed,
                          think_scale=args.think_scale, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['agents']} agents on {result['kind']} ({result['style']}), model time x "
          f"{result['think_scale']:g}, {result['hosts']} sandbox hosts")
    print(f"  agents finished per minute   {result['agents_per_minute']:,.0f}")
    print(f"  tool calls (fresh sandboxes) {result['tool_calls']:,}")
    print(f"  peak live sandboxes          {result['peak_live_sandboxes']}")
    print(f"  tool call p50 / p99          {result['tool_ms_p50']:,.1f} / "
          f"{result['tool_ms_p99']:,.1f} ms")
    print(f"  peak memory                  {result['peak_memory_mb']:,.0f} MB")
    print(f"  failures                     {result['failures']}")
    print(f"  real-time agents this load stands for  {real_agents_served(result):,.0f}")
    return 0
