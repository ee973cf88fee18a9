"""Helpers for the validation and commit tests: the tiny-train fixture as a real git repo."""
from __future__ import annotations

import json
import os
import shutil
import sys
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
