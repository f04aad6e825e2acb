# The lab in two commands: `make lab` (set up, then open JupyterLab) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.labkit-installed
START := notebooks/00_start_here.ipynb
# Jupyter refuses to run as root unless told; most users are not root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: lab test setup runtimes lint notebooks clean hub hub-env site

lab: setup
	$(PY) -m jupyterlab $(ROOT_FLAG) $(START)

setup: $(STAMP) runtimes

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null || \
	  { echo "make: the lab needs Python 3.10 or newer as '$(PYTHON)'; fix: install python3 (3.10+) or run make PYTHON=python3.11"; exit 1; }
	@$(PYTHON) -m venv $(VENV) >/dev/null 2>&1 || \
	  { rm -rf $(VENV); echo "make: '$(PYTHON) -m venv' failed; fix: sudo apt-get install -y python3-venv"; exit 1; }
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[lab,test]'
	@touch $(STAMP)

runtimes: $(STAMP)
	@$(PY) -m labkit setup

test: setup
	$(PY) -m ruff check labkit tests benchmarks
	$(PY) -m pytest

# Every notebook in JupyterLab in Chromium, as an attendee meets it (also part of `make test`;
# here a missing Chromium is a failure, not a skip). Screenshots of failures: test-artifacts/.
.PHONY: test-browser
test-browser: setup
	LABKIT_REQUIRE_BROWSER=1 $(PY) -m pytest tests/test_browser.py

# For teachers: re-run every notebook top to bottom and save its outputs, then stamp each
# with the labkit that made them and the kinds that ran (tests/test_stored_outputs.py checks
# it). Widget state is not stored: each plotly FigureWidget would add its 5 MB JavaScript
# bundle to the file.
notebooks: setup
	$(PY) -m jupyter nbconvert --to notebook --execute --inplace \
	  --ExecutePreprocessor.store_widget_state=False \
	  --ExecutePreprocessor.record_timing=False notebooks/*.ipynb
	$(PY) -m labkit.devtools.stamp notebooks/*.ipynb

# The notebooks with their stored outputs as a static site, in _site/ (nothing is re-run).
site: $(STAMP)
	$(PY) workshop/site/build_site.py --out _site

# The workshop hub (workshop/hub/README.md). Attendees' servers run as their own accounts, so
# the hub gets its own environment, built from a Python that every account may run (one
# under /root, where pyenv puts it, is closed to them), plus the proxy from npm.
HUB_PYTHON ?= /usr/bin/python3
HUB_VENV := .venv-hub
HUB_STAMP := $(HUB_VENV)/.labkit-installed
HUB_PROXY := .runtimes/node_modules/.bin/configurable-http-proxy

hub: hub-env
	@[ "$$(id -u)" = 0 ] || { echo "make: the hub creates an account per attendee and must run as root; fix: sudo make hub"; exit 1; }
	$(HUB_VENV)/bin/jupyterhub -f workshop/hub/jupyterhub_config.py

hub-env: $(HUB_STAMP) $(HUB_PROXY)

$(HUB_STAMP): pyproject.toml
	@$(HUB_PYTHON) -m venv $(HUB_VENV) >/dev/null 2>&1 || \
	  { rm -rf $(HUB_VENV); echo "make: '$(HUB_PYTHON) -m venv' failed; fix: sudo apt-get install -y python3-venv, or make hub-env HUB_PYTHON=/path/to/python3"; exit 1; }
	$(HUB_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[lab,workshop]'
	$(HUB_VENV)/bin/python -m labkit setup v8
	@touch $(HUB_STAMP)

$(HUB_PROXY):
	@command -v npm >/dev/null || { echo "make: the hub's proxy comes from npm, which is missing; fix: sudo apt-get install -y nodejs npm"; exit 1; }
	npm install --prefix .runtimes --no-audit --no-fund --loglevel=error configurable-http-proxy@5

clean:
	rm -rf $(VENV) $(HUB_VENV) .runtimes _site
