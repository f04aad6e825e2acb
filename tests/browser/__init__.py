"""Helpers for the browser suite (tests/test_browser.py): JupyterLab driven in Chromium.

One job per module: `chromium` finds and launches the browser, `jupyterlab` serves the
notebooks, `notebook` drives one open notebook, `figures` judges plotly axes, `explorers`
moves widget controls, `artifacts` keeps screenshots of failures.
"""
