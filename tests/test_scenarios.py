"""The two scenarios that started mldiff (issue 2), as real repositories, and ``mldiff demo``."""
from __future__ import annotations

import json
import os
import re

import pytest

from conftest import git, mldiff
from mldiff import scenarios
from repo_snapshot import unchanged


@pytest.fixture(autouse=True)
def _no_parent_repository(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))


def check_scenario(name, tmp_path):
    repo = scenarios.build_repo(name, tmp_path / name)
    with unchanged(repo):
        result = mldiff("check", "--format", "json", cwd=repo)
    assert result.returncode in (0, 1), result.stderr
    data = json.loads(result.stdout)
    assert data["errors"] == []
    assert result.returncode == 1, f"{name}: no finding at warning or above, got {data['findings']}"
    return repo, data["findings"]


def line_of(repo, text):
    lines = (repo / "train.py").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def test_build_repo_commits_before_and_leaves_after_in_the_working_tree(tmp_path):
    repo = scenarios.build_repo("normalize_removed", tmp_path / "scenario")
    source = scenarios.scenario_dir("normalize_removed")
    assert git(repo, "show", "HEAD:train.py") == (source / "before" / "train.py").read_text()
    assert (repo / "train.py").read_text() == (source / "after" / "train.py").read_text()
    assert git(repo, "status", "--porcelain") == " M train.py\n"


def test_normalize_removed(tmp_path):
    repo, findings = check_scenario("normalize_removed", tmp_path)
    [finding] = findings
    line = line_of(repo, "transform = transforms.ToTensor()")
    assert (finding["path"], finding["code"], finding["family"], finding["severity"]) == \
        ("train.py", "ML201", "normalization", "warning")
    assert finding["line"] == line and finding["base_line"] == line  # anchored where it stood
    assert "Normalize((0.5,), (0.5,)) removed" in finding["message"]
    assert "Normalize((0.5,), (0.5,))" in finding["before"] and finding["after"] is None


def test_mixed_precision(tmp_path):
    repo, findings = check_scenario("mixed_precision", tmp_path)
    autocast = line_of(repo, "with torch.cuda.amp.autocast(enabled=USE_MIXED_PRECISION):")
    backward = line_of(repo, "scaler.scale(loss).backward()")
    step = line_of(repo, "optimizer.step()")
    codes = {(f["code"], f["line"]) for f in findings}
    assert all(f["path"] == "train.py" for f in findings)
    # precision: autocast added (fp16 by default on CUDA)
    assert ("ML101", autocast) in codes, findings
    assert next(f for f in findings if f["code"] == "ML101")["family"] == "precision"
    # optimizer.step() bypasses scaler.step: gradients stay scaled
    assert {("ML803", backward), ("ML803", step)} & codes, findings
    # scaler used without being created
    assert ("ML804", backward) in codes, findings
    assert {f["family"] for f in findings if f["code"] in ("ML803", "ML804")} == {"training_loop"}


def test_demo_runs_every_scenario_and_cleans_up(tmp_path):
    result = mldiff("demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for name in scenarios.scenario_names():
        assert f"== {name}:" in result.stdout
    assert re.search(r"^train\.py:\d+:\d+: ML201 \[normalization\] .*removed$", result.stdout, re.M)
    built = re.findall(r"^built (\S+): before/ committed", result.stdout, re.M)
    assert len(built) == len(scenarios.scenario_names())
    assert all(not os.path.exists(path) for path in built)


def test_demo_keep(tmp_path):
    keep = tmp_path / "kept"
    result = mldiff("demo", "--keep", str(keep), "normalize_removed", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert git(keep / "normalize_removed", "status", "--porcelain") == " M train.py\n"
    again = mldiff("demo", "--keep", str(keep), "normalize_removed", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr
    unknown = mldiff("demo", "no_such_scenario", cwd=tmp_path)
    assert unknown.returncode == 2 and unknown.stderr.startswith("mldiff: no scenario 'no_such_scenario'")
