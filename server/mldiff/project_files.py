"""A repository's other files as the engine's ``Project`` (``analysis.project``): the base side
at the base commit, the head side at the head commit, in the index or in the working tree.

``git grep`` finds the files that name a word (one call per side and word, remembered for
the life of the object: a check, a commit of a history walk, the language server's current
base); texts are read as the changed files are. A file that cannot be read is left out, as
if it did not name the word: the look-up can only add what a file is for, never an error.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

from mldiff.analysis.project import MAX_FILES_PER_NAME
from mldiff.config import INDEX, WORKTREE
from mldiff.errors import MldiffError
from mldiff.gitview import RepoView
from mldiff.textdecode import UnreadableFile

_TEXTS_KEPT = 64  # texts of other files kept per project: the same few are read for many names


class RepoProject:
    """The project on both sides of one change (``base``: a commit sha, "" where there is none;
    ``head``: a commit sha, ``"index"`` or ``"worktree"``)."""

    def __init__(self, view: RepoView, base: str, head: str) -> None:
        self.view, self.revs = view, {"base": base, "head": head}
        self._named: dict[tuple[str, str], list[str]] = {}
        self._texts: OrderedDict[tuple[str, str], str | None] = OrderedDict()

    def files_naming(self, side: str, name: str) -> Sequence[tuple[str, str]]:
        rev = self.revs.get(side, "")
        if not rev or not name.isidentifier():
            return ()
        key = (rev, name)
        paths = self._named.get(key)
        if paths is None:
            try:
                paths = self._named[key] = self.view.python_files_naming(rev, name)
            except MldiffError:
                paths = self._named[key] = []
        out = []
        for path in paths[:MAX_FILES_PER_NAME + 1]:  # the changed file itself is one of them
            text = self._text(rev, path)
            if text is not None:
                out.append((path, text))
        return out

    def forget_worktree(self) -> None:
        """Drop what was read from the working tree (a file was saved: it may name other words now)."""
        for cache in (self._named, self._texts):
            for key in [key for key in cache if key[0] == WORKTREE]:
                del cache[key]

    def _text(self, rev: str, path: str) -> str | None:
        key = (rev, path)
        if key in self._texts:
            self._texts.move_to_end(key)
            return self._texts[key]
        try:
            text = self.view.worktree_text(path) if rev == WORKTREE else self.view.blob_text(rev, path)
        except (UnreadableFile, MldiffError):
            text = None
        self._texts[key] = text
        if len(self._texts) > _TEXTS_KEPT:
            self._texts.popitem(last=False)
        return text


def project_for(view: RepoView, base: str, head: str) -> RepoProject | None:
    """The project of a change from ``base`` to ``head``, or None where the base is unknown."""
    if not base or head not in (INDEX, WORKTREE) and not head:
        return None
    return RepoProject(view, base, head)
