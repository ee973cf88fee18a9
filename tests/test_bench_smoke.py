"""Every benchmark under bench/ runs to the end on tiny inputs, so none of them rots.

No timing is asserted (figures come from the full runs, docs/performance.md): each script
must exit 0 and print its table, with the rows that carry the figures the issues ask for.
The range and history benchmarks run over a small real repository made here from
fixtures/tiny-train (two commits), since the fetched ones are not part of the repository."""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from conftest import FIXTURES, ROOT, Repo

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_commits(tmp_path_factory) -> Repo:
    repo = Repo(tmp_path_factory.mktemp("bench") / "repo")
    shutil.copytree(FIXTURES / "tiny-train", repo.path, dirs_exist_ok=True)
    repo.commit("base")
    repo.git("tag", "A")
    train = repo.path / "train.py"
    train.write_text(train.read_text().replace("default=0.05)", "default=0.2)"))
    repo.commit("raise the learning rate")
    repo.git("tag", "B")
    return repo


def bench(*args: str, timeout: float = 300) -> str:
    result = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    return result.stdout


def test_check_range(two_commits: Repo) -> None:
    out = bench("bench/check_range.py", "--repo", str(two_commits.path), "A", "B", "--runs", "1")
    assert "A..B: 1 changed .py files" in out
    for row in ("git diff -U0 -- '*.py'", "mldiff check (all cores)", "mldiff check (1 process)"):
        assert row in out


def test_check_sarif(two_commits: Repo) -> None:
    out = bench("bench/check_sarif.py", "--repo", str(two_commits.path), "A", "B", "--runs", "1")
    assert "valid SARIF 2.1.0" in out and "mldiff check --format sarif" in out


def test_log_history(two_commits: Repo) -> None:
    out = bench("bench/log_history.py", "--repo", str(two_commits.path), "--runs", "1")
    assert "2 first-parent commits" in out
    assert "mldiff log, cold" in out and "mldiff log, warm" in out and "2 from the cache" in out


def test_lsp_latency() -> None:
    out = bench("bench/lsp_latency.py", "--edits", "2")
    for row in ("first diagnostics, cold", "edits near the change", "edits far from it", "server RSS at the end"):
        assert row in out


def test_lsp_startup() -> None:
    out = bench("bench/lsp_startup.py", "--runs", "1", "--large-file", str(FIXTURES / "tiny-train" / "train.py"))
    assert "bare pygls" in out and "mldiff serve" in out
    assert "first diagnostics of train.py" in out and "didOpen" in out and "spawn" in out


def test_cli_startup() -> None:
    out = bench("bench/cli_startup.py", "--runs", "1")
    assert 'python -c "import libcst"' in out and "mldiff check (one file)" in out and "wall x libcst" in out


def test_lsp_load() -> None:
    assert "all hovers:" in bench("bench/lsp_load.py", "--seconds", "5")


def test_hunks_textfiles_and_many_files() -> None:
    assert "one-line edit, 5,000-line file" in bench("bench/hunks_speed.py", "--runs", "1")
    assert "notebook.ipynb" in bench("bench/textfiles_bench.py", "--calls", "1")
    assert "as the editor's cells" in bench("bench/notebook_bench.py", "--calls", "1", "--cells", "4")
    assert "files/s" in bench("bench/check_many_files.py", "5")


def test_probe_overhead() -> None:
    pytest.importorskip("torch")
    out = bench("bench/probe_overhead.py", "--steps", "3", "--rounds", "1")
    assert "tiny MLP" in out and "overhead" in out



def test_mcp_check() -> None:
    out = bench("bench/mcp_check.py", "--calls", "2")
    assert "tiny-train: 1 findings per check, 2 checks each way" in out
    for row in ("mldiff mcp: start to initialize answered", "mldiff mcp: check tool call, median",
                "mldiff check --format json process, median", "process / tool call"):
        assert row in out
