# mldiff: `make demo` shows it working; `make test` runs every test from scratch.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test venv dev clean

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

demo: venv
	$(BIN)/mldiff demo

test: dev
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache
