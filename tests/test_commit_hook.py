"""Validation results in real commits: the prepare-commit-msg hook, attach, notes."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import GIT_ENV, Repo, mldiff
from validation_support import assert_unchanged, edit, take, tiny_train_repo, validate_json

pytest.importorskip("torch")
pytestmark = pytest.mark.slow

KEYS = ("ML-Validated", "ML-Loss", "ML-Throughput", "ML-Peak-Memory", "ML-Changes", "ML-Confirmed")


@pytest.fixture(scope="module")
def validated(tmp_path_factory) -> Path:
    """A repo whose working tree (learning rate raised, README edited) has a stored validation."""
    repo = tiny_train_repo(tmp_path_factory.mktemp("validated"))
    edit(repo, "train.py", 'default=0.05', 'default=0.2')
    edit(repo, "README.md", "# tiny-train", "# tiny-train (lr 0.2)")
    validate_json(repo, "--steps", "3")
    return repo.path


@pytest.fixture
def repo(validated, tmp_path) -> Repo:
    target = tmp_path / "repo"
    shutil.copytree(validated, target, symlinks=True)
    copy = Repo.__new__(Repo)
    copy.path = target
    return copy


def commit(repo: Repo, *args: str) -> str:
    repo.git("commit", "-q", *args)
    return repo.git("log", "-1", "--format=%B")


def trailers_of(message: str) -> dict[str, str]:
    return {line.split(": ", 1)[0]: line.split(": ", 1)[1] for line in message.splitlines()
            if line.startswith("ML-")}


def install(repo: Repo) -> str:
    completed = mldiff("hook", "install", cwd=repo.path, env=GIT_ENV)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def test_commit_of_the_validated_content_gets_trailers(repo):
    install(repo)
    repo.git("add", "-A")
    message = commit(repo, "-m", "Raise the learning rate")
    trailers = trailers_of(message)
    assert set(trailers) == set(KEYS), message
    # What the runs saw of the static finding: the optimizer's learning rate, both values.
    assert trailers["ML-Confirmed"] == "learning_rate 0.05 -> 0.2 (param group 0, steps 1-3)"
    base = repo.git("rev-parse", "HEAD~1").strip()[:7]
    assert trailers["ML-Validated"].startswith("3 steps on CPU") and trailers["ML-Validated"].endswith(f"base {base}")
    assert " -> " in trailers["ML-Loss"] and "at step 3" in trailers["ML-Loss"]
    assert "samples/s" in trailers["ML-Throughput"]
    assert "RSS" in trailers["ML-Peak-Memory"]
    assert message.startswith("Raise the learning rate\n\nML-Validated: ")


def test_commit_all_uses_the_index_git_commits(repo):
    install(repo)
    message = commit(repo, "-a", "-m", "Raise lr (commit -a)")
    assert "ML-Validated" in trailers_of(message)


def test_edited_after_validation_gets_no_trailers(repo):
    install(repo)
    edit(repo, "train.py", 'default=0.2', 'default=0.3')
    repo.git("add", "-A")
    message = commit(repo, "-m", "Raise lr more")
    assert trailers_of(message) == {}
    assert message.strip() == "Raise lr more"


def test_partial_staging_gets_no_trailers(repo):
    install(repo)
    nothing_staged = mldiff("attach", cwd=repo.path)
    assert nothing_staged.returncode == 1 and "differs from what is staged" in nothing_staged.stderr
    repo.git("add", "train.py")  # README.md was validated too but stays out of this commit
    message = commit(repo, "-m", "Only train.py")
    assert trailers_of(message) == {}


def test_user_message_and_existing_trailers_are_kept(repo):
    install(repo)
    repo.git("add", "-A")
    text = "Raise the learning rate\n\nLonger body line.\n\nSigned-off-by: A <a@example.com>\nRefs: #12\n"
    message = commit(repo, "-m", text)
    assert message.startswith(text.rstrip("\n") + "\nML-Validated: ")
    lines = message.rstrip("\n").splitlines()
    assert lines[-len(KEYS):] == [f"{key}: {trailers_of(message)[key]}" for key in KEYS]


def test_a_stale_contradiction_is_removed_and_other_trailers_stay(repo, tmp_path):
    """An amended message that still says ML-Contradicted from an earlier result loses it when
    the new result has none; the user's own trailers (and an empty one) stay as they were."""
    repo.git("add", "-A")
    message = tmp_path / "MSG"
    message.write_text("Subject\n\nBody\n\nReviewed-by:\nML-Contradicted: learning_rate (ML301, train.py:49): "
                       "old\n  continued\nRefs: #12\n# a comment\n")
    written = mldiff("attach", "--message-file", str(message), cwd=repo.path)
    assert written.returncode == 0, written.stderr
    text = message.read_text()
    assert "ML-Contradicted" not in text and "continued" not in text
    # (git interpret-trailers itself writes the empty trailer as "Reviewed-by: ".)
    assert "\nReviewed-by: \nRefs: #12\nML-Validated: " in text and text.endswith("# a comment\n")


def test_existing_hook_is_chained_and_restored(repo):
    hooks = repo.path / ".git" / "hooks"
    original = "#!/bin/sh\necho 'Ticket: T-1' >> \"$1\"\n"
    (hooks / "prepare-commit-msg").write_text(original)
    (hooks / "prepare-commit-msg").chmod(0o755)
    assert "existing hook now runs first" in install(repo)
    assert "updated" in install(repo)                       # idempotent
    assert sorted(p.name for p in hooks.iterdir() if p.name.startswith("prepare-commit-msg")
                  and not p.name.endswith(".sample")) == ["prepare-commit-msg", "prepare-commit-msg.mldiff-chained"]
    repo.git("add", "-A")
    message = commit(repo, "-m", "Chained")
    assert "Ticket: T-1" in message and "ML-Validated" in trailers_of(message)
    before = take(repo.path, hooks=True)
    completed = mldiff("hook", "uninstall", cwd=repo.path)
    assert completed.returncode == 0 and "restored the previous" in completed.stdout
    assert (hooks / "prepare-commit-msg").read_text() == original
    assert not (hooks / "prepare-commit-msg.mldiff-chained").exists()
    assert_unchanged(before, take(repo.path, hooks=True))
    assert "no mldiff hook" in mldiff("hook", "uninstall", cwd=repo.path).stdout


def test_failing_chained_hook_still_stops_the_commit(repo):
    hooks = repo.path / ".git" / "hooks"
    (hooks / "prepare-commit-msg").write_text("#!/bin/sh\necho 'policy says no' >&2\nexit 3\n")
    (hooks / "prepare-commit-msg").chmod(0o755)
    install(repo)
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "x", check=False)
    assert repo.git("rev-list", "--count", "HEAD").strip() == "1"  # the chained hook's exit 3 stopped it


def test_core_hooks_path_is_respected_and_install_changes_only_hooks(repo):
    repo.git("config", "core.hooksPath", "githooks")
    before = take(repo.path)
    install(repo)
    assert (repo.path / "githooks" / "prepare-commit-msg").exists()
    assert not (repo.path / ".git" / "hooks" / "prepare-commit-msg").exists()
    after = take(repo.path)
    old_tree, new_tree = before.pop("work tree"), after.pop("work tree")
    assert {k for k in old_tree.keys() | new_tree.keys() if old_tree.get(k) != new_tree.get(k)} == {
        "githooks/prepare-commit-msg"}
    assert_unchanged(before, after)   # the git dir, index, refs and config: untouched
    repo.git("add", "train.py")
    assert "ML-Validated" not in commit(repo, "-m", "with githooks")  # githooks/ itself is new content


def test_attach_prints_or_writes_trailers(repo, tmp_path):
    repo.git("add", "-A")
    printed = mldiff("attach", cwd=repo.path)
    assert printed.returncode == 0
    assert [line.split(":")[0] for line in printed.stdout.splitlines()] == list(KEYS)
    message = tmp_path / "MSG"
    message.write_text("Subject\n\nBody\n")
    written = mldiff("attach", "--message-file", str(message), cwd=repo.path)
    assert written.returncode == 0, written.stderr
    assert message.read_text().startswith("Subject\n\nBody\n\nML-Validated: ")
    edit(repo, "train.py", 'default=0.2', 'default=0.25')
    repo.git("add", "-A")
    none = mldiff("attach", cwd=repo.path)
    assert none.returncode == 1 and "no stored validation matches the staged content" in none.stderr


def test_api_attach_text_and_confirmation(repo):
    from mldiff.validate import api

    assert "is for the working tree, which differs from what is staged" in api.attach_text(repo.path)
    repo.git("add", "-A")
    assert api.attach_text(repo.path).startswith("ML-Validated: 3 steps")
    assert api.command_text(repo.path) == "python train.py --epochs 2  (runner: auto)"
    assert not api.is_confirmed(repo.path)
    api.confirm(repo.path)
    assert api.is_confirmed(repo.path)
    edit(repo, "pyproject.toml", "--epochs 2", "--epochs 3")
    assert not api.is_confirmed(repo.path)   # a changed command asks again


def test_notes_for_a_commit_already_made(repo):
    repo.git("add", "-A")
    commit(repo, "-m", "No hook installed")
    completed = mldiff("notes", cwd=repo.path)
    assert completed.returncode == 0, completed.stderr
    note = repo.git("notes", "--ref", "refs/notes/mldiff", "show", "HEAD")
    assert note.startswith("ML-Validated: 3 steps") and '"content_key"' in note
    assert mldiff("notes", "HEAD~1", cwd=repo.path).returncode == 2
    bad = mldiff("notes", "--", "--output=x", cwd=repo.path)
    assert bad.returncode == 2 and "unknown revision" in bad.stderr


def test_ml_changes_summarises_the_static_findings(tmp_path):
    from mldiff import commit as commit_module
    from conftest import FIXTURES

    scenario = FIXTURES / "scenarios" / "normalize_removed"
    repo = Repo(tmp_path / "scenario")
    repo.write("train.py", (scenario / "before" / "train.py").read_text())
    base = repo.commit("before")
    repo.write("train.py", (scenario / "after" / "train.py").read_text())
    repo.git("add", "-A")
    summary = commit_module.changes_summary(repo.path, base)
    assert summary is not None and summary.startswith("normalization (")
    assert "removed" in summary
    repo.git("reset", "-q")
    assert commit_module.changes_summary(repo.path, base) == "none"   # nothing staged
