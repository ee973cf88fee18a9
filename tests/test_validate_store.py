"""Content keys, the results store, stale checkouts and confirmations (no torch needed)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mldiff.errors import MldiffError
from mldiff.validate import content, store, worktree
from mldiff.validate.gitcmd import common_dir, resolve_commit


def test_worktree_key_equals_index_key_after_add_all(repo):
    repo.write("train.py", "lr = 0.1\n")
    repo.write("gone.py", "x = 1\n")
    repo.write("run.sh", "#!/bin/sh\n")
    repo.write(".gitignore", "*.ckpt\n")
    repo.commit("base")
    repo.write("train.py", "lr = 0.2\n")
    (repo.path / "gone.py").unlink()
    (repo.path / "run.sh").chmod(0o755)
    repo.write("new dir/ünï code.py", "y = 2\n")
    repo.write("model.ckpt", "ignored weights")
    os.symlink("train.py", repo.path / "link.py")
    key = content.worktree_key(repo.path)
    assert key != content.index_key(repo.path)
    repo.git("add", "-A")
    assert content.index_key(repo.path) == key == content.worktree_key(repo.path)
    sha = repo.commit("change")
    assert content.commit_key(repo.path, sha) == key
    repo.write("train.py", "lr = 0.2 \n")   # one byte more
    assert content.worktree_key(repo.path) != key


def test_keys_respect_clean_filters(repo):
    repo.write(".gitattributes", "*.txt text eol=lf\n")
    repo.commit("attrs")
    repo.write("a.txt", b"one\r\ntwo\r\n")
    key = content.worktree_key(repo.path)
    repo.git("add", "-A")
    assert content.index_key(repo.path) == key


def test_store_paths_are_hashes_only(tmp_path):
    base, key = "a" * 40, "b" * 64
    path = store.save_result(tmp_path, base, key, {"content_key": key, "finished": 1})
    assert path == tmp_path / "mldiff" / "results" / base / f"{key}.json"
    assert [p.name for p in path.parent.iterdir()] == [path.name]   # no temp file left
    assert store.find_result(tmp_path, key)["finished"] == 1
    for bad_base, bad_key in (("../../etc", key), (base, "../x"), (base, "/tmp/evil"), ("HEAD", key)):
        with pytest.raises(MldiffError):
            store.save_result(tmp_path, bad_base, bad_key, {})


def test_find_prefers_the_given_base_then_the_newest(tmp_path):
    key = "c" * 64
    store.save_result(tmp_path, "1" * 40, key, {"base_commit": "1" * 40, "finished": 5})
    store.save_result(tmp_path, "2" * 40, key, {"base_commit": "2" * 40, "finished": 9})
    assert store.find_result(tmp_path, key)["base_commit"] == "2" * 40
    assert store.find_result(tmp_path, key, prefer_base="1" * 40)["base_commit"] == "1" * 40
    assert [r["finished"] for r in store.list_results(tmp_path)] == [9, 5]


def test_confirmations_are_keyed_by_the_exact_text(tmp_path):
    assert not store.is_confirmed(tmp_path, "python train.py")
    store.confirm(tmp_path, "python train.py")
    assert store.is_confirmed(tmp_path, "python train.py")
    assert not store.is_confirmed(tmp_path, "python train.py --lr 1")
    saved = json.loads((tmp_path / "mldiff" / "confirmed.json").read_text())
    assert [entry["command"] for entry in saved.values()] == ["python train.py"]


def test_base_checkout_has_no_hooks_and_is_removed(repo):
    repo.write("train.py", "x = 1\n")
    sha = repo.commit("base")
    marker = repo.path.parent / "hook-ran"
    hook = repo.path / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\ntouch '{marker}'\n")
    hook.chmod(0o755)
    common = common_dir(repo.path)
    with worktree.base_checkout(repo.path, common, sha) as checkout:
        assert (checkout / "train.py").read_text() == "x = 1\n"
        assert checkout.parent == common / "mldiff" / "worktrees"
    assert not checkout.exists() and not marker.exists()
    assert "mldiff" not in repo.git("worktree", "list")
    with pytest.raises(MldiffError):
        with worktree.base_checkout(repo.path, common, sha):
            raise MldiffError("a failing run")
    assert list((common / "mldiff" / "worktrees").iterdir()) == []


def test_prune_removes_checkouts_of_dead_owners_only(repo):
    sha = repo.commit("base")
    common = common_dir(repo.path)
    folder = common / "mldiff" / "worktrees"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for name, pid in (("0" * 16, dead.pid), ("1" * 16, os.getpid())):
        repo.git("worktree", "add", "--detach", "-q", "--", str(folder / name), sha)
        (folder / f"{name}.owner").write_text(json.dumps({"pid": pid, "start": worktree._process_start(pid)}))
    removed = worktree.prune_stale(repo.path, common)
    assert [p.name for p in removed] == ["0" * 16]
    assert sorted(p.name for p in folder.iterdir()) == ["1" * 16, "1" * 16 + ".owner"]
    assert len(repo.git("worktree", "list").splitlines()) == 2


def test_revisions_are_verified(repo):
    repo.commit("base")
    for bad in ("--output=/tmp/x", "-h", "HEAD~5", "nope"):
        with pytest.raises(MldiffError, match="unknown revision"):
            resolve_commit(repo.path, bad)
    assert len(resolve_commit(repo.path, "HEAD")) == 40
