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

from mldiff.checking import CheckResult, analyse_many, select_changes
from mldiff.commit_cache import CachedFile, CommitCache
from mldiff.config import Settings
from mldiff.errors import MldiffError
from mldiff.families import FAMILIES
from mldiff.findings import SEVERITY_RANK, FileError, Finding
from mldiff.gitview import FileChange, RepoView, parse_raw

_GLOB = re.compile(r"[*?[]")   # a PATH with these is a glob (as in git's pathspecs)

# (commits done, commits walked so far, commits analysed so far): for a progress line.
Progress = Callable[[int, int, int], None]

_HEADER = b"\x01"
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
    changes against its first parent, from one streaming ``git log`` process."""
    args = ["log", *_LOG_OPTIONS, _FORMAT]
    if first_parent:
        args.append("--first-parent")
    if max_count is not None:
        args.append(f"--max-count={max(0, max_count)}")
    args += [*revisions, "--"]
    header: list[bytes] | None = None
    raw: list[bytes] = []
    seen_last = None
    pending = b""
    expect_paths = 0
    short = 0
    for chunk in view.stream(*args):
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
                    yield _commit(header, raw, short)
                    seen_last = header[0]
                header, raw = [item[1:]], []
                # --no-abbrev (for full blob ids) also lengthens %h: ask git once how long it abbreviates.
                short = short or _abbrev_length(view, header[0].decode())
            elif item.startswith(b":"):
                raw.append(item)
                status = item.rsplit(b" ", 1)[-1][:1]
                expect_paths = 2 if status in (b"R", b"C") else 1
    if header is not None and header[0] != seen_last:
        yield _commit(header, raw, short)


def _abbrev_length(view: RepoView, sha: str) -> int:
    try:
        return len(b"".join(view.stream("rev-parse", "--short", sha)).strip()) or 7
    except MldiffError:
        return 7


def _commit(header: list[bytes], raw: list[bytes], short: int) -> Commit:
    sha, parents, date, subject = (part.decode("utf-8", "replace") for part in header[:4])
    # Paths are bytes on disk: decode them the way the rest of the git layer does.
    changes = parse_raw("\0".join(os.fsdecode(item) for item in raw), sha) if raw else []
    return Commit(sha, sha[:short], tuple(parents.split()), date, subject,
                  tuple(sorted(changes, key=lambda c: c.path)))


def commit_findings(view: RepoView, commits: Iterable[Commit], settings: Settings, wanted: Filter,
                    cache: CommitCache, stats: Stats, *, jobs: int | None = None,
                    progress: Progress | None = None) -> Iterator[CommitFindings]:
    """Each commit's findings (filtered by ``wanted``), in order: from the cache where it has
    them, else analysed (in parallel for long walks) and stored."""
    # Every rule runs and the filters apply afterwards, so any --select/--family shares entries.
    analysis_settings = replace(settings, select=(), ignore=())
    planned: list[tuple[Commit, list[FileChange], dict[str, CachedFile], list[str]]] = []
    work: list[FileChange] = []
    for commit in commits:
        stats.walked += 1
        notes: list[str] = []
        changes = select_changes([c for c in commit.changes if wanted.path_wanted(c.path)], analysis_settings,
                                 notes, explicit=set(wanted.paths))
        cached: dict[str, CachedFile] = {}
        missing: list[FileChange] = []
        if changes:
            stats.to_analyse += 1
            cached = cache.get(commit.sha) or {}
            missing = [c for c in changes if c.path not in cached]
            if missing:
                stats.analysed += 1
                work.extend(missing)
            else:
                stats.from_cache += 1
        planned.append((commit, missing, cached, notes))
    results = analyse_many(view, work, analysis_settings, jobs, in_order=True)
    done = 0
    for commit, missing, cached, notes in planned:
        fresh: dict[str, CachedFile] = {}
        for _ in missing:
            _, (file_result, read) = next(results)
            fresh[file_result.path] = CachedFile(file_result, read)
            stats.files_analysed += 1
        if fresh:
            cache.put(commit.sha, {**cached, **fresh})
        done += 1
        if progress:
            progress(done, stats.walked, stats.analysed)
        yield _filtered(commit, {**cached, **fresh}, notes, wanted)
    if cache.writes:
        cache.prune()


def _filtered(commit: Commit, files: dict[str, CachedFile], notes: list[str], wanted: Filter) -> CommitFindings:
    out = CommitFindings(commit, notes=list(notes),
                         files_changed=sum(1 for c in commit.changes if wanted.path_wanted(c.path)))
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
