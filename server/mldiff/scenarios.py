"""Change scenarios (``fixtures/scenarios/<name>/{before,after}``) made into real git
repositories: ``before/`` committed, ``after/`` in the working tree. The demo and the
scenario tests use the same builder, so what the demo shows is what the tests check."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from mldiff.errors import GitError, MldiffError
from mldiff.gitview import find_git

# A fixed identity and no user or system config: the repository is the same everywhere.
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "mldiff demo", "GIT_AUTHOR_EMAIL": "demo@mldiff.invalid",
    "GIT_COMMITTER_NAME": "mldiff demo", "GIT_COMMITTER_EMAIL": "demo@mldiff.invalid",
    "GIT_AUTHOR_DATE": "2024-01-01T12:00:00Z", "GIT_COMMITTER_DATE": "2024-01-01T12:00:00Z",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
}


def scenarios_dir() -> Path:
    """``fixtures/scenarios`` of the source checkout this package runs from."""
    found = Path(__file__).resolve().parents[2] / "fixtures" / "scenarios"
    if not found.is_dir():
        raise MldiffError("the scenario fixtures (fixtures/scenarios) are not next to this mldiff: "
                          "run it from a source checkout (make demo)")
    return found


def scenario_names() -> list[str]:
    return sorted(p.name for p in scenarios_dir().iterdir() if (p / "before").is_dir() and (p / "after").is_dir())


def scenario_dir(name: str) -> Path:
    path = scenarios_dir() / name
    if not (path / "before").is_dir() or not (path / "after").is_dir():
        raise MldiffError(f"no scenario {name!r}; scenarios: {', '.join(scenario_names())}")
    return path


def title(name: str) -> str:
    """The first heading of the scenario's README."""
    readme = scenario_dir(name) / "README.md"
    for line in readme.read_text(encoding="utf-8").splitlines() if readme.exists() else []:
        if line.startswith("#"):
            return line.lstrip("#").strip().removeprefix("Scenario:").strip()
    return name


def build_repo(name: str, target: Path) -> Path:
    """A new repository at ``target`` (which must not exist or be empty): ``before/``
    committed on ``main``, ``after/`` replacing it in the working tree, uncommitted."""
    source = scenario_dir(name)
    target = Path(target)
    if target.exists() and any(target.iterdir()):
        raise MldiffError(f"{target} already exists and is not empty")
    target.mkdir(parents=True, exist_ok=True)
    _git(target, "init", "-q")
    _git(target, "symbolic-ref", "HEAD", "refs/heads/main")
    shutil.copytree(source / "before", target, dirs_exist_ok=True)
    _git(target, "add", "-A")
    _git(target, "commit", "-q", "--no-verify", "-m", f"{name}: before")
    for entry in target.iterdir():
        if entry.name == ".git":
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    shutil.copytree(source / "after", target, dirs_exist_ok=True)
    return target


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, **_GIT_ENV}
    result = subprocess.run([find_git(), "-c", "commit.gpgsign=false", *args], cwd=repo, env=env,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise GitError(f"git {args[0]} failed in {repo}: {result.stderr.strip()}")
    return result.stdout
