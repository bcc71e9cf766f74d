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

pytest: setup
	$(BIN)/python -m pytest

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
