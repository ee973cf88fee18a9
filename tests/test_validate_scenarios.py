"""Real `mldiff validate` runs of base vs change on the tiny-train fixture (CPU torch)."""
from __future__ import annotations

import json

import pytest

from conftest import mldiff
from validation_support import (RUN_ENV, STEPS, assert_unchanged, edit, leftover_worktrees, mldiff_dir, take,
                                tiny_train_repo, validate_json)

pytest.importorskip("torch")
pytestmark = pytest.mark.slow

NORMALIZE = "        Standardize(x.mean(dim=0), x.std(dim=0)),\n"


def test_normalize_removed_differs_from_step_one(tmp_path):
    repo = tiny_train_repo(tmp_path)
    edit(repo, "train.py", NORMALIZE, "")
    before = take(repo.path)
    result = validate_json(repo)
    comparison = result["comparison"]
    assert comparison["first_step_equal"] is False and comparison["first_difference_step"] == 1
    assert result["base"]["loss"][0] != result["change"]["loss"][0]
    assert "differ from step 1" in result["verdict"]
    # The static finding (a layer removed) is confirmed by the model the run built.
    (layer,) = result["confirmations"]
    assert layer["code"] == "ML1102" and layer["status"] == "confirmed" and layer["observed"] == "model.structure"
    assert layer["before"].startswith("Sequential, 5 modules") and layer["after"].startswith("Sequential, 4 modules")
    assert result["stored"] is True
    assert_unchanged(before, take(repo.path))
    assert leftover_worktrees(repo) == []
    assert not any((mldiff_dir(repo) / "runs").iterdir())


def test_learning_rate_raised_matches_step_one_then_diverges(tmp_path):
    repo = tiny_train_repo(tmp_path)
    edit(repo, "train.py", 'default=0.05', 'default=0.2')
    result = validate_json(repo)
    comparison = result["comparison"]
    assert comparison["first_step_equal"] is True
    assert comparison["first_difference_step"] == 2
    assert result["base"]["loss"][0] == result["change"]["loss"][0]
    assert all(b != c for b, c in zip(result["base"]["loss"][1:], result["change"]["loss"][1:]))
    assert "diverge from step 2" in result["verdict"]
    assert comparison["final_loss_delta"] < 0  # a higher learning rate learns faster on this problem
    # The optimizer ran at both values the code names.
    (lr,) = result["confirmations"]
    assert (lr["code"], lr["family"], lr["status"]) == ("ML301", "learning_rate", "confirmed")
    assert (lr["before"], lr["after"], lr["where"]) == ("0.05", "0.2", f"param group 0, steps 1-{STEPS}")
    assert lr["detail"].endswith(", as the code says")


def test_logging_only_change_gives_identical_losses_and_text_report(tmp_path):
    repo = tiny_train_repo(tmp_path)
    edit(repo, "train.py", 'print(f"epoch {epoch} step {step} loss {loss.item():.4f}")',
         'print(f"[epoch {epoch}] step={step} loss={loss.item():.5f}", flush=True)')
    completed = mldiff("validate", "--steps", STEPS, cwd=repo.path, env=RUN_ENV)
    assert completed.returncode == 0, completed.stderr
    assert "identical over 6 steps" in completed.stdout
    assert completed.stdout.count("  =") == 6
    assert "base: started" in completed.stderr and "change: 6 steps done" in completed.stderr
    shown = mldiff("validate", "--show", cwd=repo.path)
    assert shown.returncode == 0 and "[matches working tree]" in shown.stdout and "6 steps" in shown.stdout
    listed = json.loads(mldiff("validate", "--show", "--json", cwd=repo.path).stdout)
    assert len(listed) == 1 and listed[0]["comparison"]["identical"] is True


def test_plot_writes_both_curves(tmp_path):
    pytest.importorskip("matplotlib")
    repo = tiny_train_repo(tmp_path)
    edit(repo, "train.py", 'default=0.05', 'default=0.2')
    svg = tmp_path / "curves.svg"
    completed = mldiff("validate", "--steps", "4", "--plot", str(svg), cwd=repo.path, env=RUN_ENV)
    assert completed.returncode == 0, completed.stderr
    text = svg.read_text()
    assert text.startswith("<?xml") and "base " in text and "change" in text


def test_base_option_and_unknown_base(tmp_path):
    repo = tiny_train_repo(tmp_path)
    first = repo.git("rev-parse", "HEAD").strip()
    edit(repo, "train.py", 'default=0.05', 'default=0.2')
    repo.commit("raise lr")
    result = validate_json(repo, "--base", "HEAD~1", "--steps", "3")
    assert result["base_commit"] == first and result["comparison"]["first_difference_step"] == 2
    for bad in ("--upload-pack=touch x", "no-such-rev"):
        completed = mldiff("validate", "--base", bad, cwd=repo.path, env=RUN_ENV)
        assert completed.returncode == 2 and "unknown revision" in completed.stderr
        assert "Traceback" not in completed.stderr
