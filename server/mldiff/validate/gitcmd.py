"""The git calls validation and commit integration make in a work tree, through the one
runner of ``mldiff.gitview`` (no fsmonitor, no hooks, no index refresh, an environment
that names this repository). Revisions are verified with ``rev-parse --verify
--end-of-options`` and user paths come after ``--``.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from mldiff.errors import GitError
from mldiff.gitview import git_message, run_git, worktree_env

_OBJECT_ID = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?$")


def git_bytes(root: Path | str, *args: str, input: bytes | None = None, env: dict[str, str] | None = None,
              hooks_off: bool = True) -> bytes:
    """Run git in ``root``; a failure becomes a GitError with git's own reason."""
    result = run_git(root, args, {**worktree_env(root), **(env or {})}, input=input, hooks_off=hooks_off)
    if result.returncode != 0:
        raise GitError(git_message(args, result.stderr.decode("utf-8", "replace")))
    return result.stdout


def git(root: Path | str, *args: str, input: str | None = None, env: dict[str, str] | None = None,
        hooks_off: bool = True) -> str:
    data = git_bytes(root, *args, input=None if input is None else input.encode("utf-8"), env=env,
                     hooks_off=hooks_off)
    return os.fsdecode(data)


def toplevel(path: Path | str) -> Path:
    """The working tree root containing ``path``."""
    start = Path(path)
    if not start.is_dir():
        raise GitError(f"{path} is not a directory")
    top = git(start, "rev-parse", "--show-toplevel").strip()
    if not top:
        raise GitError(f"{path} is not inside a git working tree")
    return Path(top)


def common_dir(root: Path | str) -> Path:
    """The git dir shared by all worktrees (where mldiff keeps results and checkouts)."""
    return Path(git(root, "rev-parse", "--path-format=absolute", "--git-common-dir").strip())


def resolve_commit(root: Path | str, rev: str) -> str:
    """A full commit id for ``rev``; a revision that looks like an option cannot be one."""
    try:
        sha = git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}").strip()
    except GitError:
        sha = ""
    if not _OBJECT_ID.match(sha):
        raise GitError(f"unknown revision {rev!r} (not a commit in this repository)")
    return sha
