# mldiff: `make demo` shows it working; `make test` runs every test from scratch.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test venv dev tools clean

# A venv with mldiff and its runtime dependencies only (no torch).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $@

venv: $(VENV)/.installed

# Test tools and torch (CPU build) for the validation tests.
$(VENV)/.dev-installed: $(VENV)/.installed requirements-test.txt
	$(BIN)/python -m pip install -q -e '.[dev]' -r requirements-test.txt
	touch $@

dev: $(VENV)/.dev-installed

# The dev container CLI for the validation runner tests (run against a stub docker).
DEVCONTAINER_CLI := .tools/node_modules/.bin/devcontainer
$(DEVCONTAINER_CLI):
	npm install --prefix .tools --no-audit --no-fund @devcontainers/cli@0.89.0

tools: $(DEVCONTAINER_CLI)

demo: venv
	$(BIN)/mldiff demo

test: dev tools
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache
