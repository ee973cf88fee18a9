"""Validation of a script that trains with DDP (gloo on CPU), launched by the real torchrun with
two processes: every rank stops at step N, rank 0 records, the other ranks' facts come back
where they differ, and the batch size is confirmed per rank with the world size."""
from __future__ import annotations

import json
import shutil

import pytest

from conftest import FIXTURES, Repo, mldiff
from validation_support import RUN_ENV, assert_unchanged, edit, leftover_worktrees, processes_mentioning, take

pytest.importorskip("torch")
pytestmark = pytest.mark.slow

STEPS = 3


def ddp_repo(tmp_path) -> Repo:
    repo = Repo(tmp_path / "repo")
    for item in (FIXTURES / "tiny-ddp").iterdir():
        shutil.copy(item, repo.path / item.name)
    repo.commit("tiny-ddp")
    return repo


def run(repo: Repo) -> dict:
    completed = mldiff("validate", "--json", "--steps", str(STEPS), cwd=repo.path, env=RUN_ENV)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_ddp_batch_size_per_rank_is_confirmed_and_every_rank_stops(tmp_path):
    repo = ddp_repo(tmp_path)
    edit(repo, "train.py", '"--batch-size", type=int, default=16', '"--batch-size", type=int, default=32')
    before = take(repo.path)
    result = run(repo)
    assert result["launcher"] == "torchrun --nproc-per-node=2"
    for side in ("base", "change"):
        run_ = result[side]
        assert run_["environment"]["world_size"] == 2 and run_["facts"]["distributed"]["backend"] == "gloo"
        assert run_["steps"] == STEPS
        (other,) = run_["ranks"]   # rank 0 is the run itself
        assert other["rank"] == 1 and other["steps"] == STEPS and other["status"] == "ok"
        # Each rank reads its own shard: their inputs differ, their batch does not.
        assert "input.model" in run_["rank_differences"] and "batch.loss" not in run_["rank_differences"]
        assert run_["facts"]["model"]["wrappers"] == ["DistributedDataParallel"]
    assert result["base"]["samples_per_step"] == [16] * STEPS and result["change"]["samples_per_step"] == [32] * STEPS
    confirmed = {c["code"]: c for c in result["confirmations"]}
    assert confirmed["ML601"]["status"] == "confirmed"
    assert (confirmed["ML601"]["before"], confirmed["ML601"]["after"]) == ("16", "32")
    assert "per rank, world size 2" in confirmed["ML601"]["where"]
    assert processes_mentioning(str(repo.path)) == []
    assert leftover_worktrees(repo) == []
    assert_unchanged(before, take(repo.path))


def test_the_torchrun_command_gets_its_process_count_from_the_config(tmp_path):
    repo = ddp_repo(tmp_path)
    edit(repo, "pyproject.toml", 'command = "python train.py --epochs 2"',
         'command = "torchrun --standalone --nproc-per-node=1 train.py --epochs 2"')
    repo.commit("run with torchrun")
    edit(repo, "train.py", "default=0.05", "default=0.2")
    completed = mldiff("validate", "--steps", str(STEPS), cwd=repo.path, env=RUN_ENV)
    assert completed.returncode == 0, completed.stderr
    assert "torchrun --nproc-per-node=2" in completed.stdout.splitlines()[0]
    assert "confirmed     ML301 [learning_rate] train.py:" in completed.stdout
    stored = json.loads(mldiff("validate", "--show", "--json", cwd=repo.path).stdout)[0]
    assert stored["change"]["environment"]["world_size"] == 2 and len(stored["change"]["ranks"]) == 1
