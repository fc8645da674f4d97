# `make run`: set everything up, then run the default experiment (MLP NAS on digits + baselines + report).
# `make test`: set everything up, then run the tests (the slow, marked ones: `make test-slow`).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup lint run test test-slow benchmark clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found; install Python 3.11 or pass PYTHON=/path/to/python3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

run: setup
	$(PY) -m mlp_nas run $(ARGS)

test: setup lint
	$(PY) -m pytest -q $(ARGS)

test-slow: setup
	$(PY) -m pytest -q -m slow $(ARGS)

benchmark: setup
	$(PY) benchmarks/mlp_vs_sklearn.py $(ARGS)

clean:
	rm -rf $(VENV) results
