"""Helpers for the validation and commit tests: the tiny-train fixture as a real git repo."""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

from conftest import FIXTURES, Repo, mldiff
from repo_snapshot import assert_same, snapshot

TINY_TRAIN = FIXTURES / "tiny-train"
# `python` in the fixture's command must be this interpreter (it has torch).
RUN_ENV = {"PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
STEPS = "6"


def tiny_train_repo(tmp_path: Path, name: str = "repo") -> Repo:
    repo = Repo(tmp_path / name)
    for item in TINY_TRAIN.iterdir():
        if item.is_file():
            shutil.copy(item, repo.path / item.name)
    repo.commit("tiny-train")
    return repo


STEP_LINE = "            step += 1\n"
HANG = STEP_LINE + ("            if step == 3 and os.environ.get('HANG_MARKER'):\n"
                    "                open(os.environ['HANG_MARKER'], 'w').close()\n"
                    "                time.sleep(600)\n")


def hanging_repo(tmp_path: Path) -> Repo:
    """tiny-train whose working tree (the change) hangs after optimizer step 3 when the
    environment names a HANG_MARKER file (created when it starts hanging)."""
    repo = tiny_train_repo(tmp_path)
    edit(repo, "train.py", "import argparse\n", "import argparse\nimport os\nimport time\n")
    edit(repo, "train.py", STEP_LINE, HANG)
    return repo


def edit(repo: Repo, path: str, old: str, new: str) -> None:
    target = repo.path / path
    text = target.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    target.write_text(text.replace(old, new, 1), encoding="utf-8")


def validate_json(repo: Repo, *args: str, env: dict | None = None) -> dict:
    result = mldiff("validate", "--json", "--steps", STEPS, *args, cwd=repo.path, env={**RUN_ENV, **(env or {})})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def mldiff_dir(repo: Repo) -> Path:
    return repo.path / ".git" / "mldiff"


def leftover_worktrees(repo: Repo) -> list[str]:
    listed = repo.git("worktree", "list", "--porcelain")
    paths = [line.split(" ", 1)[1] for line in listed.splitlines() if line.startswith("worktree ")]
    folder = mldiff_dir(repo) / "worktrees"
    on_disk = [p.name for p in folder.iterdir()] if folder.is_dir() else []
    return [p for p in paths if Path(p) != repo.path] + on_disk


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line contains ``text`` (a unique temp path)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def take(path: Path, hooks: bool = False) -> dict:
    """The shared repository snapshot, less validation's own store (``<git-dir>/mldiff/``: results,
    confirmations) and, with ``hooks``, less the hook files that `mldiff hook` may change."""
    state = snapshot(path)
    skipped = ("mldiff/", "hooks/") if hooks else ("mldiff/",)
    state["git dir"] = {name: value for name, value in state["git dir"].items() if not name.startswith(skipped)}
    if hooks:
        state["config"] = None   # the hooksPath test sets core.hooksPath itself, before the snapshot
    return state


def assert_unchanged(before: dict, after: dict) -> None:
    assert_same(before, after)


def store_result(root: Path) -> None:
    """Store a validation result for the working tree as `mldiff validate` does: the real
    content key, comparison and results store, with the two runs' measurements given here
    (the probe itself, which needs the project's own dependencies, is tested in
    tests/test_validate_*.py)."""
    from mldiff.validate import compare, content, gitcmd, store
    from mldiff.validate.validation import ValidationResult

    def run(losses: list[float], samples_per_second: float, rss: int) -> dict:
        return {"status": "ok", "loss": losses, "samples_per_second": samples_per_second,
                "steps_per_second": samples_per_second / 64, "steady_seconds": 4.0,
                "memory": {"peak_rss_bytes": rss},
                "environment": {"torch": "2.13.0+cpu", "device": "cpu", "device_name": "cpu"}}

    base_commit = gitcmd.resolve_commit(root, "HEAD")
    key = content.worktree_key(root)
    base, change = run([2.31, 2.18, 2.02], 812.0, 900 << 20), run([2.31, 2.25, 2.16], 830.0, 890 << 20)
    comparison = compare.compare(base, change)
    result = ValidationResult(
        base_rev="HEAD", base_commit=base_commit, content_key=key, runner="local",
        command=["python", "train.py", "--epochs", "1"], steps=3, seed=0, base=base, change=change,
        comparison=comparison, verdict=compare.verdict(comparison), finished=time.time(), stored=True)
    store.save_result(gitcmd.common_dir(root), base_commit, key, result.to_json())
