# `make run`: set everything up, then run the default experiment (MLP NAS on digits + baselines + report).
# `make test`: set everything up, then run the tests (the slow, marked ones: `make test-slow`).
# `make setup` installs the exact versions in requirements.lock; `make lock` regenerates it from
# pyproject.toml's ranges (pip-compile, keeping the pins it can; `make lock ARGS=--upgrade` moves them all).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup lock lint browser run test test-slow benchmark clean

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found; install Python 3.11 or pass PYTHON=/path/to/python3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@$(PY) -m pip check >/dev/null || { $(PY) -m pip check >&2; echo "make: requirements.lock does not cover pyproject.toml; run make lock" >&2; exit 1; }
	touch $(STAMP)

lock:
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check 'pip-tools>=7.4'
	$(VENV)/bin/pip-compile --quiet --extra test --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links \
		--output-file requirements.lock $(ARGS) pyproject.toml

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

# The real-browser test of the web UI (tests/test_webui_browser.py) uses Debian's chromium through Playwright;
# without it that test is skipped and says why.
browser: setup
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
		{ apt-get update -q && apt-get install -y -q chromium; } || \
		echo "make: could not install chromium (needs root and apt); tests/test_webui_browser.py will be skipped" >&2

run: setup
	$(PY) -m mlp_nas run $(ARGS)

# Keras picks its backend once per process, and the Keras controller needs TensorFlow; the tests marked
# keras_torch (the estimator's in-process fits, ~15x faster on torch) therefore run in a pytest of their own.
# Exit 5 is pytest's "no test selected", as when ARGS names a file without such tests. In `make test` the first
# run has two pytest-xdist workers (WORKERS=0: one process), one thread each (tests/conftest.py): much of it waits
# on NNI's manager and trial processes. The Keras run stays in one process: each worker would load TensorFlow
# again. `make test-slow` runs in one process: its benchmarks time things and its studies use both cores.
WORKERS ?= 2
pytest_in_two = $(PY) -m pytest -q -n $(2) --dist worksteal -m "$(1) and not keras_torch" $(ARGS) && \
	{ $(PY) -m pytest -q -m "$(1) and keras_torch" $(ARGS) || [ $$? -eq 5 ]; }

test: setup lint
	$(call pytest_in_two,not slow,$(WORKERS))

test-slow: setup
	$(call pytest_in_two,slow,0)

benchmark: setup
	$(PY) benchmarks/mlp_vs_sklearn.py $(ARGS)

clean:
	rm -rf $(VENV) results
