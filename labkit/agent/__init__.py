"""An agent at work: a scripted model writes code, a fresh sandbox runs each tool call.

tasks.py (seeded task data), model.py (the scripted model and its cited time and tokens),
loop.py (one agent, two styles), load.py (many agents at once), cost.py (per agent-hour),
record.py (a run saved for machines that cannot run a kind). Home notebook:
notebooks/07_an_agent_at_work.ipynb.
"""
