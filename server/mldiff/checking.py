"""``mldiff check`` as a function: a repository, a base and a head in, findings out.

Front ends (the CLI, the commit hook, validation summaries) call ``run_check``; each
changed file goes through ``mldiff.engine.analyze``, the one analysis entry
point. Files are read and analysed one at a time (in a pool of processes for large
changes), and only findings travel back, so memory stays flat on a 10,000-file diff.
A file that cannot be read or parsed becomes an ``errors`` entry or a note; it never
stops the others. The repository's other files, at the base and the head, are what the
engine may ask about where the changed file's own text cannot say what a function is for
(``project_files``).
"""
from __future__ import annotations

import os
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import AbstractSet, Any, Callable, Iterator, Mapping, Sequence

from mldiff import config
from mldiff.config import Settings
from mldiff.errors import ConfigError, GitError
from mldiff.findings import SEVERITY_RANK, FileError, FileResult, Finding
from mldiff.config import INDEX, WORKTREE, parse_base
from mldiff.gitview import FileChange, RepoView
from mldiff.project_files import RepoProject, project_for
from mldiff.textdecode import UnreadableFile

# Progress: (files done, files to analyse, path just finished). Called once with (0, total, "")
# before the first file.
Progress = Callable[[int, int, str], None]

PARALLEL_MIN_FILES = 20  # below this, starting worker processes costs more than it saves


@dataclass
class CheckResult:
    base: str                               # full sha
    head: str                               # "worktree" | "index" | full sha
    findings: list[Finding] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files_changed: int = 0                  # paths git reports as changed (after PATH limits)
    files_analysed: int = 0                 # of those, files mldiff read and analysed (Python, configs, ...)

    def to_json(self) -> dict[str, Any]:
        """The ``mldiff check --format json`` object of DESIGN.md."""
        return {
            "version": 1,
            "base": self.base,
            "head": self.head,
            "findings": [finding.to_json() for finding in self.findings],
            "errors": [error.to_json() for error in self.errors],
        }


def run_check(repo: str | os.PathLike[str] | RepoView | None = None, base: str | None = None,
              head: str | None = None, merge_base: bool = False, paths: Sequence[str] = (),
              settings: Settings | Mapping[str, Any] | None = None, progress: Progress | None = None,
              *, jobs: int | None = None) -> CheckResult:
    """Findings for the change from ``base`` to ``head`` in the repository containing ``repo``.

    ``base``: a revision (default ``[tool.mldiff] base``, else ``HEAD``); ``merge_base``
    compares with the merge base of base and head instead. ``head``: None or
    ``"worktree"`` (tracked changes plus untracked files), ``"index"`` (staged), or a
    revision. ``paths``: absolute, or relative to the repository root. ``settings``: a
    ``Settings`` is used as given; a mapping overrides ``[tool.mldiff]`` (CLI flags win).
    ``jobs``: worker processes (default: every core; 1 runs serially).
    """
    if isinstance(repo, RepoView):
        return _check(repo, base, head, merge_base, paths, settings, progress, jobs)
    view = RepoView.discover(repo)
    try:
        return _check(view, base, head, merge_base, paths, settings, progress, jobs)
    finally:
        view.close()


def _check(view: RepoView, base: str | None, head: str | None, merge_base: bool, paths: Sequence[str],
           settings: Settings | Mapping[str, Any] | None, progress: Progress | None,
           jobs: int | None) -> CheckResult:
    head_kind = _head(view, head)
    settings = settings_for(view, settings, head_kind)
    parsed = parse_base(base or settings.base)
    base_rev, merge_base = parsed.revision, merge_base or parsed.merge_base
    if base_rev in (INDEX, WORKTREE):
        raise ConfigError(f"base {base_rev!r} is for the editor; mldiff check compares with a revision "
                          f"(pass --base REV)")
    base_sha = view.resolve(base_rev)
    if merge_base:
        base_sha = view.merge_base(base_sha, head_kind if head_kind not in (INDEX, WORKTREE) else "HEAD")
    pathspecs = [view.relative_path(p) if os.path.isabs(p) else p for p in paths]
    changes = view.changed_files(base_sha, head_kind, pathspecs)
    result = CheckResult(base_sha, head_kind, files_changed=len(changes))
    work = select_changes(changes, settings, result.notes, explicit=set(pathspecs))
    for file_result, read in _analyse_all(view, work, settings, progress, jobs):
        result.files_analysed += read
        result.findings.extend(file_result.findings)
        result.errors.extend(file_result.errors)
        result.notes.extend(file_result.notes)
    result.findings.sort(key=lambda f: (f.path, f.span.line, f.span.column, SEVERITY_RANK[f.severity], f.code))
    result.errors.sort(key=lambda e: (e.path, e.line or 0))
    result.notes.sort()
    return result




def _analyse(view: RepoView, change: FileChange, settings: Settings) -> tuple[FileResult, bool]:
    """The file's result, and whether both sides could be read (for the summary's count)."""
    from mldiff.engine import analyze
    texts = []
    for side, read in (("base", view.read_base), ("head", view.read_head)):
        try:
            texts.append(read(change))
        except UnreadableFile as exc:
            result = FileResult(change.path)
            if exc.note_only:
                result.notes.append(str(exc))
            else:
                result.errors.append(FileError(change.path, f"{side} side: {exc.reason}"))
            return result, False
        except GitError as exc:
            return FileResult(change.path, errors=[FileError(change.path, f"{side} side: {exc}",
                                                             object_id=getattr(exc, "object_id", None))]), False
    try:
        return analyze(change.path, texts[0], texts[1], settings, project=_project(view, change)), True
    except Exception as exc:  # a bug in mldiff must not hide the other files' findings
        return FileResult(change.path, errors=[FileError(
            change.path, f"internal error: {exc.__class__.__name__}: {exc}")]), True


# the projects of the last few (base, head) pairs, per repository view: a check has one, a history
# walk one per commit (its files are analysed together)
_PROJECTS: "weakref.WeakKeyDictionary[RepoView, OrderedDict[tuple[str, str], RepoProject | None]]" = \
    weakref.WeakKeyDictionary()


def _project(view: RepoView, change: FileChange) -> RepoProject | None:
    """Where the repository's other files are read for ``change`` (``project_files``)."""
    projects = _PROJECTS.setdefault(view, OrderedDict())
    key = (change.base, change.head)
    if key not in projects:
        projects[key] = project_for(view, change.base, change.head)
        if len(projects) > 4:
            projects.popitem(last=False)
    projects.move_to_end(key)
    return projects[key]


def _head(view: RepoView, head: str | None) -> str:
    if head in (None, "", WORKTREE):
        if view.root is None:
            raise GitError(f"{view.git_dir} is a bare repository: there is no working tree to check; "
                           f"pass --head REV")
        return WORKTREE
    if head in (INDEX, "staged"):
        if view.root is None:
            raise GitError(f"{view.git_dir} is a bare repository: there is no index to check; pass --head REV")
        return INDEX
    return view.resolve(head)


def settings_for(view: RepoView, settings: Settings | Mapping[str, Any] | None, head: str) -> Settings:
    """The settings to analyse with: a ``Settings`` as given, else ``[tool.mldiff]`` (from the
    working tree, or from ``head``'s pyproject.toml in a bare repository) overridden by a mapping."""
    if isinstance(settings, Settings):
        return settings
    if view.root is not None:
        from_file = config.load(view.root)
    else:  # a bare repository: the settings the head commit carries
        text = view.blob_text(head, "pyproject.toml") if head not in (INDEX, WORKTREE) else None
        from_file = config.loads(text) if text else Settings()
    return from_file.merged(**dict(settings or {}))


def select_changes(changes: list[FileChange], settings: Settings, notes: list[str],
                   explicit: AbstractSet[str] = frozenset()) -> list[FileChange]:
    """The changes mldiff reads: a kind it understands, inside include/exclude, readable.
    A file named explicitly on the command line escapes the default excludes (tests)."""
    from mldiff.analysis.filekinds import file_kind
    work = []
    for change in changes:
        if not settings.includes(change.path, explicit=change.path in explicit):
            continue
        known = file_kind(change.path) is not None or (
            change.old_path is not None and file_kind(change.old_path) is not None)
        if change.submodule or (known and change.skip_reason):
            notes.append(f"{change.path}: {change.skip_reason}")
        elif known:
            work.append(change)
    return work


def _analyse_all(view: RepoView, work: list[FileChange], settings: Settings, progress: Progress | None,
                 jobs: int | None) -> Iterator[tuple[FileResult, bool]]:
    total = len(work)
    if progress:
        progress(0, total, "")
    for done, (_, (file_result, read)) in enumerate(analyse_many(view, work, settings, jobs), start=1):
        if progress:
            progress(done, total, file_result.path)
        yield file_result, read


def analyse_many(view: RepoView, work: Sequence[FileChange], settings: Settings,
                 jobs: int | None = None) -> Iterator[tuple[int, tuple[FileResult, bool]]]:
    """``(index into work, (result, read))`` for every change: serially for a few files, else
    in one worker process per core (``jobs``: at most that many). Results come as they
    finish, largest files started first (``mldiff log`` uses ``Analyser`` instead)."""
    workers = min(jobs or _cpu_count(), len(work))
    if workers <= 1 or len(work) <= PARALLEL_MIN_FILES:
        for index, change in enumerate(work):
            yield index, _analyse(view, change, settings)
        return
    # Largest first: one big model file started last would leave the other cores idle.
    sizes = [view.size_hint(change) for change in work]
    order = sorted(range(len(work)), key=sizes.__getitem__, reverse=True)
    yield from _in_pool(view, [(index, work[index]) for index in order], settings, workers)


def _in_pool(view: RepoView, items: list[tuple[int, FileChange]], settings: Settings,
             workers: int) -> Iterator[tuple[int, tuple[FileResult, bool]]]:
    """Analyse in worker processes. ``spawn``: forking a process that holds git reader
    pipes (or an LSP server's threads) is not safe."""
    import multiprocessing
    context = multiprocessing.get_context("spawn")
    args = (str(view.git_dir), str(view.root) if view.root else None, view.is_bare, str(view.common_dir),
            settings)
    with context.Pool(workers, initializer=_worker_start, initargs=args) as pool:
        yield from pool.imap_unordered(_worker_analyse, items, chunksize=1)


class Analyser:
    """Analyses batches of changes for a long walk (``mldiff log``): in one worker process
    per core (``jobs``: at most that many), started once and kept across batches, or in
    this process. Each worker reads its own blobs, and a batch is a run of one file's
    versions, so a worker re-uses the parse of the text one version shares with the next."""

    def __init__(self, view: RepoView, settings: Settings, jobs: int | None = None) -> None:
        self.view, self.settings = view, settings
        self.workers = jobs or _cpu_count()
        self._pool: Any = None   # a multiprocessing Pool once the first big batch comes

    def run(self, batches: list[list[FileChange]]) -> Iterator[tuple[int, list[tuple[FileResult, bool]]]]:
        """``(index into batches, [(result, read), ...])`` as each batch finishes."""
        if self._pool is None and (self.workers <= 1 or sum(map(len, batches)) <= PARALLEL_MIN_FILES):
            for index, batch in enumerate(batches):
                yield index, [_analyse(self.view, change, self.settings) for change in batch]
            return
        if self._pool is None:
            import multiprocessing
            view = self.view
            self._pool = multiprocessing.get_context("spawn").Pool(
                self.workers, initializer=_worker_start,
                initargs=(str(view.git_dir), str(view.root) if view.root else None, view.is_bare,
                          str(view.common_dir), self.settings))
        yield from self._pool.imap_unordered(_worker_analyse_batch, enumerate(batches), chunksize=1)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None


_worker: tuple[RepoView, Settings] | None = None


def _worker_start(git_dir: str, root: str | None, is_bare: bool, common_dir: str, settings: Settings) -> None:
    import signal
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the pool
    _worker = (RepoView(Path(git_dir), Path(root) if root else None, is_bare=is_bare,
                        common_dir=Path(common_dir)), settings)


def _worker_analyse(item: tuple[int, FileChange]) -> tuple[int, tuple[FileResult, bool]]:
    assert _worker is not None
    view, settings = _worker
    index, change = item
    return index, _analyse(view, change, settings)


def _worker_analyse_batch(item: tuple[int, list[FileChange]]) -> tuple[int, list[tuple[FileResult, bool]]]:
    assert _worker is not None
    view, settings = _worker
    index, batch = item
    return index, [_analyse(view, change, settings) for change in batch]


def _cpu_count() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)
