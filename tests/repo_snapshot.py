"""Snapshot a repository's user-visible state, to prove an operation left it untouched.

    before = take(path)
    ...run something...
    assert_unchanged(before, take(path))          # or: allow={"hooks"} to skip a part

A snapshot holds: every working-tree file (path -> mode, sha256; .git excluded), the index
file's checksum, HEAD (symbolic and resolved), every ref, the stash list and the config
file's checksum, plus the hook files. (The validation tests wrote this before the shared
helper existed; it keeps a simple dict-based API so the two can be merged.)
"""
from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from pathlib import Path


def _git(path: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=path, capture_output=True, text=True,
                            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})
    return result.stdout if result.returncode == 0 else f"<exit {result.returncode}>"


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return "<missing>"


def _tree(root: Path) -> dict[str, tuple[int, str]]:
    files: dict[str, tuple[int, str]] = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not (Path(folder) == root and d == ".git")]
        for name in names + [d for d in dirs if (Path(folder) / d).is_symlink()]:
            full = Path(folder) / name
            info = full.lstat()
            relative = full.relative_to(root).as_posix()
            if stat.S_ISLNK(info.st_mode):
                files[relative] = (info.st_mode, "link:" + os.readlink(full))
            else:
                files[relative] = (info.st_mode, _digest(full))
    return files


def take(path: Path | str) -> dict[str, object]:
    root = Path(path)
    git_dir = Path(_git(root, "rev-parse", "--path-format=absolute", "--git-dir").strip())
    hooks = Path(_git(root, "rev-parse", "--path-format=absolute", "--git-path", "hooks").strip())
    return {
        "worktree": _tree(root),
        "index": _digest(git_dir / "index"),
        "head": (_git(root, "symbolic-ref", "-q", "HEAD"), _git(root, "rev-parse", "HEAD")),
        "refs": _git(root, "for-each-ref", "--format=%(refname) %(objectname)"),
        "stash": _git(root, "stash", "list"),
        "config": _digest(git_dir / "config"),
        "hooks": _tree(hooks) if hooks.is_dir() else {},
    }


def assert_unchanged(before: dict[str, object], after: dict[str, object], allow: set[str] = frozenset()) -> None:
    changed = [part for part in before if part not in allow and before[part] != after[part]]
    if changed:
        details = []
        for part in changed:
            b, a = before[part], after[part]
            if isinstance(b, dict) and isinstance(a, dict):
                diff = sorted(k for k in set(b) | set(a) if b.get(k) != a.get(k))
                details.append(f"{part}: {diff[:10]}")
            else:
                details.append(f"{part}: {b!r} -> {a!r}")
        raise AssertionError("repository changed: " + "; ".join(details))
