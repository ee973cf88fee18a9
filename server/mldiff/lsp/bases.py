"""The base side of an open file: which repository, which revision, which text.

Everything here runs on the analysis worker thread (GitPython and git processes
never block the event loop). Repositories are found once per directory (the innermost
one, so files in submodules and nested repositories use their own); a base revision is
resolved again only when the repository's ``state_token()`` changed (a commit,
checkout, reset, fetch or ``git add`` outside the editor); blob texts are cached by the
git layer by blob id, and index texts here by the index's state.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mldiff.config import INDEX, parse_base
from mldiff.errors import GitError, NoCommitsYet

if TYPE_CHECKING:  # imported on first use: a server that never opens a repository needs no git
    from mldiff.gitview import RepoView


@dataclass(frozen=True)
class BaseSide:
    text: str | None       # None: the file does not exist on the base side (every line is added)
    label: str             # for hovers: "HEAD (1a2b3c4)", "index", "no commits yet"
    revision: str | None   # the commit sha, "index", or None when the repository has no commits


class BaseTexts:
    def __init__(self) -> None:
        self._repos: dict[str, RepoView | None] = {}        # directory -> RepoView | None
        self._no_repo: dict[str, str] = {}                  # directory -> why it has none
        self._revisions: dict[tuple[str, str], tuple[tuple, str | None, str]] = {}
        self._index_texts: OrderedDict[tuple[str, str, tuple], str | None] = OrderedDict()

    def repo_for(self, path: str) -> RepoView | None:
        """The innermost repository holding ``path`` (a RepoView), or None outside git."""
        directory = os.path.dirname(os.path.abspath(path))
        if directory in self._repos:
            return self._repos[directory]
        from mldiff.gitview import RepoView
        try:
            repo = RepoView.discover(directory)
        except GitError as exc:
            repo = None
            self._no_repo[directory] = str(exc)
        if repo is not None and repo.root is None:
            repo = None  # a bare repository has no work tree to edit
            self._no_repo[directory] = "inside a bare repository's git dir"
        if repo is not None:  # share one RepoView (and its cat-file process) per repository
            repo = next((r for r in self._repos.values() if r is not None and r.git_dir == repo.git_dir), repo)
        self._repos[directory] = repo
        return repo

    def why_no_repo(self, path: str) -> str:
        """Why ``repo_for(path)`` found no repository (not a git repository, git missing)."""
        return self._no_repo.get(os.path.dirname(os.path.abspath(path)), "not in a git repository")

    def forget_missing(self) -> None:
        """Look for repositories again where there were none (after ``git init``)."""
        self._repos = {d: r for d, r in self._repos.items() if r is not None}

    def base(self, repo, spec: str, relpath: str, token: tuple) -> BaseSide:
        """The base text of ``relpath`` for the base setting ``spec`` ("HEAD", "index",
        "merge-base:main", any revision). Raises GitError for a base that does not exist."""
        revision, label = self._resolve(repo, spec, token)
        if revision is None:
            return BaseSide(None, label, None)
        if revision == INDEX:
            key = (str(repo.git_dir), relpath, token)
            if key not in self._index_texts:
                self._index_texts[key] = repo.blob_text(INDEX, relpath)
                while len(self._index_texts) > 64:
                    self._index_texts.popitem(last=False)
            return BaseSide(self._index_texts[key], label, INDEX)
        return BaseSide(repo.blob_text(revision, relpath), label, revision)

    def _resolve(self, repo, spec: str, token: tuple) -> tuple[str | None, str]:
        key = (str(repo.git_dir), spec)
        cached = self._revisions.get(key)
        if cached is not None and cached[0] == token:
            return cached[1], cached[2]
        revision, label = _resolve_spec(repo, spec)
        self._revisions[key] = (token, revision, label)
        return revision, label


def _resolve_spec(repo, spec: str) -> tuple[str | None, str]:
    base = parse_base(spec)
    if base.is_index:
        return INDEX, "index"
    try:
        sha = repo.merge_base("HEAD", base.revision) if base.merge_base else repo.resolve(base.revision)
    except NoCommitsYet:
        if str(base) == "HEAD":
            return None, "no commits yet"
        raise
    return sha, f"{spec} ({sha[:7]})"
