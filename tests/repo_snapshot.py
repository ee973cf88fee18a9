"""Snapshot of everything mldiff must never change in a repository, to assert that an
operation (check, an LSP session, validation) left it exactly as it was.

Covers the working-tree files (content, mode and mtime), the index (checksum), HEAD,
every ref (loose and packed), the stash, the config, and every file in the git dir
(names, sizes and mtimes: an ``index.lock`` left behind, a new loose object or a
rewritten ``ORIG_HEAD`` all show up).

    with unchanged(repo.path):
        mldiff("check", cwd=repo.path)
"""
from __future__ import annotations

import hashlib
import os
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

_READ_ONLY_GIT_ENV = {"GIT_OPTIONAL_LOCKS": "0", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}


def _git(path: Path, *args: str) -> str:
    env = {**os.environ, **_READ_ONLY_GIT_ENV}
    result = subprocess.run(["git", *args], cwd=path, env=env, capture_output=True, text=True)
    return result.stdout if result.returncode == 0 else f"<git {args[0]} failed: {result.stderr.strip()}>"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(top: Path, skip_git: bool) -> dict[str, tuple]:
    found: dict[str, tuple] = {}
    for directory, dirs, files in os.walk(top):
        if skip_git:
            dirs[:] = [d for d in dirs if d != ".git"]
        for name in sorted(files + [d for d in dirs if os.path.islink(os.path.join(directory, d))]):
            full = Path(directory) / name
            info = os.lstat(full)
            if os.path.islink(full):
                content = "link:" + os.readlink(full)
            elif skip_git:
                content = _digest(full)
            else:
                content = ""  # git dir: names, sizes and mtimes are enough (objects are large)
            found[full.relative_to(top).as_posix()] = (content, info.st_mode, info.st_size, info.st_mtime_ns)
    return found


def snapshot(path: Path, owned: tuple[str, ...] = ()) -> dict:
    """Everything mldiff must not change in the repository at ``path`` (a work tree or a bare dir).

    ``owned``: folders of the git dir that mldiff itself keeps (``mldiff/log-cache``), left out."""
    path = Path(path)
    git_dir = Path(_git(path, "rev-parse", "--absolute-git-dir").strip())
    common = _git(path, "rev-parse", "--git-common-dir").strip()
    common_dir = (path / common).resolve() if common and not os.path.isabs(common) else Path(common)
    bare = _git(path, "rev-parse", "--is-bare-repository").strip() == "true"
    index = git_dir / "index"
    state = {
        "HEAD": (git_dir / "HEAD").read_text(),
        "HEAD commit": _git(path, "rev-parse", "--verify", "--quiet", "HEAD"),
        "refs": _git(path, "for-each-ref", "--format=%(refname) %(objectname)"),
        "stash": _git(path, "log", "-g", "--format=%H", "refs/stash") if (common_dir / "refs/stash").exists()
        else "",
        "config": _digest(common_dir / "config") if (common_dir / "config").exists() else None,
        "index": _digest(index) if index.exists() else None,
        "git dir": _without(_files(git_dir, skip_git=False), owned),
    }
    if common_dir != git_dir:
        state["common dir"] = _without(_files(common_dir, skip_git=False), owned)
    if not bare:
        state["work tree"] = _files(path, skip_git=True)
    return state


def _without(files: dict[str, tuple], owned: tuple[str, ...]) -> dict[str, tuple]:
    prefixes = tuple(folder.rstrip("/") + "/" for folder in owned)
    return {name: value for name, value in files.items() if not name.startswith(prefixes)} if prefixes else files


def assert_same(before: dict, after: dict) -> None:
    changed = [key for key in before.keys() | after.keys() if before.get(key) != after.get(key)]
    details = []
    for key in changed:
        old, new = before.get(key), after.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            diff = sorted(name for name in old.keys() | new.keys() if old.get(name) != new.get(name))
            details.append(f"{key}: {diff[:10]}")
        else:
            details.append(f"{key}: {old!r} -> {new!r}")
    assert not changed, "the repository changed: " + "; ".join(details)


@contextmanager
def unchanged(path: Path, owned: tuple[str, ...] = ()) -> Iterator[None]:
    """Assert that the block leaves the repository at ``path`` exactly as it found it
    (apart from ``owned`` folders of the git dir that mldiff keeps, such as its log cache)."""
    before = snapshot(path, owned)
    yield
    assert_same(before, snapshot(path, owned))
