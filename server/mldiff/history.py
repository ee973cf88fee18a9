"""ML-semantic history: the findings each commit introduced, for ``mldiff log`` and ``mldiff show``.

One ``git log --raw -z`` process lists every walked commit with its changed files and
blob ids (against the first parent; a root commit against the empty tree), blobs come
through the view's one ``cat-file`` reader, and every file goes through
``checking``'s analysis, so a commit gets the same findings as ``mldiff check --base
C^ --head C``. Results are cached per commit (``commit_cache``): a second walk reads
them instead of parsing. Commits that change no file mldiff reads cost nothing.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from typing import Any, Callable, Iterable, Iterator, Sequence

from mldiff.checking import Analyser, CheckResult, select_changes
from mldiff.commit_cache import CachedFile, CommitCache
from mldiff.config import Settings
from mldiff.errors import GitError, MissingObject, MldiffError
from mldiff.families import FAMILIES
from mldiff.findings import SEVERITY_RANK, FileError, Finding
from mldiff.gitview import FileChange, RepoView, parse_raw

_GLOB = re.compile(r"[*?[]")   # a PATH with these is a glob (as in git's pathspecs)

# (commits done, commits walked so far, commits analysed so far): for a progress line.
Progress = Callable[[int, int, int], None]

_HEADER = b"\x01"
_UNREADABLE = re.compile(r"unable to read ([0-9a-f]{40}(?:[0-9a-f]{24})?)")
# sha, parents, author date (strict ISO 8601), subject
_FORMAT = "--format=%x01%H%x00%P%x00%aI%x00%s"
_LOG_OPTIONS = ("--raw", "-z", "--no-abbrev", "-M", "-m", "--root", "--no-color", "--no-ext-diff",
                "--no-textconv", "--no-relative", "--no-show-signature", "--no-mailmap", "--encoding=UTF-8")


@dataclass(frozen=True)
class Commit:
    sha: str
    short: str
    parents: tuple[str, ...]
    date: str                            # author date, ISO 8601 with offset
    subject: str
    changes: tuple[FileChange, ...]      # against the first parent (the empty tree for a root commit)
    # (object id, why): git could not read that object, so the changes are listed without renames
    unreadable: tuple[str, str] | None = None

    @property
    def base(self) -> str:
        """What the commit is compared with: its first parent, else the empty tree."""
        if self.parents:
            return self.parents[0]
        digest = hashlib.sha256 if len(self.sha) == 64 else hashlib.sha1
        return digest(b"tree 0\0").hexdigest()


@dataclass
class CommitFindings:
    """What one commit introduced, already filtered by families, select/ignore and PATHs."""

    commit: Commit
    findings: list[Finding] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files_changed: int = 0
    files_analysed: int = 0
    from_cache: bool = False

    def to_json(self) -> dict[str, Any]:
        """One line of ``mldiff log --format json`` (JSON Lines)."""
        return {
            "commit": self.commit.sha,
            "short": self.commit.short,
            "parents": list(self.commit.parents),
            "date": self.commit.date,
            "subject": self.commit.subject,
            "findings": [finding.to_json() for finding in self.findings],
            "errors": [error.to_json() for error in self.errors],
        }

    @property
    def unreadable(self) -> list[FileError]:
        """What could not be read (objects missing from the repository): never left silent."""
        return [error for error in self.errors if error.object_id]

    def check_result(self) -> CheckResult:
        """As ``mldiff check --base PARENT --head COMMIT`` would report it (for the formats)."""
        return CheckResult(self.commit.base, self.commit.sha, self.findings, self.errors, self.notes,
                           self.files_changed, self.files_analysed)


@dataclass
class Stats:
    """What a walk did, for ``--stats`` and for tests that must see the cache work."""

    walked: int = 0            # commits listed by git
    to_analyse: int = 0        # of those, commits that change a file mldiff reads (within PATHs)
    from_cache: int = 0        # ... answered entirely from the cache
    analysed: int = 0          # ... that needed analysis (some or all files)
    files_analysed: int = 0    # files analysed (not from the cache)

    def line(self) -> str:
        return (f"mldiff: {self.walked} commits walked, {self.to_analyse} change files mldiff reads: "
                f"{self.from_cache} from the cache, {self.analysed} analysed ({self.files_analysed} files)")


@dataclass(frozen=True)
class Filter:
    """Which findings are shown: ``settings.select``/``ignore``, ``--family``, PATHs."""

    settings: Settings
    families: frozenset[str] = frozenset()
    paths: tuple[str, ...] = ()

    def path_wanted(self, path: str) -> bool:
        """A file, a directory, or a glob as git's pathspecs have them (``'*.ipynb'``: a
        ``*`` also matches across ``/``, so notebooks anywhere)."""
        return not self.paths or any(spec == "" or path == spec or path.startswith(spec + "/")
                                     or (_GLOB.search(spec) is not None and fnmatchcase(path, spec))
                                     for spec in self.paths)

    def finding_wanted(self, finding: Finding) -> bool:
        return ((not self.families or finding.family in self.families)
                and self.settings.enabled(finding.code, finding.family))


def check_families(families: Iterable[str]) -> frozenset[str]:
    """``--family`` values (repeated or comma-separated), each a known family."""
    names = frozenset(part.strip() for value in families for part in value.split(",") if part.strip())
    for name in sorted(names):
        if name not in FAMILIES:
            raise MldiffError(f"--family: {name!r} is not a family ({', '.join(FAMILIES)})")
    return names


def revision_arguments(view: RepoView, rev_range: str | None) -> list[str]:
    """``git log`` revision arguments for ``REV``, ``A..B`` or ``A...B``, each side verified
    (``A..`` and ``..B`` mean HEAD on the empty side, as in git)."""
    text = (rev_range or "HEAD").strip()
    for operator in ("...", ".."):
        if operator in text:
            left, right = text.split(operator, 1)
            left_sha, right_sha = view.resolve(left or "HEAD"), view.resolve(right or "HEAD")
            if operator == "..":
                return [right_sha, "^" + left_sha]
            return [f"{left_sha}...{right_sha}"]
    return [view.resolve(text)]


def walk(view: RepoView, revisions: Sequence[str], *, max_count: int | None = None,
         first_parent: bool = True) -> Iterator[Commit]:
    """The commits of ``revisions`` (from ``revision_arguments``), newest first, each with its
    changes against its first parent, from one streaming ``git log`` process.

    An object git cannot read (a partial or damaged clone) makes ``git log -M`` stop where
    rename detection needs it: the walk then goes on from the next commit, and the commit
    git could not diff is listed without renames and carries ``unreadable``."""
    options = ["--first-parent"] if first_parent else []
    traversal = [*options, *([f"--max-count={max(0, max_count)}"] if max_count is not None else []),
                 *revisions, "--"]
    short = _Short(view)
    last = None
    try:
        for commit in _listed(view, traversal, short):
            last = commit.sha
            yield commit
        return
    except MissingObject:
        pass
    order = view.stream("rev-list", *traversal)  # what git log walks, in its order (no diffs)
    shas = b"".join(order).decode().split()
    yield from _resume(view, options, shas[shas.index(last) + 1:] if last else shas, short)


def _resume(view: RepoView, options: list[str], shas: list[str], short: _Short) -> Iterator[Commit]:
    """The listed commits, in order, after a walk stopped at an unreadable object. A stream
    that lists some commits before it stops blames nobody (the last one may be a merge whose
    other parents git was diffing); one that stops at once blames its first commit."""
    while shas:
        listed = 0
        try:
            for commit in _listed(view, [*options, "--no-walk=unsorted", "--stdin", "--"], short,
                                  input="\n".join(shas).encode() + b"\n"):
                listed += 1
                yield commit
            return
        except MissingObject as exc:
            missing = exc
        shas = shas[listed:]
        if listed:
            continue
        blamed, shas = shas[0], shas[1:]
        try:
            commits = list(_listed(view, [*options, "--no-renames", "--no-walk", blamed, "--"], short))
        except MissingObject:  # not even its tree: listed with no changes
            commits = list(_listed(view, [*options, "--no-patch", "--no-walk", blamed, "--"], short))
        reason = f"object {missing.object_id} cannot be read (a partial or damaged clone?)"
        for commit in commits:
            yield replace(commit, unreadable=(missing.object_id, reason))


def _listed(view: RepoView, args: list[str], short: _Short, input: bytes | None = None) -> Iterator[Commit]:
    """Parse one ``git log --raw -z`` stream. When git stops on an unreadable object, every
    commit it printed in full is yielded first, then ``MissingObject`` is raised."""
    header: list[bytes] | None = None
    raw: list[bytes] = []
    seen_last = None
    pending = b""
    expect_paths = 0
    stream = view.stream("log", *_LOG_OPTIONS, _FORMAT, *args, input=input)
    failure: tuple[GitError, str] | None = None   # the error, and the object it could not read
    try:
        for chunk in stream:
            fields = (pending + chunk).split(b"\0")
            pending = fields.pop()
            for item in fields:
                if header is not None and len(header) < 4:
                    header.append(item)
                    continue
                if expect_paths:
                    raw.append(item)
                    expect_paths -= 1
                    continue
                item = item.lstrip(b"\n")
                if item.startswith(_HEADER):
                    if header is not None and header[0] != seen_last:
                        yield _commit(header, raw, short.of(header[0].decode()))
                        seen_last = header[0]
                    header, raw = [item[1:]], []
                elif item.startswith(b":"):
                    raw.append(item)
                    status = item.rsplit(b" ", 1)[-1][:1]
                    expect_paths = 2 if status in (b"R", b"C") else 1
    except GitError as exc:
        unread = _UNREADABLE.search(str(exc))
        if unread is None:
            raise
        failure = exc, unread.group(1)
    if header is not None and header[0] != seen_last and len(header) == 4 and not expect_paths:
        yield _commit(header, raw, short.of(header[0].decode()))
    if failure is not None:
        raise MissingObject(str(failure[0]), failure[1]) from None


class _Short:
    """How long git abbreviates a sha here: --no-abbrev (for full blob ids) also lengthens
    %h, so git is asked once."""

    def __init__(self, view: RepoView) -> None:
        self.view, self.length = view, 0

    def of(self, sha: str) -> int:
        self.length = self.length or _abbrev_length(self.view, sha)
        return self.length


def _abbrev_length(view: RepoView, sha: str) -> int:
    try:
        return len(b"".join(view.stream("rev-parse", "--short", sha)).strip()) or 7
    except MldiffError:
        return 7


def _commit(header: list[bytes], raw: list[bytes], short: int) -> Commit:
    sha, parents, date, subject = (part.decode("utf-8", "replace") for part in header[:4])
    # Paths are bytes on disk: decode them the way the rest of the git layer does.
    first_parent = parents.split()[0] if parents.split() else ""
    changes = parse_raw("\0".join(os.fsdecode(item) for item in raw), sha, first_parent) if raw else []
    return Commit(sha, sha[:short], tuple(parents.split()), date, subject,
                  tuple(sorted(changes, key=lambda c: c.path)))


def commit_findings(view: RepoView, commits: Iterable[Commit], settings: Settings, wanted: Filter,
                    cache: CommitCache, stats: Stats, *, jobs: int | None = None,
                    progress: Progress | None = None) -> Iterator[CommitFindings]:
    """Each commit's findings (filtered by ``wanted``), in order: from the cache where it has
    them, else analysed (in parallel for long walks) and stored.

    The walk goes in windows of about ``WINDOW_FILES`` files: within one, each file's
    versions are analysed together (newest first, in runs of ``RUN_FILES``) and a commit is
    stored in the cache as soon as its last file is done, so an interrupted walk keeps what it
    finished and the next one starts there."""
    # Every rule runs and the filters apply afterwards, so any --select/--family shares entries.
    analysis_settings = replace(settings, select=(), ignore=())
    analyser = Analyser(view, analysis_settings, jobs)
    done = 0
    try:
        for window in _windows(commits, analysis_settings, wanted, cache, stats):
            for commit, files, notes in _analysed(analyser, window, cache, stats):
                done += 1
                if progress:
                    progress(done, stats.walked, stats.analysed)
                yield _filtered(commit, files, notes, wanted)
    finally:
        analyser.close()
    if cache.writes:
        cache.prune()


WINDOW_FILES = 512  # files planned at a time: bounds memory and the wait for a window's last run
RUN_FILES = 16      # versions of one file analysed together (so long runs still spread over workers)


@dataclass
class _Planned:
    commit: Commit
    missing: list[FileChange]            # files to analyse (not in the cache)
    files: dict[str, CachedFile]         # the cache's, then the fresh ones
    notes: list[str]
    left: int = 0                        # files of ``missing`` not done yet


def _windows(commits: Iterable[Commit], settings: Settings, wanted: Filter, cache: CommitCache,
             stats: Stats) -> Iterator[list[_Planned]]:
    window: list[_Planned] = []
    files = 0
    for commit in commits:
        stats.walked += 1
        notes: list[str] = []
        changes = select_changes([c for c in commit.changes if wanted.path_wanted(c.path)], settings,
                                 notes, explicit=set(wanted.paths))
        cached: dict[str, CachedFile] = {}
        missing: list[FileChange] = []
        if changes:
            stats.to_analyse += 1
            cached = cache.get(commit.sha) or {} if commit.unreadable is None else {}
            missing = [c for c in changes if c.path not in cached]
            if missing:
                stats.analysed += 1
            else:
                stats.from_cache += 1
        window.append(_Planned(commit, missing, dict(cached), notes, len(missing)))
        files += len(missing)
        if files >= WINDOW_FILES:
            yield window
            window, files = [], 0
    if window:
        yield window


def _analysed(analyser: Analyser, window: list[_Planned], cache: CommitCache,
              stats: Stats) -> Iterator[tuple[Commit, dict[str, CachedFile], list[str]]]:
    """The window's commits in order, each once all its files are analysed."""
    by_path: dict[str, list[tuple[int, FileChange]]] = {}
    for position, planned in enumerate(window):
        for change in planned.missing:
            by_path.setdefault(change.path, []).append((position, change))
    runs = [versions[i:i + RUN_FILES] for versions in by_path.values() for i in range(0, len(versions), RUN_FILES)]
    runs.sort(key=lambda run: run[0][0])  # the newest commits' files first: output starts early
    following = 0

    def finished() -> Iterator[tuple[Commit, dict[str, CachedFile], list[str]]]:
        nonlocal following
        while following < len(window) and window[following].left == 0:
            planned = window[following]
            following += 1
            yield planned.commit, planned.files, planned.notes

    yield from finished()
    for index, results in analyser.run([[change for _, change in run] for run in runs]):
        for (position, _), (file_result, read) in zip(runs[index], results):
            planned = window[position]
            planned.files[file_result.path] = CachedFile(file_result, read)
            stats.files_analysed += 1
            planned.left -= 1
            if planned.left == 0:
                _store(cache, planned)
        yield from finished()


def _store(cache: CommitCache, planned: _Planned) -> None:
    """Cache what will read the same next time: not a commit whose renames git could not
    follow, nor a file with an unreadable object (it may be fetched)."""
    if planned.commit.unreadable is not None:
        return
    kept = {path: item for path, item in planned.files.items()
            if not any(error.object_id for error in item.result.errors)}
    if any(path not in kept for path in planned.files) and not kept:
        return
    cache.put(planned.commit.sha, kept)


def _filtered(commit: Commit, files: dict[str, CachedFile], notes: list[str], wanted: Filter) -> CommitFindings:
    out = CommitFindings(commit, notes=list(notes),
                         files_changed=sum(1 for c in commit.changes if wanted.path_wanted(c.path)))
    if commit.unreadable is not None:
        object_id, reason = commit.unreadable
        paths = [c.path for c in commit.changes if object_id in (c.base_blob, c.head_blob)] or [""]
        out.errors.extend(FileError(path, f"renames not followed in this commit: {reason}", object_id=object_id)
                          for path in paths if wanted.path_wanted(path) or not path)
    for path in sorted(files):
        if not wanted.path_wanted(path):
            continue
        item = files[path]
        out.files_analysed += item.read
        out.findings.extend(f for f in item.result.findings if wanted.finding_wanted(f))
        out.errors.extend(item.result.errors)
        out.notes.extend(item.result.notes)
    out.findings.sort(key=lambda f: (f.path, f.span.line, f.span.column, SEVERITY_RANK[f.severity], f.code))
    return out
