"""A pytest plugin (loaded from pyproject's addopts) for how nbval compares notebooks.

Plotly figures and widget views are stored as JSON whose bytes change with library
versions and random model ids, so nbval does not compare them; every notebook prints or
asserts the numbers behind each figure instead, and those ARE compared.
"""

SKIPPED_MIME_TYPES = (
    "application/vnd.plotly.v1+json",
    "application/vnd.jupyter.widget-view+json",
    "application/vnd.jupyter.widget-state+json",
)


def pytest_collectstart(collector):
    if hasattr(collector, "skip_compare"):
        collector.skip_compare = collector.skip_compare + SKIPPED_MIME_TYPES
