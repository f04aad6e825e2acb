"""Only what notebooks import; each module names its notebook.

    restaurant_vs_chef  notebook 01: a simulated day, its figures and DayExplorer
    scaling_math        notebook 02: the essay's ranges, tornado, Monte Carlo, ScalingExplorer
    isolates            notebook 03: WebAssembly and V8 isolates measured and drawn
    containers          notebook 04: the container tour, start latency and memory figures
    head_to_head        notebook 05: measured vs published, the fleet, FleetExplorer
    exercises           every notebook's self-checked exercises
    style, explorer     the one palette and layout; the sliders-and-figures base

Notebook 06 needs nothing here: its verdicts are labkit.claims (library: data and logic).
The library (sandboxes, measure, bench, scaling, fleet, ...) never imports this package,
except labkit.pool, which draws with the one palette in style.
"""
