"""One document's analysis, on the worker thread: base text from git, the engine,
stable findings while a statement is half-typed, diagnostics in the client's units.

The engine (``mldiff.engine.analyze``) runs on the whole buffer after every
edit; it caches parses per logical line and keeps the base side's view by text (the
base does not change while the user types), and it is given the document's previous
result so that it re-segments only around the edit: an edit costs the statements it
touched.
"""
from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

from mldiff.config import WORKTREE
from mldiff.errors import MldiffError
from mldiff.findings import FileResult
from mldiff.lsp.bases import BaseSide, BaseTexts
from mldiff.lsp.diagnostics import to_diagnostic
from mldiff.lsp.documents import has_lone_cr
from mldiff.lsp.results import DocumentResult
from mldiff.lsp.settings import ServerOptions, SettingsState
from mldiff.lsp.stability import GoodState, stable_findings

if TYPE_CHECKING:
    from mldiff.gitview import RepoView
    from mldiff.lsp.notebooks import CellText
    from mldiff.project_files import RepoProject

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class Snapshot:
    """A document as it was when its job started."""

    uri: str
    path: str | None
    revision: int
    version: int | None
    lines: tuple[str, ...]
    roots: tuple[str, ...] = ()   # the client's workspace folders; empty: it named none
    language_id: str = ""
    cells: tuple[CellText, ...] | None = None   # a notebook's cells (lsp/notebook_analysis.py)


def inside_roots(path: str, roots: Sequence[str]) -> bool:
    """Whether ``path`` lies under one of ``roots`` (symbolic links resolved, so a link in
    the workspace cannot lead the server elsewhere). No roots: the client opened single
    files on their own, and each is analysed where it is."""
    if not roots:
        return True
    real = os.path.realpath(path)
    return any(real == root or real.startswith(root.rstrip(os.sep) + os.sep)
               for root in map(os.path.realpath, roots))


class Analyzer:
    """Worker-thread state: repositories, base views and last good findings per document."""

    def __init__(self, settings: SettingsState, say_once: Callable[[str, str, bool], None]) -> None:
        self.settings = settings
        self.bases = BaseTexts()
        self._say_once = say_once                # (key, message, show) -> None, thread-safe
        self._previous: OrderedDict[str, FileResult] = OrderedDict()  # relpath -> the engine's last result
        self._good: dict[str, GoodState] = {}
        self._relpaths: dict[tuple[str, str], str | None] = {}
        self._crashes: set[str] = set()
        self._projects: dict[str, tuple[tuple, RepoProject]] = {}  # repo root -> (base, git state), project
        self._warm_lock = threading.Lock()
        self._warm = False

    def warm_up(self) -> None:
        """Import what the first analysis needs while the user is still opening files. Once,
        and one thread at a time: a validation's thread calls it too before it reaches the
        engine, so two threads never import the engine's modules at the same time (Python
        hands one of them a half-initialised module when their imports wait on each other)."""
        with self._warm_lock:
            if self._warm:
                return
            from mldiff.engine import rule_instances
            import mldiff.gitview  # noqa: F401
            rule_instances()
            try:
                import git.cmd  # noqa: F401 - GitPython's persistent cat-file reader
            except ImportError:  # GitPython refuses to import without git: each file says so once
                pass
            self._warm = True

    def forget(self, uri: str) -> None:
        self._good.pop(uri, None)

    def _relative_path(self, repo, path: str) -> str | None:
        key = (str(repo.git_dir), path)
        if key not in self._relpaths:
            try:
                self._relpaths[key] = repo.relative_path(path)
            except MldiffError:
                self._relpaths[key] = None
        return self._relpaths[key]

    def analyse(self, snapshot: Snapshot, encoding: str, options: ServerOptions,
                previous: DocumentResult | None = None, only_if_git_changed: bool = False) -> DocumentResult | None:
        """The result for ``snapshot``; None when ``only_if_git_changed`` and nothing changed."""
        empty = DocumentResult(snapshot.uri, snapshot.revision, snapshot.version, head_lines=snapshot.lines)
        path = snapshot.path
        from mldiff.analysis.filekinds import file_kind
        kind = file_kind(path) if path else None
        if kind is None or path is None:
            return empty
        text = "".join(snapshot.lines)
        if len(text) > options.max_file_chars:
            self._say_once(f"size:{snapshot.uri}",
                           f"{path}: {len(text):,} characters, more than mldiff.maxFileBytes "
                           f"({options.max_file_chars:,}); not analysed", False)
            return empty
        if has_lone_cr(text):
            self._say_once(f"cr:{snapshot.uri}", f"{path}: lines end in a bare CR; not analysed", False)
            return empty
        if not inside_roots(path, snapshot.roots):
            self._say_once(f"outside:{snapshot.uri}",
                           f"mldiff: {path} is outside the workspace folders; not analysed", False)
            return empty
        repo = self.bases.repo_for(path)
        if repo is None:
            reason = self.bases.why_no_repo(path)
            self._say_once(f"norepo:{reason}", f"mldiff: {path}: {reason}; not analysed", False)
            return empty
        relpath = self._relative_path(repo, path)
        if relpath is None:
            return empty
        token = repo.state_token()
        if only_if_git_changed and previous is not None and previous.git_token == token \
                and previous.revision == snapshot.revision:
            return None
        root = str(repo.root)
        empty.repo_root, empty.git_dir, empty.git_token = root, str(repo.git_dir), token
        empty.common_dir = str(repo.common_dir)
        settings = self.settings.settings_for(root, snapshot.uri)
        if not settings.includes(relpath):
            return empty
        try:
            base = self.bases.base(repo, settings.base, relpath, token)
        except MldiffError as exc:  # unknown revision, undecodable or binary base blob
            self._say_once(f"base:{root}:{settings.base}:{exc}", f"mldiff: base {settings.base!r}: {exc}", True)
            return empty
        try:
            file_result = self._run_engine(kind, relpath, base, text, settings, snapshot,
                                           self._project(repo, root, base, token))
            findings = self._stable(snapshot, base, settings, file_result, file_result.unreliable_head_lines)
            diagnostics = [to_diagnostic(f, snapshot.uri, snapshot.lines, encoding, snapshot.version, root)
                           for f in findings]
        except Exception as exc:  # a bug in mldiff: this version gets no diagnostics, never stale ones
            key = f"crash:{snapshot.uri}:{exc!r}"
            if key not in self._crashes:
                self._crashes.add(key)
                logger.exception("analysis of %s failed", path)
            self._say_once(key, f"mldiff: internal error while analysing {path}: {exc!r}", False)
            return empty
        for note in file_result.notes:
            self._say_once(f"note:{snapshot.uri}:{note}", note, False)
        for error in file_result.errors:  # parse errors are the user's typing; the rest is worth a log line
            if "side does not parse" not in error.message:
                self._say_once(f"error:{snapshot.uri}:{error.message}", f"mldiff: {error.path}: {error.message}", False)
        return DocumentResult(
            snapshot.uri, snapshot.revision, snapshot.version, diagnostics=diagnostics,
            findings=tuple(findings), head_lines=snapshot.lines, base_text=base.text, base_label=base.label,
            repo_root=root, git_dir=str(repo.git_dir), common_dir=str(repo.common_dir), git_token=token,
            known_hunks=file_result.hunks)

    # -- the engine ---------------------------------------------------------------------------
    def _project(self, repo: RepoView, root: str, base: BaseSide, token: tuple) -> RepoProject | None:
        """The repository's other files for the engine (``project_files``): at the base revision,
        and as they are on disk for the buffer's side; one per repository, new when the base or
        the git state moves."""
        if base.revision is None:
            return None
        key = (base.revision, token)
        held = self._projects.get(root)
        if held is None or held[0] != key:
            from mldiff.project_files import RepoProject
            held = self._projects[root] = (key, RepoProject(repo, base.revision, WORKTREE))
        return held[1]

    def forget_worktree_files(self) -> None:
        """A file was saved: what the other files on disk name must be read again."""
        for _, project in self._projects.values():
            project.forget_worktree()

    def _run_engine(self, kind: str, relpath: str, base: BaseSide, text: str, settings, snapshot: Snapshot,
                    project: RepoProject | None = None) -> FileResult:
        """The engine's result, given its previous result for this file (the last few files kept);
        a notebook open as cells (VS Code) or as JupyterLab's joined document goes through
        ``lsp.notebook_analysis``."""
        if kind == "notebook":
            from mldiff.lsp.notebook_analysis import notebook_engine
            result = notebook_engine(relpath, snapshot, base.text, text, settings)
            if result is not None:
                result.unreliable_head_lines = frozenset()
                return result
        from mldiff.engine import analyze
        result = analyze(relpath, base.text, text, settings, previous=self._previous.pop(relpath, None),
                         project=project)
        self._previous[relpath] = result
        while len(self._previous) > 8:
            self._previous.popitem(last=False)
        return result

    def _stable(self, snapshot: Snapshot, base: BaseSide, settings, result: FileResult,
                unreliable: frozenset[int]) -> list:
        """The findings to show, keeping the last good ones where the engine could not compare."""
        base_key = (base.revision, base.text, settings)
        good = self._good.get(snapshot.uri)
        if good is not None and good.base_key != base_key:
            good = None
        if not unreliable:
            self._good[snapshot.uri] = GoodState(base_key, snapshot.lines, tuple(result.findings))
            return list(result.findings)
        return stable_findings(result.findings, unreliable, good, snapshot.lines)
