"""The few git calls validation and commit integration need, run the safe way.

Every call sets GIT_OPTIONAL_LOCKS=0 and runs no fsmonitor program, revisions are verified with
``rev-parse --verify --end-of-options`` and user paths come after ``--``.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from mldiff.errors import GitError

# No fsmonitor program from the repository's config: mldiff's own git calls run nothing of the
# repository's (the same setting as mldiff.gitview's).
NO_FSMONITOR = ("-c", "core.fsmonitor=false")
_OBJECT_ID = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?$")


def git_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C", **(extra or {})}


def git_bytes(root: Path | str, *args: str, input: bytes | None = None,
              env: dict[str, str] | None = None) -> bytes:
    """Run git in ``root``; a failure becomes a GitError with git's own first line."""
    try:
        result = subprocess.run(["git", *NO_FSMONITOR, *args], cwd=root, input=input, capture_output=True,
                                env=git_env(env))
    except FileNotFoundError:
        raise GitError("git is not installed or not on PATH") from None
    except NotADirectoryError:
        raise GitError(f"{root} is not a directory") from None
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = message[-1] if message else f"exit status {result.returncode}"
        raise GitError(f"git {args[0]}: {detail.removeprefix('fatal: ')}")
    return result.stdout


def git(root: Path | str, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> str:
    data = git_bytes(root, *args, input=None if input is None else input.encode("utf-8"), env=env)
    return data.decode("utf-8", "surrogateescape")


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


def is_object_id(text: str) -> bool:
    return bool(_OBJECT_ID.match(text))
