"""Security guarantees, each a test that fails when the guarantee breaks.

- No ``shell=True`` (nor ``os.system`` / ``os.popen``) anywhere in the code.
- A file named like an option and a base like ``--upload-pack=...`` stay data: one clear
  error, nothing created.
- mldiff's own git calls run nothing from the repository: no hook (validation's base
  worktree is added with ``core.hooksPath=/dev/null``) and no fsmonitor program.
- Stored results are keyed by hashes: a crafted base cannot write outside the git dir.

Covered elsewhere (referenced in docs/reliability.md, not repeated here): documents
outside the workspace folders (tests/test_lsp_bad_inputs.py), validation only after an
explicit confirmation (tests/test_lsp_validation.py) and off in untrusted VS Code
workspaces (tests/test_vscode_extension.py), store paths checked as hashes
(tests/test_validate_store.py).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import ROOT, Repo, git, mldiff
from mldiff.errors import MldiffError
from repo_snapshot import unchanged
from validation_support import RUN_ENV, tiny_train_repo

NORMALIZED = ("from torchvision import transforms\n"
              "transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])\n")
PLAIN = "from torchvision import transforms\ntransform = transforms.ToTensor()\n"
SHELL_CALLS = re.compile(r"shell\s*=\s*True|\bos\.(system|popen)\s*\(")
# Hooks git runs on the operations a careless tool might do (checkout, index writes, ref updates, gc).
HOOKS = ("post-checkout", "post-index-change", "reference-transaction", "pre-auto-gc", "post-commit",
         "pre-commit", "post-rewrite", "pre-push")


@pytest.fixture(autouse=True)
def _no_parent_repository(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))


def test_no_shell_anywhere() -> None:
    offenders = []
    for folder in ("server", "bench", "scripts", "tests"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == Path(__file__).resolve():
                continue  # this test names what it looks for
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                code = line.split("#", 1)[0]
                if SHELL_CALLS.search(code):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "a shell runs here:\n" + "\n".join(offenders)


def test_the_shell_check_would_catch_one() -> None:
    assert SHELL_CALLS.search("subprocess.run(cmd, shell=True)")
    assert SHELL_CALLS.search("os.system('ls')") and SHELL_CALLS.search("os.popen( 'ls')")
    assert not SHELL_CALLS.search("subprocess.run(cmd, shell=False)")


# -- option-like names stay data -------------------------------------------------------------------
@pytest.fixture
def hostile_names(repo: Repo) -> Repo:
    """A repository with files named like git options, Normalize removed from each."""
    for name in ("--output=x", "--upload-pack=touch x.py", "-rf.py"):
        repo.write(name if name.endswith(".py") else name + ".py", NORMALIZED)
    repo.commit()
    for name in ("--output=x", "--upload-pack=touch x.py", "-rf.py"):
        repo.write(name if name.endswith(".py") else name + ".py", PLAIN)
    return repo


LOG_CACHE = ("mldiff/log-cache",)   # mldiff's own folder in the git dir (``mldiff log`` and ``show``)
HOSTILE_REVISIONS = ("--upload-pack=touch x", "--output=x", "-c core.pager=touch x", "HEAD\n--output=x")


@pytest.mark.parametrize("command", [
    ("check", "--base={rev}"),
    ("check", "--head={rev}"),
    ("show", "{rev}"),
    ("log", "{rev}"),
    ("validate", "--base={rev}"),
])
def test_option_like_revisions_are_refused_in_one_line(hostile_names: Repo, command: tuple[str, ...]) -> None:
    for rev in HOSTILE_REVISIONS:
        args = [part.format(rev=rev) for part in command]
        with unchanged(hostile_names.path):
            result = mldiff(*args, cwd=hostile_names.path, env=RUN_ENV)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        [line] = result.stderr.splitlines() or [""]
        assert line.startswith("mldiff: ") and "Traceback" not in result.stderr, result.stderr
        assert not (hostile_names.path / "x").exists()


def test_option_like_file_names_are_paths(hostile_names: Repo) -> None:
    with unchanged(hostile_names.path):
        result = mldiff("check", "--format", "json", "--", "--output=x.py", "--upload-pack=touch x.py",
                        cwd=hostile_names.path)
    assert result.returncode == 1, result.stderr
    assert sorted(re.findall(r'"path": "([^"]+)"', result.stdout)) == ["--output=x.py", "--upload-pack=touch x.py"]
    with unchanged(hostile_names.path, LOG_CACHE):
        assert mldiff("log", "--", "--output=x.py", cwd=hostile_names.path).returncode == 0
    assert not (hostile_names.path / "x").exists()


# -- nothing of the repository's runs ---------------------------------------------------------------
def arm(repo: Path, marker: Path) -> None:
    """Hooks and an fsmonitor program that would each append their name to ``marker``."""
    hooks = repo / ".git" / "hooks"
    hooks.mkdir(exist_ok=True)
    for name in HOOKS:
        hook = hooks / name
        hook.write_text(f"#!/bin/sh\necho {name} >> '{marker}'\n")
        hook.chmod(0o755)
    monitor = repo.parent / "fsmonitor"
    monitor.write_text(f"#!/bin/sh\necho fsmonitor >> '{marker}'\nexit 1\n")
    monitor.chmod(0o755)
    git(repo, "config", "core.fsmonitor", str(monitor))


def test_the_armed_repository_would_notice_git_running_its_programs(repo: Repo, tmp_path: Path) -> None:
    """The control: plain git runs them, so their absence below means something."""
    repo.write("train.py", NORMALIZED)
    repo.commit()
    marker = tmp_path / "ran"
    arm(repo.path, marker)
    repo.git("status")
    repo.git("checkout", "-q", "-b", "topic")
    assert {"fsmonitor", "post-checkout", "reference-transaction"} <= set(marker.read_text().split())


def test_check_log_and_show_run_no_hook_or_fsmonitor(repo: Repo, tmp_path: Path) -> None:
    repo.write("train.py", NORMALIZED)
    repo.commit()
    repo.write("train.py", PLAIN)
    repo.commit()
    repo.write("train.py", NORMALIZED)
    marker = tmp_path / "ran"
    arm(repo.path, marker)
    for args in (("check",), ("check", "--staged"), ("check", "--merge-base", "--base", "HEAD~1"),
                 ("log", "--no-cache"), ("show", "HEAD")):
        with unchanged(repo.path, LOG_CACHE):
            result = mldiff(*args, cwd=repo.path)
        assert result.returncode in (0, 1), (args, result.stderr)
        assert not marker.exists(), (args, marker.read_text())


@pytest.mark.slow
@pytest.mark.torch
def test_validate_runs_no_hook_or_fsmonitor(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    repo = tiny_train_repo(tmp_path)
    train = repo.path / "train.py"
    train.write_text(train.read_text().replace("momentum=0.9", "momentum=0.8"))
    marker = tmp_path / "ran"
    arm(repo.path, marker)
    result = mldiff("validate", "--steps", "3", cwd=repo.path, env=RUN_ENV)
    assert result.returncode == 0, result.stderr
    assert not marker.exists(), marker.read_text()
    assert "mldiff" not in repo.git("worktree", "list")


# -- the results store -------------------------------------------------------------------------------
def test_stored_results_stay_in_the_git_dir_whatever_the_names(repo: Repo, tmp_path: Path) -> None:
    """File names that look like paths do not become paths of the store: its folders are
    named by the base commit and a hash of the change's content, and anything else is refused."""
    from mldiff.validate import content, store
    repo.write("train.py", "x = 1\n")
    base = repo.commit()
    repo.write("...py", "y = 2\n")
    repo.write("-- ../escape.py", "z = 3\n")
    key = content.worktree_key(repo.path)
    common = repo.path / ".git"
    path = store.save_result(common, base, key, {"content_key": key, "finished": 1})
    assert re.fullmatch(r"[0-9a-f]{40}/[0-9a-f]{64}\.json", path.relative_to(common / "mldiff" / "results").as_posix())
    for crafted_base, crafted_key in (("../../../outside", key), (base, "../../../outside"), ("/tmp/evil", key),
                                      ("HEAD", key), (base, key + "/../x")):
        with pytest.raises(MldiffError, match="is not a hash"):
            store.save_result(common, crafted_base, crafted_key, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo"]
