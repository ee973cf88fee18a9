"""Shared test fixtures: the checkout's own package on the path of every subprocess,
and helpers to make real git repositories in temp dirs."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVER = ROOT / "server"
FIXTURES = ROOT / "fixtures"

# Subprocesses (`python -m mldiff ...`) run this checkout's code, installed or not.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SERVER), os.environ.get("PYTHONPATH", "")]))
if str(SERVER) not in sys.path:
    sys.path.insert(0, str(SERVER))

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(repo: Path, *args: str, check: bool = True) -> str:
    """Run git in ``repo`` with a fixed identity and no user config."""
    env = {**os.environ, **GIT_ENV}
    result = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr}")
    return result.stdout


def mldiff(*args: str, cwd: Path | None = None, input: str | None = None,
           env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess."""
    return subprocess.run([sys.executable, "-m", "mldiff", *args], cwd=cwd, capture_output=True, text=True,
                          input=input, env={**os.environ, **(env or {})}, timeout=300)


class Repo:
    """A real git repository in a temp dir, written file by file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        git(path, "init", "-q", "-b", "main")

    def write(self, name: str, text: str | bytes) -> Path:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            target.write_bytes(text)
        else:
            target.write_text(text, encoding="utf-8")
        return target

    def commit(self, message: str = "commit", *paths: str) -> str:
        git(self.path, "add", "-A", *paths)
        git(self.path, "commit", "-q", "--allow-empty", "-m", message)
        return git(self.path, "rev-parse", "HEAD").strip()

    def git(self, *args: str, check: bool = True) -> str:
        return git(self.path, *args, check=check)

    def conflicted_merge(self, name: str, base: str, ours: str, theirs: str) -> str:
        """Commit ``base``, then ``theirs`` on a branch and ``ours`` on main, and merge: a
        conflict, with git's markers in the working-tree file. Returns ours' commit."""
        self.write(name, base)
        self.commit()
        self.git("checkout", "-q", "-b", "other")
        self.write(name, theirs)
        self.commit()
        self.git("checkout", "-q", "main")
        self.write(name, ours)
        ours_commit = self.commit()
        result = subprocess.run(["git", "merge", "-q", "other"], cwd=self.path, capture_output=True,
                                env={**os.environ, **GIT_ENV})
        assert result.returncode != 0 and "<<<<<<<" in (self.path / name).read_text(), "no conflict"
        return ours_commit


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "repo")


def read_terminal(primary: int) -> str:
    """Everything written to a pty (after its other end was closed), then close it."""
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the other end is closed and drained
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    return b"".join(chunks).decode()
