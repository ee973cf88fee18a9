"""The base checkout: a detached ``git worktree`` under ``<git-dir>/mldiff/worktrees/``.

Created with repository hooks disabled (``core.hooksPath=/dev/null``: no post-checkout
hook of the project runs), removed when the run ends, however it ends. Each checkout
has an owner file naming the process that made it; a checkout whose owner is gone (a
SIGKILLed mldiff, a crashed editor) is removed by the next run's ``prune_stale``.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Iterator

from mldiff.errors import GitError
from mldiff.validate.gitcmd import git
from mldiff.validate.store import mldiff_dir, read_json



def worktrees_dir(common: Path) -> Path:
    return mldiff_dir(common) / "worktrees"


def _process_start(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (tells a live owner from a reused pid)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return fields[19]
    except (OSError, IndexError):
        return None


def _alive(owner: dict[str, Any]) -> bool:
    pid = owner.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    started = _process_start(pid)
    return started is None or owner.get("start") in (None, started)


def _remove(root: Path, path: Path) -> None:
    try:
        git(root, "worktree", "remove", "--force", "--force", "--", str(path))
    except GitError:
        pass
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)
    owner = path.with_suffix(".owner")
    with contextlib.suppress(FileNotFoundError):
        owner.unlink()


def prune_stale(root: Path, common: Path, folder: Path | None = None) -> list[Path]:
    """Remove checkouts left by runs whose process is gone (in ``folder``, default under the
    git dir); returns what was removed."""
    removed: list[Path] = []
    folder = folder or worktrees_dir(common)
    if folder.is_dir():
        for entry in sorted(folder.iterdir()):
            if entry.suffix == ".owner":
                if not entry.with_suffix("").exists():
                    owner = read_json(entry)
                    if not isinstance(owner, dict) or not _alive(owner):
                        with contextlib.suppress(FileNotFoundError):
                            entry.unlink()
                continue
            owner = read_json(entry.with_suffix(".owner"))
            if isinstance(owner, dict) and _alive(owner):
                continue
            _remove(root, entry)
            removed.append(entry)
    try:
        git(root, "worktree", "prune")
    except GitError:
        pass
    return removed


@contextlib.contextmanager
def base_checkout(root: Path, common: Path, commit: str, folder: Path | None = None) -> Iterator[Path]:
    """A detached checkout of ``commit`` in ``folder`` (default under the git dir; a Slurm job
    needs one on a shared file system), removed on exit (also on error and Ctrl-C)."""
    folder = folder or worktrees_dir(common)
    folder.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(f"{commit}:{os.getpid()}:{time.time_ns()}".encode()).hexdigest()[:16]
    path = folder / name
    owner = {"pid": os.getpid(), "start": _process_start(os.getpid()), "commit": commit}
    path.with_suffix(".owner").write_text(json.dumps(owner), encoding="utf-8")
    try:
        git(root, "worktree", "add", "--detach", "--quiet", "--", str(path), commit)
        yield path
    finally:
        _remove(root, path)
        try:
            git(root, "worktree", "prune")
        except GitError:
            pass
