"""One document's analysis, on the worker thread: base text from git, the engine,
stable findings while a statement is half-typed, diagnostics in the client's units.

The engine (``mldiff.analysis.engine.analyze``) runs on the whole buffer after every
edit; it caches parses per logical line, and for Python files the base side's
``ModuleView`` is kept between edits here (the base text does not change while the
user types), so an edit costs one segmenting pass of the buffer plus the statements
it touched.
"""
from __future__ import annotations

import logging
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

from mldiff.errors import MldiffError
from mldiff.findings import FileResult
from mldiff.lsp.bases import BaseSide, BaseTexts
from mldiff.lsp.diagnostics import to_diagnostic
from mldiff.lsp.documents import has_lone_cr
from mldiff.lsp.results import DocumentResult
from mldiff.lsp.settings import ServerOptions, SettingsState
from mldiff.lsp.stability import GoodState, stable_findings

if TYPE_CHECKING:
    from mldiff.lsp.notebooks import CellText

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
        self._base_views: OrderedDict[str, object] = OrderedDict()
        self._head_views: OrderedDict[str, object] = OrderedDict()  # relpath -> the buffer's last view
        self._good: dict[str, GoodState] = {}
        self._relpaths: dict[tuple[str, str], str | None] = {}
        self._crashes: set[str] = set()

    def warm_up(self) -> None:
        """Import what the first analysis needs while the user is still opening files."""
        from mldiff.analysis.engine import _rule_instances
        import mldiff.analysis.change  # noqa: F401 - libcst
        import mldiff.gitview  # noqa: F401
        _rule_instances()
        try:
            import git.cmd  # noqa: F401 - GitPython's persistent cat-file reader
        except ImportError:  # GitPython refuses to import without git: each file says so once
            pass

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
        if kind is None:
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
            file_result, hunks, unreliable = self._run_engine(kind, relpath, base, text, snapshot.lines, settings,
                                                              snapshot)
            findings = self._stable(snapshot, base, settings, file_result, unreliable)
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
            known_hunks=hunks)

    # -- the engine ---------------------------------------------------------------------------
    def _run_engine(self, kind: str, relpath: str, base: BaseSide, text: str, lines: Sequence[str], settings,
                    snapshot: Snapshot):
        """(FileResult, hunks if known, 1-based head lines where the engine could not compare)."""
        from mldiff.analysis.engine import analyze
        if kind == "notebook":  # the editor's cells, or JupyterLab's virtual document
            from mldiff.lsp.notebook_analysis import notebook_engine
            result = notebook_engine(relpath, snapshot, base.text, text, settings)
            if result is not None:
                return result, None, frozenset()
        if kind != "python":
            result = analyze(relpath, base.text, text, settings)
            return result, None, frozenset(e.line for e in result.errors if e.line)
        change = self._python_change(relpath, base.text, text, lines)
        result = analyze(relpath, base.text, text, settings, change=change)
        return result, change.hunks, change.unreliable_head_lines

    def _python_change(self, relpath: str, base_text: str | None, text: str, lines: Sequence[str]):
        """The engine's PythonChange, with the base side's view reused across edits."""
        from mldiff.analysis.change import EMPTY, PythonChange
        from mldiff.analysis.module import ModuleView
        base_view = EMPTY
        if base_text:
            base_view = self._base_views.get(base_text)
            if base_view is None:
                base_view = ModuleView(base_text)
                self._base_views[base_text] = base_view
                while len(self._base_views) > 16:
                    self._base_views.popitem(last=False)
            else:
                self._base_views.move_to_end(base_text)
        head_view = EMPTY
        if text:
            head_view = ModuleView(text, list(lines), previous=self._head_views.pop(relpath, None))
            self._head_views[relpath] = head_view
            while len(self._head_views) > 8:
                self._head_views.popitem(last=False)
        return PythonChange(relpath, base_view, head_view)

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
