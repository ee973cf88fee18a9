"""mldiff as a pre-commit hook, end to end with the real ``pre-commit`` package: a project
whose ``.pre-commit-config.yaml`` points at this checkout's ``.pre-commit-hooks.yaml``,
``pre-commit install``, and real ``git commit``s (one blocked, one let through).

pre-commit clones the hook repository at a commit, so the current working tree (not
only what is committed) is copied into a temporary repository and committed there;
the user's checkout is never touched. Installing the hook's environment downloads
mldiff's dependencies the first time: slow."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import GIT_ENV, ROOT, Repo, git

pytestmark = pytest.mark.slow

NORMALIZED = ("from torchvision import transforms\n"
              "transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])\n")
PLAIN = "from torchvision import transforms\ntransform = transforms.ToTensor()\n"


def pre_commit_command() -> list[str]:
    pytest.importorskip("pre_commit", reason="pre-commit is in the dev extras")
    return [sys.executable, "-m", "pre_commit"]


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory) -> tuple[Path, str]:
    """This checkout's working tree (tracked and untracked, not ignored files) committed in a
    temporary repository: what pre-commit will clone."""
    target = tmp_path_factory.mktemp("hook-repo")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout
    for name in filter(None, os.fsdecode(listed).split("\0")):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    git(target, "init", "-q", "-b", "main")
    git(target, "add", "-A")
    git(target, "commit", "-q", "-m", "mldiff working tree under test")
    return target, git(target, "rev-parse", "HEAD").strip()


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory) -> Path:
    """One hook environment for the module's tests (creating it is the slow part)."""
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture
def project(tmp_path, hook_repo, pre_commit_home, monkeypatch) -> Repo:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.setenv("PRE_COMMIT_HOME", str(pre_commit_home))
    path, sha = hook_repo
    repo = Repo(tmp_path / "project")
    repo.write(".pre-commit-config.yaml",
               f"repos:\n- repo: {path.as_posix()}\n  rev: {sha}\n  hooks:\n  - id: mldiff\n")
    repo.write("train.py", NORMALIZED)
    repo.commit("base")
    installed = subprocess.run([*pre_commit_command(), "install"], cwd=repo.path, capture_output=True, text=True,
                               env={**os.environ, **GIT_ENV})
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return repo


def commit(repo: Repo, message: str) -> subprocess.CompletedProcess:
    """A real ``git commit``: git runs the installed pre-commit hook."""
    return subprocess.run(["git", "commit", "-m", message], cwd=repo.path, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV}, timeout=900)


def test_the_hooks_file_declares_what_the_docs_promise():
    import yaml
    hooks = {hook["id"]: hook for hook in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert hooks["mldiff"]["entry"] == "mldiff check --staged"
    assert hooks["mldiff-errors"]["entry"] == "mldiff check --staged --fail-on error"
    for hook in hooks.values():
        assert hook["language"] == "python" and hook["pass_filenames"] is False
        assert hook["stages"] == ["pre-commit"]
    docs = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    assert all(f"id: {name}" in docs for name in hooks)


def test_a_staged_normalize_removal_blocks_the_commit(project):
    head = project.git("rev-parse", "HEAD").strip()
    project.write("train.py", PLAIN)
    project.git("add", "train.py")
    result = commit(project, "drop normalization")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "ML201" in output and "Normalize((0.5,), (0.5,)) removed" in output
    assert project.git("rev-parse", "HEAD").strip() == head  # nothing was committed
    assert project.git("diff", "--cached", "--name-only").split() == ["train.py"]  # still staged


def test_a_clean_change_is_committed(project):
    head = project.git("rev-parse", "HEAD").strip()
    project.write("train.py", "# the MNIST transform\n" + NORMALIZED)
    project.write("README.md", "notes\n")
    project.git("add", "train.py", "README.md")
    result = commit(project, "document the transform")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^mldiff \(.*\)\.+Passed$", result.stdout + result.stderr, re.M)
    assert project.git("rev-parse", "HEAD^").strip() == head


def test_only_what_is_staged_counts(project):
    """The removal sits in the working tree, unstaged; a harmless staged change commits."""
    project.write("README.md", "notes\n")
    project.git("add", "README.md")
    project.write("train.py", PLAIN)
    result = commit(project, "readme")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (project.path / "train.py").read_text() == PLAIN  # pre-commit put the unstaged change back
