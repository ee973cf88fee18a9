"""Content keys: which exact tree a validation ran, so that only its commit gets the result.

A key is the sha256 of the full tree listing ``mode object-id path`` (sorted, NUL
separated) that a commit would record. The same listing comes from three places:

- the working tree (``mldiff validate``): the index, with every modified, deleted and
  untracked-but-not-ignored file hashed as ``git add -A`` would store it (clean filters
  applied, nothing written to the object store);
- the index (what ``git commit`` is about to record; the hook sees the index git commit
  uses, including ``commit -a``'s temporary one);
- a commit (``mldiff notes REV``).

So a commit of exactly the validated content has the validated key, and a commit that
differs in one byte or one file does not. Submodule entries are taken from the index.
"""
from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from mldiff.errors import GitError
from mldiff.validate.gitcmd import git, git_bytes

Entries = dict[bytes, tuple[str, str]]  # path -> (mode, object id)
_KEY_VERSION = b"mldiff-tree-v1\0"


def content_key(entries: Entries) -> str:
    digest = hashlib.sha256(_KEY_VERSION)
    for path in sorted(entries):
        mode, oid = entries[path]
        digest.update(f"{mode} {oid} ".encode("ascii") + path + b"\0")
    return digest.hexdigest()


def index_entries(root: Path | str) -> Entries:
    entries: Entries = {}
    for record in git_bytes(root, "ls-files", "--stage", "-z").split(b"\0"):
        if not record:
            continue
        meta, _, path = record.partition(b"\t")
        mode, oid, stage = meta.decode("ascii").split()
        if stage != "0":
            raise GitError(f"the index has unmerged paths ({os.fsdecode(path)}): resolve the merge first")
        entries[path] = (mode, oid)
    return entries


def commit_entries(root: Path | str, commit: str) -> Entries:
    entries: Entries = {}
    for record in git_bytes(root, "ls-tree", "-r", "-z", "--full-tree", "--end-of-options", commit).split(b"\0"):
        if not record:
            continue
        meta, _, path = record.partition(b"\t")
        mode, _kind, oid = meta.decode("ascii").split()
        entries[path] = (mode, oid)
    return entries


def worktree_entries(root: Path | str) -> Entries:
    """The tree ``git add -A && git write-tree`` would give, computed without writing anything."""
    root = Path(root)
    entries = index_entries(root)
    listed = git_bytes(root, "ls-files", "-z", "--modified", "--deleted", "--others", "--exclude-standard")
    changed = sorted({path for path in listed.split(b"\0") if path})
    trust_mode = git(root, "config", "--type=bool", "--default", "true", "core.fileMode").strip() == "true"
    to_hash: list[bytes] = []
    for path in changed:
        full = root / os.fsdecode(path)
        try:
            info = full.lstat()
        except FileNotFoundError:
            entries.pop(path, None)
            continue
        old = entries.get(path)
        if old is not None and old[0] == "160000":
            continue  # a submodule: its recorded commit is the index's
        if stat.S_ISLNK(info.st_mode):
            target = os.fsencode(os.readlink(full))
            oid = git_bytes(root, "hash-object", "-t", "blob", "--stdin", input=target).decode("ascii").strip()
            entries[path] = ("120000", oid)
        elif stat.S_ISREG(info.st_mode):
            if trust_mode:
                mode = "100755" if info.st_mode & stat.S_IXUSR else "100644"
            else:
                mode = old[0] if old is not None else "100644"
            entries[path] = (mode, "")
            to_hash.append(path)
        elif stat.S_ISDIR(info.st_mode) and (full / ".git").exists():
            continue  # an untracked nested repository: `git add -A` would not descend into it
    if to_hash:
        # --stdin-paths applies the clean filters each path's attributes ask for, as `git add` does.
        output = git_bytes(root, "hash-object", "--stdin-paths", input=b"\n".join(to_hash) + b"\n")
        for path, oid in zip(to_hash, output.decode("ascii").split()):
            entries[path] = (entries[path][0], oid)
    return entries


def worktree_key(root: Path | str) -> str:
    return content_key(worktree_entries(root))


def index_key(root: Path | str) -> str:
    return content_key(index_entries(root))


def commit_key(root: Path | str, commit: str) -> str:
    return content_key(commit_entries(root, commit))
