# Two commands: `make run` (set up, start sandbox + bot + Agents Playground) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: setup run test lint typecheck imports pytest package sandbox-reset bench clean

setup: $(PY_STAMP) $(NODE_STAMP)

$(PY_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
		{ echo "Python 3.11 is required (found $$($(PYTHON) --version))"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	# botbuilder's storage contract tests ship in botbuilder-testing, whose own requirements
	# (botbuilder-azure with the Azure Storage and Cosmos SDKs, pytest 8) we do not want.
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps botbuilder-testing==4.17.1
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: setup
	$(BIN)/python scripts/run_local.py

lint: setup
	$(BIN)/ruff check --no-cache .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy .

imports: setup
	$(BIN)/lint-imports

# Three worker processes on CI's 2 cores: much of the suite waits on sockets, subprocesses and injected
# faults. --dist loadscope keeps a module's tests on one worker (many share a module-scoped bot or
# Playground) and hands out test classes separately (the faults matrix is split into classes for that).
# (--dist loadgroup would be finer, but pytest-xdist 3.8 cannot regroup node ids under pytest 9.)
# PYTEST_WORKERS=0 runs everything in one process.
PYTEST_WORKERS ?= 3

pytest: setup
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadscope

test: lint typecheck imports pytest

# The app id comes from APP_ID=..., else BOT_APP_ID (environment or .env); with neither, a sandbox
# package with a placeholder id is built (and says so).
package: setup
	BOT_MODE=$${BOT_MODE:-sandbox} $(BIN)/python -m manifest.build $(if $(APP_ID),--app-id $(APP_ID))

sandbox-reset: setup
	$(BIN)/python -m sandbox reset

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf build test-artifacts .pytest_cache .mypy_cache .ruff_cache
