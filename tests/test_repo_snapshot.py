"""The snapshot helper must notice every kind of write mldiff is forbidden to make."""
from __future__ import annotations

import pytest

from repo_snapshot import unchanged


@pytest.fixture
def dirty(repo):
    repo.write("train.py", "lr = 0.1\n")
    repo.commit()
    repo.write("train.py", "lr = 0.2\n")
    return repo


@pytest.mark.parametrize("write", [
    lambda r: r.write("train.py", "lr = 0.3\n"),
    lambda r: r.write("new.py", "x = 1\n"),
    lambda r: r.git("add", "train.py"),
    lambda r: (r.path / ".git" / "index.lock").write_text(""),
    lambda r: r.git("stash", "-q"),
    lambda r: r.git("branch", "other"),
    lambda r: r.git("config", "core.editor", "vi"),
    lambda r: r.git("hash-object", "-w", "train.py"),
    lambda r: r.git("checkout", "-q", "--detach"),
], ids=["file", "untracked", "index", "lock", "stash", "ref", "config", "object", "HEAD"])
def test_every_write_is_noticed(dirty, write):
    with pytest.raises(AssertionError, match="the repository changed"):
        with unchanged(dirty.path):
            write(dirty)


def test_reading_is_not_a_change(dirty):
    with unchanged(dirty.path):
        dirty.git("log", "--oneline")
        dirty.git("cat-file", "-p", "HEAD:train.py")
        (dirty.path / "train.py").read_text()


def test_owned_folders_are_excused_and_nothing_else(dirty):
    cache = dirty.path / ".git" / "mldiff" / "log-cache"
    with unchanged(dirty.path, owned=("mldiff/log-cache",)):
        cache.mkdir(parents=True)
        (cache / "entry.json").write_text("{}")
    with pytest.raises(AssertionError, match="the repository changed"):
        with unchanged(dirty.path, owned=("mldiff/log-cache",)):
            (dirty.path / ".git" / "mldiff" / "other.json").write_text("{}")
