"""Per-commit analysis results on disk, so a second ``mldiff log`` reads instead of parsing.

A commit's findings never change: only mldiff (its version and its analysis code) and
the settings that shape findings (severity overrides, include/exclude) can change them.
So an entry's file name is a hash of the commit sha, the mldiff version, a hash of the
analysis source, and those settings; anything else that changes makes a new name, and
old entries age out. ``--select``/``--ignore``/``--family`` and PATHs only filter what
is printed, so they share entries.

Entries live under ``<git common dir>/mldiff/log-cache/`` (commits are shared by every
worktree), are written atomically (a temporary file renamed into place) and the
directory is bounded: past ``MAX_ENTRIES`` the oldest quarter goes. A repository that
cannot be written (a read-only mirror) simply gets no cache. An entry holds the results
per analysed path, so a PATH-limited run stores what it analysed and a later run adds
the rest.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import mldiff
from mldiff.config import Settings
from mldiff.findings import FileError, FileResult, Finding

FORMAT = 1
MAX_ENTRIES = 20_000
# What decides findings besides the texts: the analysis packages and the modules they use.
_SOURCE_DIRS = ("analysis", "rules")
_SOURCE_FILES = ("checking.py", "config.py", "families.py", "findings.py", "gitview.py", "hunks.py",
                 "textdecode.py")


@dataclass
class CachedFile:
    """One analysed file of a commit: its result and whether both sides could be read."""

    result: FileResult
    read: bool


@dataclass
class CommitCache:
    """The cache directory and the part of every key that does not depend on the commit."""

    directory: Path
    salt: str
    enabled: bool = True
    writes: int = field(default=0, init=False)

    @classmethod
    def open(cls, common_dir: Path, settings: Settings, enabled: bool = True) -> CommitCache:
        return cls(Path(common_dir) / "mldiff" / "log-cache", cache_salt(settings), enabled)

    def path(self, sha: str) -> str:
        # A plain string: a warm walk builds one per commit, and pathlib would be a fifth of its work.
        return os.path.join(self.directory, hashlib.sha256(f"{self.salt}\0{sha}".encode()).hexdigest() + ".json")

    def get(self, sha: str) -> dict[str, CachedFile] | None:
        """The cached files of ``sha`` by path, or None (no entry, or an unreadable one)."""
        if not self.enabled:
            return None
        try:
            with open(self.path(sha), "rb") as entry:
                data = json.loads(entry.read())
            if data.get("format") != FORMAT or data.get("commit") != sha:
                return None
            return {path: _file_from_json(path, item) for path, item in data["files"].items()}
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, sha: str, files: dict[str, CachedFile]) -> None:
        """Store ``files`` (every analysed path of the commit) atomically; failures are silent."""
        if not self.enabled:
            return
        data = {"format": FORMAT, "commit": sha,
                "files": {path: _file_to_json(item) for path, item in sorted(files.items())}}
        import tempfile
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as out:
                    json.dump(data, out, ensure_ascii=False, separators=(",", ":"))
                os.replace(temporary, self.path(sha))
            except BaseException:
                _remove(Path(temporary))
                raise
        except OSError:
            self.enabled = False  # read-only repository: run without a cache
            return
        self.writes += 1

    def prune(self, max_entries: int = MAX_ENTRIES) -> int:
        """Keep the directory bounded: past ``max_entries``, drop the oldest quarter. Returns
        how many entries were removed."""
        try:
            entries = [(entry.stat().st_mtime_ns, Path(entry.path)) for entry in os.scandir(self.directory)
                       if entry.name.endswith(".json")]
        except OSError:
            return 0
        if len(entries) <= max_entries:
            return 0
        entries.sort()
        doomed = entries[:len(entries) - (max_entries * 3) // 4]
        for _, path in doomed:
            _remove(path)
        return len(doomed)


def cache_salt(settings: Settings) -> str:
    """What every key shares: format, mldiff version, analysis source, finding-shaping settings."""
    shaping = json.dumps({"severity": list(settings.severity), "include": list(settings.include),
                          "exclude": list(settings.exclude)}, sort_keys=True)
    return f"{FORMAT}\0{mldiff.__version__}\0{source_fingerprint()}\0{shaping}"


@lru_cache(maxsize=1)
def source_fingerprint() -> str:
    """A hash of mldiff's analysis code: a development checkout whose rules changed without
    a version bump must not reuse old results."""
    package = Path(__file__).resolve().parent
    files = [package / name for name in _SOURCE_FILES]
    for directory in _SOURCE_DIRS:
        files.extend(sorted((package / directory).rglob("*.py")))
    digest = hashlib.sha256()
    for file in files:
        try:
            data = file.read_bytes()
        except OSError:
            continue
        digest.update(file.relative_to(package).as_posix().encode() + b"\0" + data + b"\0")
    return digest.hexdigest()


def _file_to_json(item: CachedFile) -> dict[str, Any]:
    return {"read": item.read, "findings": [f.to_json() for f in item.result.findings],
            "errors": [e.to_json() for e in item.result.errors], "notes": item.result.notes}


def _file_from_json(path: str, data: dict[str, Any]) -> CachedFile:
    return CachedFile(FileResult(path, findings=[Finding.from_json(f) for f in data["findings"]],
                                 errors=[FileError.from_json(e) for e in data["errors"]],
                                 notes=list(data["notes"])), bool(data["read"]))


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
