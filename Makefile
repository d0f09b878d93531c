# The two set-up commands: `make demo` and `make test`. Both build .venv themselves.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast bench chaos lint typecheck validate clean dev-up dev-down

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "need $(PY) on PATH"; exit 1; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python playbooks/demo.py

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not integration and not browser"

bench: $(STAMP)
	$(BIN)/python -m pytest -q -s tests/bench

# The fault run (not part of `make test`): its own stack, 300 journeys, faults,
# every journey checked against its simulation. CHAOS_ARGS=--help says more.
chaos: $(STAMP)
	$(BIN)/python -m tests.chaos $(CHAOS_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check dsl engine workers cli tests playbooks
	$(BIN)/ruff format --check dsl engine workers cli tests playbooks

typecheck: $(STAMP)
	$(BIN)/mypy dsl engine workers cli

validate: $(STAMP)
	$(BIN)/playbook validate playbooks/*.playbook

dev-up: $(STAMP)
	$(BIN)/playbook dev up

dev-down: $(STAMP)
	$(BIN)/playbook dev down

clean:
	rm -rf $(VENV) .state .pytest_cache .mypy_cache .ruff_cache
