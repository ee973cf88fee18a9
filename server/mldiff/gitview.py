"""The git layer: which files changed between a base and a head, and their texts.

Read-only by construction. Every git process runs with ``GIT_OPTIONAL_LOCKS=0`` (so
even ``git diff`` never refreshes the index), literal pathspecs, user paths after
``--`` and revisions verified with ``rev-parse --verify --end-of-options`` first, so a
file named ``--output=x`` or a base like ``--upload-pack=...`` stays data. Blob
contents come through GitPython's persistent ``cat-file`` reader and are cached by
blob id, so the language server re-reads a base only when it really changed.

Heads: ``"worktree"`` (tracked changes plus untracked files git does not ignore),
``"index"`` (staged), or a commit sha (also in a bare repository).
"""
from __future__ import annotations

import hashlib
import os
import posixpath
import re
import shutil
import stat
import subprocess
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Iterator, Sequence, cast

from mldiff.config import INDEX, WORKTREE
from mldiff.errors import GitError, MissingObject, NoCommitsYet
from mldiff.textdecode import FileTooLarge, UnreadableFile, decode_source

if TYPE_CHECKING:
    from io import BufferedReader

    from git.cmd import Git

MAX_FILE_BYTES = 5_000_000  # matches mldiff.engine.MAX_BYTES: larger files get a note
MAX_NOTEBOOK_BYTES = 100_000_000  # matches mldiff.analysis.filekinds: a notebook's outputs are not read

EMPTY_REPOSITORY = ("repository has no commits yet: nothing to compare against; "
                    "commit once or pass --base")
SHALLOW_HINT = "fetch more history: git fetch --deepen=N or --unshallow"
NO_GIT = "git is not installed or not on PATH"
SUBMODULE_SKIPPED = "submodule or nested repository, not analysed"
SYMLINK_SKIPPED = "symbolic link, skipped"
UNMERGED_SKIPPED = "unmerged (merge conflict) in the index, skipped"

SUBMODULE_MODE = "160000"
SYMLINK_MODE = "120000"
_NULL_ID = re.compile(r"0+$")
_HEX_ID = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?$")

# Variables a calling git (a hook, an alias) may have set for *its* repository: mldiff
# names its repository explicitly instead.
_INHERITED_REPO_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_PREFIX", "GIT_INDEX_FILE",
                       "GIT_NAMESPACE", "GIT_EXTERNAL_DIFF", "GIT_DIFF_OPTS")
_RENAME_MIN_SIMILARITY = 0.5       # git's default -M50%
_RENAME_MAX_PAIRS = 10_000          # like diff.renameLimit: give up pairing beyond this
_RENAME_MAX_BYTES = 1_000_000


class SkippedEntry(UnreadableFile):
    """A tree entry that is not a file's text (submodule, symlink, unmerged): a note."""

    note_only = True


@dataclass(frozen=True)
class FileChange:
    """One changed path. ``path`` is the head-side path (the base-side path for a deletion);
    ``old_path`` the base-side path of a rename. Blob ids are None where that side does
    not exist, and ``head_blob`` is None for working-tree files (read from disk)."""

    status: str                 # "added" | "modified" | "deleted" | "renamed"
    path: str
    head: str                   # "worktree" | "index" | commit sha: where read_head looks
    old_path: str | None = None
    base_blob: str | None = None
    head_blob: str | None = None
    base_mode: str | None = None
    head_mode: str | None = None
    similarity: int | None = None  # percent, for renames
    untracked: bool = False
    unmerged: bool = False
    base: str = ""              # the base commit's sha where known: the project's other files are read there

    @property
    def base_path(self) -> str:
        return self.old_path or self.path

    @property
    def submodule(self) -> bool:
        return SUBMODULE_MODE in (self.base_mode, self.head_mode)

    @property
    def symlink(self) -> bool:
        return SYMLINK_MODE in (self.base_mode, self.head_mode)

    @property
    def skip_reason(self) -> str | None:
        """Why this change is not read at all (a note for the user), or None."""
        if self.submodule:
            return SUBMODULE_SKIPPED
        if self.symlink:
            return SYMLINK_SKIPPED
        if self.unmerged and self.head == INDEX:
            return UNMERGED_SKIPPED
        return None


class RepoView:
    """One repository, read-only: resolve revisions, list changed files, read texts."""

    def __init__(self, git_dir: Path, root: Path | None, *, is_bare: bool = False,
                 common_dir: Path | None = None, git_executable: str | None = None,
                 max_file_bytes: int = MAX_FILE_BYTES) -> None:
        """Open a repository whose git dir (and work tree) are already known; ``discover``
        finds them from any path inside."""
        self.git_dir = Path(git_dir)
        self.root = Path(root) if root is not None else None
        self.is_bare = is_bare
        self.common_dir = Path(common_dir) if common_dir is not None else self.git_dir
        self.max_file_bytes = max_file_bytes
        self._git_exe = git_executable or find_git()
        self._env = _repo_env(self.git_dir, self.root, self.common_dir)
        self._cwd = str(self.root or self.git_dir)
        self._lock = threading.Lock()           # cat-file is one process: one reader at a time
        self._reader: Git | None = None         # GitPython Git, created on first blob read
        self._texts: OrderedDict[str, str] = OrderedDict()
        self._text_chars = 0
        self._entries: dict[tuple[str, str], tuple[str, str] | None] = {}
        self._object_format: str | None = None

    # -- finding the repository -------------------------------------------------------------
    @classmethod
    def discover(cls, path: str | os.PathLike | None = None) -> RepoView:
        """The innermost repository containing ``path`` (a work-tree path, a linked
        worktree, a submodule, or a bare git dir itself)."""
        git_exe = find_git()
        start = Path(path if path is not None else os.getcwd()).absolute()
        if not start.exists():
            raise GitError(f"{start}: no such file or directory")
        if not start.is_dir():
            start = start.parent
        env = {k: v for k, v in os.environ.items() if k not in _INHERITED_REPO_ENV}
        env.update(_FIXED_ENV)
        out = _discover_run(git_exe, start, env, "--absolute-git-dir", "--git-common-dir",
                            "--is-bare-repository", "--is-inside-work-tree")
        lines = out.splitlines()
        if len(lines) != 4:
            raise GitError(f"git rev-parse gave an unexpected answer in {start}")
        git_dir = Path(lines[0])
        common = Path(lines[1])
        common_dir = (common if common.is_absolute() else start / common).resolve()
        is_bare = lines[2] == "true"
        root: Path | None = None
        if lines[3] == "true":
            root = Path(_discover_run(git_exe, start, env, "--show-toplevel").strip())
        elif not is_bare and git_dir.name == ".git" and start.is_relative_to(git_dir):
            return cls.discover(git_dir.parent)  # inside a work tree's .git: that work tree
        return cls(git_dir, root, is_bare=is_bare, common_dir=common_dir, git_executable=git_exe)

    def relative_path(self, path: str | os.PathLike) -> str:
        """``path`` (absolute, or relative to the current directory) relative to the root,
        with forward slashes; GitError if it lies outside the repository."""
        if self.root is None:
            return _normalise_repo_path(os.fspath(path))
        absolute = Path(os.path.abspath(path))
        for root in (self.root, self.root.resolve()):
            try:
                relative = absolute.relative_to(root)
                return relative.as_posix() if relative.parts else ""
            except ValueError:
                pass
        try:
            return absolute.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            raise GitError(f"{path} is outside the repository {self.root}") from None

    # -- revisions ---------------------------------------------------------------------------
    def resolve(self, rev: str) -> str:
        """The full commit sha of ``rev``; GitError with a message a user can act on."""
        rev = (rev or "").strip()
        if not rev or rev.startswith("-") or any(c in rev for c in "\n\r\0"):
            # Never an option, never a second line on a batch reader.
            if not self._has_commits():
                raise NoCommitsYet(EMPTY_REPOSITORY)
            raise GitError(f"unknown revision {rev!r}: not a branch, tag or commit in this repository")
        ok, out = self._try("rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
        if ok and out.strip():
            return out.strip()
        raise self._unknown_revision(rev)

    def merge_base(self, a: str, b: str) -> str:
        """The best common ancestor of two revisions (``git diff a...b`` compares with it)."""
        a_sha, b_sha = self.resolve(a), self.resolve(b)
        ok, out = self._try("merge-base", a_sha, b_sha)
        if ok and out.strip():
            return out.strip().splitlines()[0]
        if self.is_shallow:
            raise GitError(f"no merge base of {a!r} and {b!r} in this shallow clone; {SHALLOW_HINT}")
        raise GitError(f"{a!r} and {b!r} have no common ancestor")

    @property
    def is_shallow(self) -> bool:
        return (self.common_dir / "shallow").exists()

    def _has_commits(self) -> bool:
        ok, _ = self._try("rev-parse", "--verify", "--quiet", "HEAD^{commit}")
        if ok:
            return True
        ok, out = self._try("for-each-ref", "--count=1", "--format=%(objectname)")
        return ok and bool(out.strip())

    def _unknown_revision(self, rev: str) -> GitError:
        if not self._has_commits():
            return NoCommitsYet(EMPTY_REPOSITORY)
        if rev == "HEAD":
            ok, branch = self._try("symbolic-ref", "--quiet", "--short", "HEAD")
            name = branch.strip() if ok else "HEAD"
            return NoCommitsYet(f"HEAD has no commits yet (branch {name!r} is unborn): "
                            f"commit once or pass --base")
        ok, out = self._try("rev-parse", "--verify", "--quiet", "--end-of-options", rev)
        if ok and out.strip():  # a full sha "verifies" even when the object is absent
            exists, kind = self._try("cat-file", "-t", out.strip())
            if exists and kind.strip():
                return GitError(f"{rev!r} names a {kind.strip()}, not a commit")
        if self.is_shallow:
            return GitError(f"{rev!r} is not in this shallow clone; {SHALLOW_HINT}")
        return GitError(f"unknown revision {rev!r}: not a branch, tag or commit in this repository")

    # -- changed files -----------------------------------------------------------------------
    def changed_files(self, base_sha: str, head: str = WORKTREE,
                      paths: Sequence[str] = ()) -> list[FileChange]:
        """Every path that differs between ``base_sha`` and ``head``, sorted by path.

        ``paths`` (relative to the root) limit the result; a directory means everything
        under it. Renames are followed, including a tracked file deleted in the working
        tree whose content reappears in an untracked file."""
        base_sha = self._verified(base_sha)
        pathspecs = [_normalise_repo_path(p) for p in paths]
        if any(p == "" for p in pathspecs):
            pathspecs = []  # the root itself: everything
        options = ["--no-ext-diff", "--no-textconv", "--no-color", "--no-relative", "--no-abbrev",
                   "--raw", "-z", "-M"]
        if head == WORKTREE:
            self._need_worktree("compare with the working tree")
            args = ["diff", *options, base_sha]
        elif head == INDEX:
            self._need_worktree("compare with the index")
            args = ["diff", "--cached", *options, base_sha]
        else:
            head = self._verified(head)
            args = ["diff", *options, base_sha, head]
        changes = parse_raw(self._run(*args, "--", *pathspecs), head)
        if head == WORKTREE:
            changes = self._with_untracked(changes, pathspecs)
        return sorted((replace(change, base=base_sha) for change in changes), key=lambda c: c.path)

    def _with_untracked(self, changes: list[FileChange], pathspecs: list[str]) -> list[FileChange]:
        raw = self._run("ls-files", "-z", "--others", "--exclude-standard", "--", *pathspecs)
        untracked: list[FileChange] = []
        for name in _split_z(raw):
            if name.endswith("/"):  # an untracked nested repository
                untracked.append(FileChange("added", name.rstrip("/"), WORKTREE, head_mode=SUBMODULE_MODE,
                                            untracked=True))
                continue
            mode = "100644"
            try:
                if stat.S_ISLNK(os.lstat(self._worktree_file(name)).st_mode):
                    mode = SYMLINK_MODE
            except OSError:
                continue  # vanished while we looked
            untracked.append(FileChange("added", name, WORKTREE, head_mode=mode, untracked=True))
        if not untracked:
            return changes
        deleted = [c for c in changes if c.status == "deleted" and not c.submodule and not c.symlink]
        if not deleted:
            return changes + untracked
        paired = self._pair_untracked(deleted, [u for u in untracked if u.head_mode == "100644"])
        used_old = {c.base_path for c in paired.values()}
        kept = [c for c in changes if not (c.status == "deleted" and c.path in used_old)]
        return kept + [paired.get(u.path, u) for u in untracked]

    def _pair_untracked(self, deleted: list[FileChange], untracked: list[FileChange]) -> dict[str, FileChange]:
        """Untracked path -> the change from the deleted tracked file it continues (git's
        rename detection cannot see untracked files). Same path first, then identical
        content, then the most similar text of at least 50%."""
        result: dict[str, FileChange] = {}
        left_deleted = {d.path: d for d in deleted}
        left_untracked: list[FileChange] = []
        for u in untracked:
            d = left_deleted.pop(u.path, None)
            if d is not None:
                result[u.path] = FileChange("modified", u.path, WORKTREE, base_blob=d.base_blob,
                                            base_mode=d.base_mode, head_mode=u.head_mode, untracked=True)
            else:
                left_untracked.append(u)
        if not left_deleted or not left_untracked:
            return result
        head_data: dict[str, bytes] = {}
        for u in left_untracked:
            try:
                file = self._worktree_file(u.path)
                if file.stat().st_size <= _RENAME_MAX_BYTES:
                    head_data[u.path] = file.read_bytes()
            except OSError:
                pass
        by_blob: dict[str, FileChange] = {}
        for d in left_deleted.values():
            by_blob.setdefault(d.base_blob or "", d)
        for path, data in list(head_data.items()):
            d = by_blob.get(self._blob_id(data))
            if d is not None and d.path in left_deleted:
                del left_deleted[d.path]
                del head_data[path]
                result[path] = _renamed(d, path, 100)
        if not left_deleted or not head_data or len(left_deleted) * len(head_data) > _RENAME_MAX_PAIRS:
            return result
        base_lines = {}
        for d in left_deleted.values():
            text = self._rename_text(d.base_blob)
            if text is not None:
                base_lines[d.path] = text.splitlines(keepends=True)
        import difflib  # only here: most commands never pair renames by content
        scored = []
        for path, data in head_data.items():
            if b"\0" in data[:8000]:
                continue
            head_lines = data.decode("utf-8", "replace").splitlines(keepends=True)
            for old_path, lines in base_lines.items():
                matcher = difflib.SequenceMatcher(None, lines, head_lines, autojunk=False)
                if matcher.real_quick_ratio() < _RENAME_MIN_SIMILARITY \
                        or matcher.quick_ratio() < _RENAME_MIN_SIMILARITY:
                    continue
                ratio = matcher.ratio()
                if ratio >= _RENAME_MIN_SIMILARITY:
                    same_name = posixpath.basename(path) == posixpath.basename(old_path)
                    scored.append((ratio, same_name, path, old_path))
        for ratio, _, path, old_path in sorted(scored, reverse=True):
            if path in result or old_path not in left_deleted:
                continue
            result[path] = _renamed(left_deleted.pop(old_path), path, int(ratio * 100))
        return result

    def _rename_text(self, blob_id: str | None) -> str | None:
        if not blob_id:
            return None
        try:
            return self._blob_text_by_id(blob_id, blob_id)
        except UnreadableFile:
            return None

    def _blob_id(self, data: bytes) -> str:
        """The id git would give ``data`` as a blob (without writing it)."""
        if self._object_format is None:
            ok, out = self._try("rev-parse", "--show-object-format")
            self._object_format = out.strip() if ok and out.strip() else "sha1"
        digest = hashlib.sha256 if self._object_format == "sha256" else hashlib.sha1
        return digest(b"blob %d\0" % len(data) + data).hexdigest()

    # -- texts ---------------------------------------------------------------------------------
    def read_base(self, change: FileChange) -> str | None:
        """The base-side text of ``change`` (None when the file is new)."""
        if change.base_blob is None:
            return None
        if change.skip_reason:
            raise SkippedEntry(change.base_path, change.skip_reason)
        return self._blob_text_by_id(change.base_blob, change.base_path)

    def read_head(self, change: FileChange) -> str | None:
        """The head-side text: from disk for the working tree, else from the object store."""
        if change.status == "deleted":
            return None
        if change.skip_reason:
            raise SkippedEntry(change.path, change.skip_reason)
        if change.head == WORKTREE:
            return self.worktree_text(change.path)
        if change.head_blob is None:
            return None
        return self._blob_text_by_id(change.head_blob, change.path)

    def size_hint(self, change: FileChange) -> int:
        """Bytes of the larger side, without reading it (to hand out big files first)."""
        sizes = [0]
        with self._lock:
            for blob_id in (change.base_blob, change.head_blob):
                if blob_id:
                    try:
                        sizes.append(self._object_reader().get_object_header(blob_id)[2])
                    except ValueError:
                        pass
        if change.head == WORKTREE and change.status != "deleted":
            try:
                sizes.append(os.lstat(self._worktree_file(change.path)).st_size)
            except OSError:
                pass
        return max(sizes)

    def python_files_naming(self, rev: str, word: str) -> list[str]:
        """Paths of the Python files at ``rev`` (a commit, ``"index"``, or ``"worktree"``: the
        tracked and untracked files on disk) that hold ``word`` as a whole word, sorted; empty
        when there are none or git cannot search there."""
        args = ["grep", "-l", "-z", "-I", "-w", "-F", "--full-name", "--no-color", "-e", word]
        if rev == INDEX:
            args.append("--cached")
        elif rev == WORKTREE:
            if self.root is None:
                return []
            args.append("--untracked")
        else:
            args.append(rev)
        # the one glob mldiff passes git (its pathspecs are literal everywhere else); exit 1: no file holds it
        result = run_git(self._cwd, [*args, "--", "*.py"], {**self._env, "GIT_LITERAL_PATHSPECS": "0"},
                         git_executable=self._git_exe)
        ok, out = result.returncode == 0, os.fsdecode(result.stdout)
        prefix = f"{rev}:" if rev not in (INDEX, WORKTREE) else ""
        names = (name[len(prefix):] if prefix and name.startswith(prefix) else name for name in _split_z(out))
        return sorted(name for name in names if name.endswith(".py")) if ok else []

    def worktree_text(self, path: str) -> str | None:
        """The working-tree file's text (None when it does not exist)."""
        file = self._worktree_file(path)
        try:
            info = os.lstat(file)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SkippedEntry(path, f"cannot be read ({exc.strerror})") from None
        if stat.S_ISLNK(info.st_mode):
            raise SkippedEntry(path, SYMLINK_SKIPPED)
        if stat.S_ISDIR(info.st_mode):
            raise SkippedEntry(path, "a directory now, skipped")
        if info.st_size > self._limit(path):
            raise FileTooLarge(path, info.st_size, self._limit(path))
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise SkippedEntry(path, f"cannot be read ({exc.strerror})") from None
        return decode_source(data, path)

    def blob_text(self, rev: str, path: str) -> str | None:
        """The text of ``path`` at commit ``rev`` (a sha or any revision) or in the index
        (``"index"``); None when it does not exist there."""
        path = _normalise_repo_path(path)
        entry = self._entry(rev, path)
        if entry is None:
            return None
        mode, blob_id = entry
        if mode == SUBMODULE_MODE:
            raise SkippedEntry(path, SUBMODULE_SKIPPED)
        if mode == SYMLINK_MODE:
            raise SkippedEntry(path, SYMLINK_SKIPPED)
        return self._blob_text_by_id(blob_id, path)

    def blob_id(self, rev: str, path: str) -> str | None:
        """The blob id of ``path`` at ``rev`` or in the index (the base text's cache key)."""
        entry = self._entry(rev, _normalise_repo_path(path))
        return entry[1] if entry else None

    def _entry(self, rev: str, path: str) -> tuple[str, str] | None:
        if rev == INDEX:
            self._need_worktree("read the index")
            out = self._run("ls-files", "-s", "-z", "--", path)
            found = None
            for record in _split_z(out):
                meta, _, name = record.partition("\t")
                mode, blob_id, stage = meta.split()
                if name == path:
                    if stage != "0":
                        raise SkippedEntry(path, UNMERGED_SKIPPED)
                    found = (mode, blob_id)
            return found
        sha = rev if _HEX_ID.match(rev) else self.resolve(rev)
        key = (sha, path)
        if key not in self._entries:
            out = self._run("ls-tree", "-z", "--full-tree", self._verified(sha), "--", path)
            entry = None
            for record in _split_z(out):
                meta, _, name = record.partition("\t")
                mode, kind, blob_id = meta.split()
                if name == path and kind == "blob":
                    entry = (mode, blob_id)
            if len(self._entries) > 4096:
                self._entries.clear()
            self._entries[key] = entry
        return self._entries[key]

    def _blob_text_by_id(self, blob_id: str, path: str) -> str:
        with self._lock:
            cached = self._texts.get(blob_id)
            if cached is not None:
                self._texts.move_to_end(blob_id)
                return cached
            reader = self._object_reader()
            try:
                _, kind, size = reader.get_object_header(blob_id)
                if size > self._limit(path):
                    raise FileTooLarge(path, size, self._limit(path))
                _, kind, size, data = reader.get_object_data(blob_id)
            except ValueError:
                raise MissingObject(f"{path}: object {blob_id} is missing from this repository "
                                    f"(a partial or damaged clone?)", blob_id) from None
            text = decode_source(data, path)
            self._remember(blob_id, text)
            return text

    def _limit(self, path: str) -> int:
        """The largest file read: a notebook may be larger, since its outputs are not read."""
        if path.lower().endswith(".ipynb"):
            return max(self.max_file_bytes, MAX_NOTEBOOK_BYTES)
        return self.max_file_bytes

    def _remember(self, blob_id: str, text: str) -> None:
        """Keep recent texts, bounded in total size so a 10,000-file diff stays small."""
        limit = 4 * self.max_file_bytes
        if len(text) > limit:
            return
        self._texts[blob_id] = text
        self._text_chars += len(text)
        while self._text_chars > limit or len(self._texts) > 512:
            _, old = self._texts.popitem(last=False)
            self._text_chars -= len(old)

    def _object_reader(self) -> Git:
        if self._reader is None:
            os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")  # we report a missing git ourselves
            from git.cmd import Git
            reader = Git(self._cwd)
            reader.update_environment(**{k: v for k, v in self._env.items() if os.environ.get(k) != v})
            self._reader = reader
        return self._reader

    def close(self) -> None:
        """Stop the persistent ``cat-file`` processes (they also stop with the process)."""
        with self._lock:
            if self._reader is not None:
                self._reader.clear_cache()
                self._reader = None

    # -- change detection for long-lived callers ----------------------------------------
    def state_token(self) -> tuple:
        """A cheap fingerprint of HEAD, the index and the refs: it differs after a commit,
        checkout, reset, fetch or ``git add`` made outside the editor."""
        parts: list[tuple] = []
        for file in (self.git_dir / "HEAD", self.git_dir / "index", self.common_dir / "packed-refs"):
            parts.append((file.name, *_stat_key(file)))
        try:
            head = (self.git_dir / "HEAD").read_text(errors="replace").strip()
            if head.startswith("ref: "):
                ref = head[5:]
                parts.append((ref, *_stat_key(self.common_dir / ref), *_stat_key(self.git_dir / ref)))
        except OSError:
            pass
        refs = self.common_dir / "refs"
        for directory, _, _ in os.walk(refs):
            parts.append((directory, *_stat_key(Path(directory))))
        return tuple(parts)

    # -- running git ---------------------------------------------------------------------------
    def _run(self, *args: str) -> str:
        ok, out, err = self._call(args)
        if not ok:
            raise GitError(_git_message(args, err))
        return out

    def stream(self, *args: str, input: bytes | None = None, chunk_size: int = 1 << 16) -> Iterator[bytes]:
        """Run git and yield its stdout in chunks as it comes (``git log`` over a long
        history), with the same environment and options as every other call; GitError
        when it fails. ``input``: git's stdin (``--stdin`` revisions), else nothing.
        Closing the generator early stops git."""
        try:
            process = subprocess.Popen([self._git_exe, *_GIT_OPTIONS, *args], cwd=self._cwd, env=self._env,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       stdin=subprocess.DEVNULL if input is None else subprocess.PIPE)
        except FileNotFoundError:
            raise GitError(NO_GIT) from None
        assert process.stdout is not None and process.stderr is not None
        stdout = cast("BufferedReader", process.stdout)  # a pipe with the default bufsize
        errors: IO[bytes] = process.stderr
        stderr: list[bytes] = []
        # Drained on the side, so a chatty stderr can never block git while we read stdout.
        drain = threading.Thread(target=lambda: stderr.append(errors.read()), daemon=True)
        drain.start()
        if input is not None:
            threading.Thread(target=_feed, args=(process.stdin, input), daemon=True).start()
        finished = False
        try:
            while data := stdout.read1(chunk_size):
                yield data
            finished = True
        finally:
            if not finished and process.poll() is None:
                process.kill()
            process.stdout.close()
            code = process.wait()
            drain.join()
            process.stderr.close()
        if code != 0:
            raise GitError(_git_message(args, b"".join(stderr).decode("utf-8", "replace")))

    def _try(self, *args: str) -> tuple[bool, str]:
        ok, out, _ = self._call(args)
        return ok, out

    def _call(self, args: Sequence[str]) -> tuple[bool, str, str]:
        result = run_git(self._cwd, args, self._env, git_executable=self._git_exe)
        # Paths are bytes on disk: surrogateescape keeps undecodable names round-tripping.
        return (result.returncode == 0, os.fsdecode(result.stdout),
                result.stderr.decode("utf-8", "replace"))

    def _verified(self, sha: str) -> str:
        if not _HEX_ID.match(sha or ""):
            return self.resolve(sha)
        return sha

    def _need_worktree(self, what: str) -> None:
        if self.root is None:
            raise GitError(f"{self.git_dir} is a bare repository: there is no working tree or index to "
                           f"{what}; pass --head REV")

    def _worktree_file(self, path: str) -> Path:
        assert self.root is not None
        return self.root / path


# -- helpers ------------------------------------------------------------------------------------
def _feed(pipe, data: bytes) -> None:
    """Write ``data`` to a process's stdin on the side (it may stop reading early)."""
    try:
        pipe.write(data)
        pipe.close()
    except OSError:
        pass


_FIXED_ENV = {
    "GIT_OPTIONAL_LOCKS": "0",       # never refresh or rewrite the index
    "GIT_LITERAL_PATHSPECS": "1",    # a path is a path: no globs, no :(magic)
    "GIT_GLOB_PATHSPECS": "0", "GIT_NOGLOB_PATHSPECS": "0", "GIT_ICASE_PATHSPECS": "0",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_NO_LAZY_FETCH": "1",        # a partial clone must not go to the network for a blob
    "GIT_PAGER": "cat",
    "LC_ALL": "C", "LANGUAGE": "C",
}


# mldiff's own git calls run nothing from the repository and write nothing: no fsmonitor
# program, no hook, and no index refresh. (``git diff`` against the working tree rewrites the
# index after a stat-only change, and runs the post-index-change hook, even under
# GIT_OPTIONAL_LOCKS=0; without the refresh such a file is listed and reads as unchanged.)
_GIT_OPTIONS_WITH_HOOKS = ("-c", "core.fsmonitor=false", "-c", "diff.autoRefreshIndex=false")
_GIT_OPTIONS = _GIT_OPTIONS_WITH_HOOKS + ("-c", "core.hooksPath=/dev/null")


def run_git(cwd: str | os.PathLike, args: Sequence[str], env: dict[str, str], *, input: bytes | None = None,
            hooks_off: bool = True, git_executable: str | None = None) -> subprocess.CompletedProcess[bytes]:
    """The one way mldiff runs git: ``_GIT_OPTIONS`` (no fsmonitor, no hooks, no index refresh)
    unless ``hooks_off`` is False (asking git where the hooks are), an environment from
    ``_repo_env`` / ``worktree_env``, nothing on stdin but ``input``."""
    options = _GIT_OPTIONS if hooks_off else _GIT_OPTIONS_WITH_HOOKS
    try:
        return subprocess.run([git_executable or find_git(), *options, *args], cwd=cwd, env=env, input=input,
                              capture_output=True, stdin=None if input is not None else subprocess.DEVNULL)
    except FileNotFoundError:
        raise GitError(NO_GIT) from None
    except NotADirectoryError:
        raise GitError(f"{cwd} is not a directory") from None


def worktree_env(root: str | os.PathLike) -> dict[str, str]:
    """The environment for git run in the work tree ``root`` (validation, commit integration):
    what a calling git (a hook, an alias) set for *its* repository is dropped, so git finds
    ``root``'s; a temporary index of ``git commit -a`` is kept when it belongs to ``root``."""
    env = {k: v for k, v in os.environ.items() if k not in _INHERITED_REPO_ENV}
    env.update(_FIXED_ENV)
    index_file = os.environ.get("GIT_INDEX_FILE")
    if index_file:
        index_path = Path(index_file) if os.path.isabs(index_file) else Path(root) / index_file
        owners = [Path(root)]
        result = run_git(root, ("rev-parse", "--path-format=absolute", "--git-common-dir"), env)
        if result.returncode == 0:
            owners.append(Path(os.fsdecode(result.stdout).strip()))
        try:
            if any(index_path.resolve().is_relative_to(owner.resolve()) for owner in owners):
                env["GIT_INDEX_FILE"] = str(index_path)
        except OSError:
            pass
    return env


def git_message(args: Sequence[str], stderr: str) -> str:
    """``git worktree failed: <git's own reason>``: one line for a failed git call."""
    return _git_message(args, stderr)


def find_git() -> str:
    found = shutil.which("git")
    if found is None:
        raise GitError(NO_GIT)
    return found


def _repo_env(git_dir: Path, root: Path | None, common_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _INHERITED_REPO_ENV}
    env.update(_FIXED_ENV)
    env["GIT_DIR"] = str(git_dir)
    if root is not None:
        env["GIT_WORK_TREE"] = str(root)
    # A hook running `git commit -a` points GIT_INDEX_FILE at a temporary index: honour it
    # when it belongs to this repository, so --staged sees what is being committed.
    index_file = os.environ.get("GIT_INDEX_FILE")
    if index_file:
        index_path = Path(index_file) if os.path.isabs(index_file) else Path(root or git_dir) / index_file
        try:
            if index_path.resolve().is_relative_to(common_dir.resolve()):
                env["GIT_INDEX_FILE"] = str(index_path)
        except OSError:
            pass
    return env


def _discover_run(git_exe: str, start: Path, env: dict[str, str], *args: str) -> str:
    try:
        result = subprocess.run([git_exe, "rev-parse", *args], cwd=start, env=env, capture_output=True,
                                stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise GitError(NO_GIT) from None
    if result.returncode == 0:
        return os.fsdecode(result.stdout)
    err = result.stderr.decode("utf-8", "replace")
    if "not a git repository" in err:
        raise GitError(f"not a git repository (nor inside one): {start}")
    if "dubious ownership" in err:
        raise GitError(f"git refuses to read {start}: it belongs to another user; if you trust it, "
                       f"run: git config --global --add safe.directory {start}")
    raise GitError(_git_message(("rev-parse", *args), err))


def _git_message(args: Sequence[str], stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    detail = next((line for line in lines if line.startswith(("fatal:", "error:"))), lines[-1] if lines else "")
    detail = detail.removeprefix("fatal: ").removeprefix("error: ")
    return f"git {args[0]} failed: {detail or 'no message'}"


def _split_z(out: str) -> list[str]:
    return [part for part in out.split("\0") if part]


def _normalise_repo_path(path: str) -> str:
    """A repository-relative path with forward slashes, '' for the root."""
    text = path.replace(os.sep, "/") if os.sep != "/" else path
    normal = posixpath.normpath(text) if text else "."
    if normal in (".", "/"):
        return ""
    if normal.startswith("../") or normal == ".." or normal.startswith("/"):
        raise GitError(f"{path} is outside the repository")
    return normal


def _blob(value: str) -> str | None:
    return None if _NULL_ID.match(value) else value


def parse_raw(out: str, head: str, base: str = "") -> list[FileChange]:
    """``git diff --raw -z`` records (also ``git log --raw -z``'s, one commit's) -> FileChanges;
    ``base``: the commit they are compared with, where known."""
    fields = out.split("\0")
    changes: list[FileChange] = []
    seen: set[str] = set()
    i = 0
    while i < len(fields):
        meta = fields[i]
        if not meta.startswith(":"):
            i += 1
            continue
        old_mode, new_mode, old_id, new_id, status = meta[1:].split(" ", 4)
        letter, score = status[0], status[1:]
        if letter in "RC":
            old_path, path = fields[i + 1], fields[i + 2]
            i += 3
        else:
            old_path, path = None, fields[i + 1]
            i += 2
        base_mode = None if old_mode == "000000" else old_mode
        head_mode = None if new_mode == "000000" else new_mode
        base_blob = _blob(old_id) if base_mode else None
        head_blob = _blob(new_id) if head_mode and head != WORKTREE else None
        if letter == "U":  # unmerged: git prints the path once per conflicted stage view
            if path in seen:
                continue
            base_mode = base_mode or "100644"
            changes.append(FileChange("modified", path, head, base_blob=base_blob, head_blob=head_blob,
                                      base_mode=base_mode, head_mode=head_mode or base_mode, unmerged=True))
        elif letter == "R":
            changes.append(FileChange("renamed", path, head, old_path=old_path, base_blob=base_blob,
                                      head_blob=head_blob, base_mode=base_mode, head_mode=head_mode,
                                      similarity=int(score or 0)))
        elif letter in "AC":  # C only appears with -C, which mldiff does not ask for
            changes.append(FileChange("added", path, head, head_blob=head_blob, head_mode=head_mode))
        elif letter == "D":
            changes.append(FileChange("deleted", path, head, base_blob=base_blob, base_mode=base_mode))
        else:  # M, T (type change), X
            changes.append(FileChange("modified", path, head, base_blob=base_blob, head_blob=head_blob,
                                      base_mode=base_mode, head_mode=head_mode))
        seen.add(path)
    return [replace(change, base=base) for change in changes] if base else changes


def _renamed(deleted: FileChange, path: str, similarity: int) -> FileChange:
    return FileChange("renamed", path, WORKTREE, old_path=deleted.path, base_blob=deleted.base_blob,
                      base_mode=deleted.base_mode, head_mode="100644", similarity=similarity, untracked=True)


def _stat_key(path: Path) -> tuple[int, int, int]:
    try:
        info = os.stat(path)
    except OSError:
        return (0, 0, 0)
    return (info.st_mtime_ns, info.st_size, info.st_ino)

