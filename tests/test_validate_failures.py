"""Validation that fails, times out, never steps, or is killed: clear messages, nothing left behind."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import mldiff
from validation_support import (RUN_ENV, assert_unchanged, edit, hanging_repo, leftover_worktrees,
                                processes_mentioning, take, tiny_train_repo)

pytest.importorskip("torch")
pytestmark = pytest.mark.slow

def wait_for(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_failing_command_reports_its_last_lines(tmp_path):
    repo = tiny_train_repo(tmp_path)
    edit(repo, "train.py", "    args = parser.parse_args()\n",
         "    args = parser.parse_args()\n    raise ValueError('bad shape 3 != 4')\n")
    before = take(repo.path)
    completed = mldiff("validate", "--steps", "3", cwd=repo.path, env=RUN_ENV)
    assert completed.returncode == 2
    first = completed.stderr.strip().splitlines()
    assert any(line.startswith("mldiff: the change run (working tree) failed after 0 steps: ValueError: bad shape")
               for line in first), completed.stderr
    assert "last output of the change run:" in completed.stderr
    assert "raise ValueError('bad shape 3 != 4')" in completed.stderr  # the user's own traceback, shown
    assert_unchanged(before, take(repo.path))
    assert leftover_worktrees(repo) == []


def test_missing_interpreter_is_one_clear_line(tmp_path):
    repo = tiny_train_repo(tmp_path)
    edit(repo, "pyproject.toml", 'command = "python train.py --epochs 2"', 'command = "python9 train.py"')
    repo.commit("an interpreter that is not installed")
    before = take(repo.path)
    completed = mldiff("validate", "--steps", "3", cwd=repo.path, env=RUN_ENV)
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines()[-1] == (
        "mldiff: cannot start 'python9': No such file or directory (is it installed and on PATH?)"), completed.stderr
    assert "Traceback" not in completed.stderr
    assert leftover_worktrees(repo) == []
    assert_unchanged(before, take(repo.path))


def test_command_that_never_steps(tmp_path):
    repo = tiny_train_repo(tmp_path)
    repo.write("evaluate.py", "import torch\nprint('accuracy 0.5')\n")
    edit(repo, "pyproject.toml", 'command = "python train.py --epochs 2"', 'command = "python evaluate.py"')
    repo.commit("evaluate")
    completed = mldiff("validate", "--steps", "3", cwd=repo.path, env=RUN_ENV)
    assert completed.returncode == 2
    assert "finished without reaching an optimizer step" in completed.stderr
    assert "accuracy 0.5" in completed.stderr


def test_timeout_kills_the_run(tmp_path):
    repo = hanging_repo(tmp_path)
    marker = tmp_path / "hanging"
    before = take(repo.path)
    completed = mldiff("validate", "--steps", "6", "--timeout", "25", cwd=repo.path,
                       env={**RUN_ENV, "HANG_MARKER": str(marker)})
    assert completed.returncode == 2
    assert "the change run (working tree) timed out after 25 s at step 3/6" in completed.stderr, completed.stderr
    assert marker.exists()
    assert processes_mentioning(str(repo.path)) == []
    assert leftover_worktrees(repo) == []
    assert_unchanged(before, take(repo.path))


def start_and_hang(repo, marker):
    process = subprocess.Popen([sys.executable, "-m", "mldiff", "validate", "--steps", "6"], cwd=repo.path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, **RUN_ENV, "HANG_MARKER": str(marker)})
    wait_for(marker.exists, 120, "the change run to reach step 3")
    assert processes_mentioning(str(repo.path))
    return process


def test_ctrl_c_midway_leaves_nothing(tmp_path):
    repo = hanging_repo(tmp_path)
    before = take(repo.path)
    process = start_and_hang(repo, tmp_path / "hanging")
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130 and "mldiff: interrupted" in stderr
    assert "Traceback" not in stderr
    assert processes_mentioning(str(repo.path)) == []
    assert leftover_worktrees(repo) == []
    assert_unchanged(before, take(repo.path))


def test_sigkill_midway_leaves_no_process_and_next_run_prunes(tmp_path):
    repo = hanging_repo(tmp_path)
    before = take(repo.path)
    process = start_and_hang(repo, tmp_path / "hanging")
    process.kill()
    process.communicate(timeout=30)
    # The probe sees its stdin pipe close and kills its own process group.
    wait_for(lambda: processes_mentioning(str(repo.path)) == [], 30, "the orphaned run to stop")
    assert leftover_worktrees(repo) != []          # nobody was left to remove it...
    killed = take(repo.path)
    assert_unchanged({**before, "git dir": None}, {**killed, "git dir": None})   # work tree, index, refs
    completed = mldiff("validate", "--steps", "3", cwd=repo.path, env=RUN_ENV)   # ...until the next run
    assert completed.returncode == 0, completed.stderr
    assert leftover_worktrees(repo) == []
    assert_unchanged(before, take(repo.path))


def test_api_cancel_midway_leaves_nothing(tmp_path, monkeypatch):
    import threading

    from mldiff.validate import api

    repo = hanging_repo(tmp_path)
    monkeypatch.setenv("PATH", RUN_ENV["PATH"])
    monkeypatch.setenv("HANG_MARKER", str(tmp_path / "hanging"))
    before = take(repo.path)
    cancel = threading.Event()
    stages = []

    def progress(stage, step, total):
        stages.append((stage, step))
        if stage == "change" and step == 3:
            cancel.set()   # what the editor's cancel button does

    with pytest.raises(api.ValidationCancelled):
        api.run_validation(repo.path, steps=6, progress=progress, cancel=cancel)
    assert ("base", 6) in stages and ("change", 3) in stages
    assert processes_mentioning(str(repo.path)) == []
    assert leftover_worktrees(repo) == []
    assert_unchanged(before, take(repo.path))
