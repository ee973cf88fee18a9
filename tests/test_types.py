"""The package type-checks: mypy over ``server/mldiff`` with the settings in pyproject.toml.

A rule that reads a fact a text file's context does not have, a helper that forgets a
``None`` case, a finding field of the wrong type: mypy finds these before a user does.
The cache lives in ``.mypy_cache`` at the checkout's root, so a second run takes seconds.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_package_type_checks():
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", str(ROOT / ".mypy_cache"), "--no-color-output", "--no-error-summary"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, f"mypy found problems (fix the types, not the checks):\n{output}"


def test_the_check_sees_errors(tmp_path: Path):
    """The same invocation reports a real type error, so a silent pass above means a clean package."""
    bad = tmp_path / "bad.py"
    bad.write_text("from mldiff.findings import Span\n\nspan = Span(line='one', column=1, end_line=1, end_column=2)\n",
                   encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", str(ROOT / ".mypy_cache"), "--no-color-output", str(bad)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "bad.py:3: error" in result.stdout and "arg-type" in result.stdout, result.stdout
