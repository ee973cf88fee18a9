"""The git layer against real repositories: discovery, revisions, changed files, texts.

Every test that reads a repository also asserts that the repository is unchanged."""
from __future__ import annotations

import codecs
import os
from pathlib import Path

import pytest

from conftest import Repo, git
from mldiff.errors import GitError
from mldiff.gitview import EMPTY_REPOSITORY, INDEX, NO_GIT, WORKTREE, RepoView
from mldiff.textdecode import BinaryFile, UndecodableFile
from repo_snapshot import unchanged


@pytest.fixture(autouse=True)
def _no_parent_repository(tmp_path, monkeypatch):
    # tmp dirs must never be discovered as part of some repository above them
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))


def by_path(changes):
    return {c.path: c for c in changes}


# -- discovery -------------------------------------------------------------------------------
def test_discover_from_root_subdirectory_and_file(repo):
    repo.write("pkg/train.py", "x = 1\n")
    repo.commit()
    for start in (repo.path, repo.path / "pkg", repo.path / "pkg" / "train.py"):
        view = RepoView.discover(start)
        assert view.root == repo.path.resolve()
        assert view.git_dir == (repo.path / ".git").resolve()
        assert not view.is_bare


def test_discover_innermost_nested_repository(repo):
    repo.write("a.py", "x = 1\n")
    repo.commit()
    inner = Repo(repo.path / "vendor" / "inner")
    inner.write("src/b.py", "y = 2\n")
    inner.commit()
    view = RepoView.discover(inner.path / "src")
    assert view.root == inner.path.resolve()
    # From the outer repository the nested one is one untracked entry, skipped with a reason.
    outer = RepoView.discover(repo.path)
    with unchanged(repo.path):
        changes = by_path(outer.changed_files(outer.resolve("HEAD")))
    assert changes["vendor/inner"].submodule and changes["vendor/inner"].skip_reason


def test_discover_linked_worktree(repo, tmp_path):
    repo.write("train.py", "lr = 0.1\n")
    repo.commit()
    linked = tmp_path / "linked"
    repo.git("worktree", "add", "-q", "-b", "feature", str(linked))
    (linked / "train.py").write_text("lr = 0.2\n")
    view = RepoView.discover(linked)
    assert view.root == linked.resolve()
    assert view.common_dir == (repo.path / ".git").resolve()
    with unchanged(linked), unchanged(repo.path):
        changes = view.changed_files(view.resolve("HEAD"))
        assert [c.path for c in changes] == ["train.py"]
        assert view.read_head(changes[0]) == "lr = 0.2\n"
        assert view.read_base(changes[0]) == "lr = 0.1\n"


def test_discover_submodule_and_submodule_changes_are_skipped(repo, tmp_path):
    library = Repo(tmp_path / "library")
    library.write("lib.py", "a = 1\n")
    library.commit()
    repo.write("train.py", "x = 1\n")
    repo.commit()
    repo.git("-c", "protocol.file.allow=always", "submodule", "add", "-q", str(library.path), "lib")
    base = repo.commit("add submodule")
    view = RepoView.discover(repo.path / "lib")
    assert view.root == (repo.path / "lib").resolve()
    assert view.git_dir.is_relative_to((repo.path / ".git" / "modules").resolve())
    # Move the submodule to a new commit: the parent sees a mode-160000 change, never read.
    sub = Repo.__new__(Repo)
    sub.path = repo.path / "lib"
    sub.write("lib.py", "a = 2\n")
    sub.commit("bump")
    outer = RepoView.discover(repo.path)
    with unchanged(repo.path):
        changes = outer.changed_files(base)
    assert [c.path for c in changes] == ["lib"]
    assert changes[0].submodule and "submodule" in changes[0].skip_reason


def test_discover_bare_repository(repo, tmp_path):
    repo.write("train.py", "lr = 0.1\n")
    first = repo.commit()
    repo.write("train.py", "lr = 0.2\n")
    second = repo.commit()
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo.path), str(bare))
    view = RepoView.discover(bare)
    assert view.is_bare and view.root is None
    with unchanged(bare):
        changes = view.changed_files(first, second)
        assert [(c.status, c.path) for c in changes] == [("modified", "train.py")]
        assert view.read_head(changes[0]) == "lr = 0.2\n"
        with pytest.raises(GitError, match="bare repository"):
            view.changed_files(first, WORKTREE)


def test_not_a_repository(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(GitError, match="not a git repository"):
        RepoView.discover(plain)
    with pytest.raises(GitError, match="no such file or directory"):
        RepoView.discover(tmp_path / "missing")


def test_git_missing_from_path(repo, tmp_path, monkeypatch):
    repo.commit()
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(GitError) as caught:
        RepoView.discover(repo.path)
    assert str(caught.value) == NO_GIT


# -- revisions -------------------------------------------------------------------------------
def test_resolve_revisions(repo):
    repo.write("a.py", "x = 1\n")
    first = repo.commit()
    repo.git("tag", "v1")
    repo.write("a.py", "x = 2\n")
    second = repo.commit()
    view = RepoView.discover(repo.path)
    with unchanged(repo.path):
        assert view.resolve("HEAD") == second
        assert view.resolve("HEAD~1") == first
        assert view.resolve("v1") == first
        assert view.resolve(first[:8]) == first
        with pytest.raises(GitError, match="unknown revision 'nope'"):
            view.resolve("nope")
        blob = repo.git("rev-parse", "HEAD:a.py").strip()
        with pytest.raises(GitError, match="names a blob, not a commit"):
            view.resolve(blob)


def test_option_like_revision_and_paths_stay_data(repo):
    repo.write("train.py", "x = 1\n")
    base = repo.commit()
    repo.write("--output=x", "data\n")
    view = RepoView.discover(repo.path)
    with unchanged(repo.path):
        for rev in ("--upload-pack=touch pwned", "--output=x", "-h"):
            with pytest.raises(GitError, match="unknown revision"):
                view.resolve(rev)
        changes = view.changed_files(base, WORKTREE, ["--output=x"])
    assert [c.path for c in changes] == ["--output=x"]
    assert not (repo.path / "pwned").exists() and not (repo.path / "x").exists()


def test_empty_repository(repo):
    view = RepoView.discover(repo.path)
    with unchanged(repo.path):
        with pytest.raises(GitError) as caught:
            view.resolve("HEAD")
    assert str(caught.value) == EMPTY_REPOSITORY


def test_shallow_clone_missing_base(repo, tmp_path):
    repo.write("a.py", "x = 1\n")
    first = repo.commit()
    repo.write("a.py", "x = 2\n")
    repo.commit()
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo.path}", str(shallow))
    view = RepoView.discover(shallow)
    with unchanged(shallow):
        for rev in (first, "HEAD~1"):
            with pytest.raises(GitError, match="is not in this shallow clone; fetch more history: "
                                               "git fetch --deepen=N or --unshallow"):
                view.resolve(rev)
        assert view.resolve("HEAD")


def test_merge_base(repo):
    repo.write("a.py", "x = 1\n")
    fork = repo.commit()
    repo.git("checkout", "-q", "-b", "feature")
    repo.write("a.py", "x = 2\n")
    repo.commit()
    repo.git("checkout", "-q", "main")
    repo.write("b.py", "y = 1\n")
    repo.commit()
    repo.git("checkout", "-q", "--orphan", "unrelated")
    repo.write("c.py", "z = 1\n")
    repo.commit()
    view = RepoView.discover(repo.path)
    with unchanged(repo.path):
        assert view.merge_base("main", "feature") == fork
        with pytest.raises(GitError, match="no common ancestor"):
            view.merge_base("main", "unrelated")


# -- changed files ---------------------------------------------------------------------------
def test_worktree_index_and_commit_heads(repo):
    repo.write(".gitignore", "*.log\n")
    repo.write("modified.py", "a = 1\n")
    repo.write("deleted.py", "gone = 1\n")
    repo.write("staged.py", "s = 1\n")
    base = repo.commit()
    repo.write("modified.py", "a = 2\n")
    (repo.path / "deleted.py").unlink()
    repo.write("staged.py", "s = 2\n")
    repo.git("add", "staged.py")
    repo.write("untracked.py", "u = 1\n")
    repo.write("ignored.log", "noise\n")
    view = RepoView.discover(repo.path)
    with unchanged(repo.path):
        worktree = by_path(view.changed_files(base))
        index = by_path(view.changed_files(base, INDEX))
    assert {p: c.status for p, c in worktree.items()} == {
        "modified.py": "modified", "deleted.py": "deleted", "staged.py": "modified", "untracked.py": "added"}
    assert worktree["untracked.py"].untracked and worktree["modified.py"].head_blob is None
    assert {p: c.status for p, c in index.items()} == {"staged.py": "modified"}
    assert view.read_head(index["staged.py"]) == "s = 2\n"
    assert view.read_base(worktree["deleted.py"]) == "gone = 1\n" and view.read_head(worktree["deleted.py"]) is None
    assert view.read_base(worktree["untracked.py"]) is None
    head = repo.commit()
    commits = by_path(view.changed_files(base, head))
    assert set(commits) == {"modified.py", "deleted.py", "staged.py", "untracked.py", "ignored.log"} - {"ignored.log"}
    assert commits["staged.py"].head_blob and view.read_head(commits["staged.py"]) == "s = 2\n"


def test_paths_limit_files(repo):
    repo.write("a.py", "a = 1\n")
    repo.write("sub/b.py", "b = 1\n")
    repo.write("sub/c.py", "c = 1\n")
    base = repo.commit()
    for name in ("a.py", "sub/b.py", "sub/c.py"):
        repo.write(name, "changed = 1\n")
    repo.write("sub/new.py", "n = 1\n")
    view = RepoView.discover(repo.path)
    assert [c.path for c in view.changed_files(base, WORKTREE, ["sub"])] == ["sub/b.py", "sub/c.py", "sub/new.py"]
    assert [c.path for c in view.changed_files(base, WORKTREE, ["a.py", "sub/new.py"])] == ["a.py", "sub/new.py"]
    assert len(view.changed_files(base, WORKTREE, ["."])) == 4
    with pytest.raises(GitError, match="outside the repository"):
        view.changed_files(base, WORKTREE, ["../elsewhere"])


def test_tracked_rename_follows_old_content(repo):
    repo.write("old.py", "".join(f"line_{i} = {i}\n" for i in range(20)))
    base = repo.commit()
    repo.git("mv", "old.py", "new.py")
    with open(repo.path / "new.py", "a") as handle:
        handle.write("extra = 1\n")
    view = RepoView.discover(repo.path)
    with unchanged(repo.path):
        for head in (WORKTREE, INDEX):
            [change] = view.changed_files(base, head)
            assert (change.status, change.path, change.old_path) == ("renamed", "new.py", "old.py")
            assert view.read_base(change).startswith("line_0 = 0\n")
        [change] = view.changed_files(base, WORKTREE)
        assert view.read_head(change).endswith("extra = 1\n")


def test_untracked_rename_is_detected(repo):
    body = "".join(f"value_{i} = {i}\n" for i in range(30))
    repo.write("exact.py", body)
    repo.write("similar.py", "import torch\n" + body)
    repo.write("unrelated.py", "a = 1\n")
    base = repo.commit()
    os.rename(repo.path / "exact.py", repo.path / "exact_moved.py")
    (repo.path / "similar.py").unlink()
    repo.write("similar_moved.py", "import torch\n" + body.replace("value_3 = 3", "value_3 = 33"))
    (repo.path / "unrelated.py").unlink()
    repo.write("brand_new.py", "completely = 'different'\n")
    view = RepoView.discover(repo.path)
    with unchanged(repo.path):
        changes = by_path(view.changed_files(base))
    assert changes["exact_moved.py"].status == "renamed" and changes["exact_moved.py"].old_path == "exact.py"
    assert changes["exact_moved.py"].similarity == 100
    assert changes["similar_moved.py"].old_path == "similar.py" and 50 <= changes["similar_moved.py"].similarity < 100
    assert changes["unrelated.py"].status == "deleted" and changes["brand_new.py"].status == "added"
    assert "exact.py" not in changes and "similar.py" not in changes
    assert view.read_base(changes["similar_moved.py"]).startswith("import torch\n")


def test_untracked_again_after_rm_cached_is_a_modification(repo):
    repo.write("train.py", "lr = 0.1\n")
    base = repo.commit()
    repo.git("rm", "-q", "--cached", "train.py")
    repo.write("train.py", "lr = 0.2\n")
    view = RepoView.discover(repo.path)
    [change] = view.changed_files(base)
    assert (change.status, change.path) == ("modified", "train.py")
    assert (view.read_base(change), view.read_head(change)) == ("lr = 0.1\n", "lr = 0.2\n")


def test_paths_with_spaces_non_ascii_and_leading_dash(repo):
    names = ["my model.py", "modèle_é.py", "-rf.py", "--output=x.py", "dir with space/tränen.py"]
    for name in names:
        repo.write(name, "lr = 0.1\n")
    base = repo.commit()
    for name in names:
        repo.write(name, "lr = 0.2\n")
    repo.write("-new untracked ü.py", "x = 1\n")
    view = RepoView.discover(repo.path)
    with unchanged(repo.path):
        changes = by_path(view.changed_files(base))
        assert set(changes) == set(names) | {"-new untracked ü.py"}
        for name in names:
            assert view.read_base(changes[name]) == "lr = 0.1\n"
            assert view.read_head(changes[name]) == "lr = 0.2\n"
            assert [c.path for c in view.changed_files(base, WORKTREE, [name])] == [name]
            assert view.blob_text(base, name) == "lr = 0.1\n"


def test_symlinks_are_flagged_not_read(repo):
    repo.write("real.py", "x = 1\n")
    repo.write("replaced.py", "y = 1\n")
    base = repo.commit()
    (repo.path / "replaced.py").unlink()
    os.symlink("real.py", repo.path / "replaced.py")
    os.symlink("real.py", repo.path / "alias.py")
    view = RepoView.discover(repo.path)
    changes = by_path(view.changed_files(base))
    assert changes["replaced.py"].symlink and changes["alias.py"].symlink
    assert "symbolic link" in changes["replaced.py"].skip_reason
    repo.commit()
    with pytest.raises(Exception, match="symbolic link"):
        view.blob_text("HEAD", "alias.py")


# -- texts -------------------------------------------------------------------------------------
@pytest.mark.parametrize("encoded", [
    codecs.BOM_UTF8 + "lr = 0.1  # é\n".encode("utf-8"),
    codecs.BOM_UTF16_LE + "lr = 0.1  # é\n".encode("utf-16-le"),
    codecs.BOM_UTF16_BE + "lr = 0.1  # é\n".encode("utf-16-be"),
], ids=["utf-8-bom", "utf-16-le-bom", "utf-16-be-bom"])
def test_byte_order_marks_decode(repo, encoded):
    repo.write("train.py", encoded)
    base = repo.commit()
    view = RepoView.discover(repo.path)
    assert view.blob_text(base, "train.py") == "lr = 0.1  # é\n"
    assert view.worktree_text("train.py") == "lr = 0.1  # é\n"


def test_invalid_utf8_and_binary_raise_specific_errors(repo):
    repo.write("latin1.py", "x = 1\n# caf\xe9\n".encode("latin-1"))
    repo.write("blob.py", b"x = 1\n\0\x01\x02")
    base = repo.commit()
    view = RepoView.discover(repo.path)
    with pytest.raises(UndecodableFile) as caught:
        view.blob_text(base, "latin1.py")
    assert caught.value.reason == "not valid UTF-8 (byte 0xe9 at line 2)"
    with pytest.raises(BinaryFile) as binary:
        view.blob_text(base, "blob.py")
    assert str(binary.value) == "blob.py: binary file, skipped"


def test_blob_texts_are_cached_by_blob_id(repo):
    repo.write("a.py", "same = 1\n")
    repo.write("b.py", "same = 1\n")
    base = repo.commit()
    view = RepoView.discover(repo.path)
    assert view.blob_id(base, "a.py") == view.blob_id(base, "b.py")
    assert view.blob_text(base, "a.py") is view.blob_text(base, "b.py")
    assert view.blob_text(base, "missing.py") is None
    repo.write("a.py", "same = 2\n")
    repo.git("add", "a.py")
    assert view.blob_text(INDEX, "a.py") == "same = 2\n"


# -- locks, permissions, state -----------------------------------------------------------------
def test_locked_index_still_reads(repo):
    repo.write("train.py", "lr = 0.1\n")
    base = repo.commit()
    repo.write("train.py", "lr = 0.2\n")
    os.utime(repo.path / "train.py", ns=(1, 1))  # stat-dirty: git diff would like to refresh the index
    (repo.path / ".git" / "index.lock").write_text("")
    view = RepoView.discover(repo.path)
    with unchanged(repo.path):
        assert [c.path for c in view.changed_files(base)] == ["train.py"]
        assert view.changed_files(base, INDEX) == []
    assert (repo.path / ".git" / "index.lock").exists()


def test_read_only_repository(repo):
    repo.write("train.py", "lr = 0.1\n")
    base = repo.commit()
    repo.write("train.py", "lr = 0.2\n")
    modes = {}
    for directory, dirs, files in os.walk(repo.path):
        for name in dirs + files:
            full = os.path.join(directory, name)
            modes[full] = os.lstat(full).st_mode
            os.chmod(full, modes[full] & ~0o222)
    try:
        view = RepoView.discover(repo.path)
        with unchanged(repo.path):
            [change] = view.changed_files(base)
            assert view.read_head(change) == "lr = 0.2\n"
    finally:
        for full, mode in modes.items():
            os.chmod(full, mode)


def test_state_token_tracks_outside_changes(repo):
    repo.write("train.py", "lr = 0.1\n")
    repo.commit()
    view = RepoView.discover(repo.path)
    token = view.state_token()
    view.changed_files(view.resolve("HEAD"))
    assert view.state_token() == token
    repo.write("train.py", "lr = 0.2\n")
    repo.git("add", "train.py")
    staged = view.state_token()
    assert staged != token
    repo.git("commit", "-q", "-m", "second")
    committed = view.state_token()
    assert committed != staged
    repo.git("branch", "topic/nested")
    assert view.state_token() != committed


def test_unmerged_index_entry_is_skipped(repo):
    base = repo.conflicted_merge("train.py", "lr = 0.1\n", "lr = 0.2\n", "lr = 0.3\n")
    view = RepoView.discover(repo.path)
    staged = by_path(view.changed_files(base, INDEX))
    assert staged["train.py"].unmerged and "unmerged" in staged["train.py"].skip_reason
    worktree = by_path(view.changed_files(base))
    assert "<<<<<<<" in view.read_head(worktree["train.py"])
