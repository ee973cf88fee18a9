"""Notebooks through the real CLI on real git repositories: findings name their cell in
every format, and each bad notebook gets one clear message while the other files (and,
where the JSON can be read, the other cells) are still analysed."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import FIXTURES, Repo, mldiff
from repo_snapshot import unchanged

NOTEBOOK = (FIXTURES / "notebooks" / "train.ipynb").read_text(encoding="utf-8")
NORMALIZE_LINE = '    "    transforms.Normalize((0.1307,), (0.3081,)),\\n",\n'
LR_LINE = "optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)"


@pytest.fixture(autouse=True)
def _no_parent_repository(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))


@pytest.fixture
def committed(repo: Repo) -> Repo:
    repo.write("train.ipynb", NOTEBOOK)
    repo.write("pyproject.toml", (FIXTURES / "notebooks" / "pyproject.toml").read_text(encoding="utf-8"))
    repo.commit("notebook")
    return repo


def check(repo: Repo, *args: str):
    with unchanged(repo.path):
        return mldiff("check", *args, cwd=repo.path)


def cells(text: str) -> list[dict]:
    return json.loads(text)["cells"]


def with_cells(text: str, new_cells: list[dict]) -> str:
    data = json.loads(text)
    data["cells"] = new_cells
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def test_text_json_and_sarif_name_the_cell_and_keep_the_ipynb_line(committed: Repo) -> None:
    assert NORMALIZE_LINE in NOTEBOOK
    committed.write("train.ipynb", NOTEBOOK.replace(NORMALIZE_LINE, ""))
    text = check(committed)
    assert text.returncode == 1, text.stderr
    assert text.stdout == ("train.ipynb: cell 3, line 3: ML201 [normalization] "
                           "transforms.Normalize((0.1307,), (0.3081,)) removed\n")
    data = json.loads(check(committed, "--format", "json").stdout)
    (finding,) = data["findings"]
    assert (finding["cell"], finding["cell_id"], finding["cell_line"]) == (3, "data", 3)
    file_lines = (committed.path / "train.ipynb").read_text(encoding="utf-8").split("\n")
    assert '"])\\n"' in file_lines[finding["line"] - 1]   # where the removed line stood
    sarif = json.loads(check(committed, "--format", "sarif").stdout)
    (result,) = sarif["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == finding["line"]
    assert result["properties"]["cell"] == 3


def test_moved_and_inserted_cells_change_nothing(committed: Repo) -> None:
    original = cells(NOTEBOOK)
    new = {"cell_type": "code", "execution_count": None, "id": "peek", "metadata": {}, "outputs": [],
           "source": ["print(len(data))"]}
    committed.write("train.ipynb", with_cells(NOTEBOOK, [original[0], original[3], original[4], original[1],
                                                         new, original[2], original[5]]))
    result = check(committed, "--format", "json")
    assert result.returncode == 0, result.stdout
    assert json.loads(result.stdout)["findings"] == []


def test_large_outputs_are_read_past_the_file_size_limit(committed: Repo) -> None:
    original = cells(NOTEBOOK)
    original[5]["outputs"] = [{"output_type": "display_data", "metadata": {},
                               "data": {"image/png": "iVBORw0KGgo" * 5_000_000, "text/plain": ["<Figure>"]}}]
    head = with_cells(NOTEBOOK, original).replace("lr=1e-3", "lr=1e-2")
    assert len(head) > 50_000_000
    committed.write("train.ipynb", head)
    result = check(committed)
    assert result.stdout.startswith("train.ipynb: cell 5, line 2: ML301 [learning_rate]"), result.stdout
    assert "note:" not in result.stderr and "error" not in result.stderr
    committed.commit("plot")  # the blob side too
    committed.write("train.ipynb", head.replace("lr=1e-2", "lr=1e-1"))
    assert "ML301" in check(committed).stdout


def test_a_cell_with_a_syntax_error_is_one_error_and_the_other_cells_still_count(committed: Repo) -> None:
    head = NOTEBOOK.replace('"loss_fn = nn.CrossEntropyLoss()"', '"loss_fn = nn.CrossEntropyLoss("').replace(
        "lr=1e-3", "lr=1e-2").replace(NORMALIZE_LINE, "")
    committed.write("train.ipynb", head)
    result = check(committed)
    assert result.returncode == 1
    assert [line.split(": ML")[0] for line in result.stdout.splitlines()] == ["train.ipynb: cell 3, line 3"]
    (error,) = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert error.startswith("train.ipynb:") and "head side does not parse at line" in error
    assert "cell 5, line 3: '(' was never closed" in error


@pytest.mark.parametrize("head, expected", [
    ("{not json", "head side does not parse at line 1: not a valid notebook: "),
    ('{"nbformat": 4, "metadata": {}}', 'not a valid notebook: not a notebook: it has no "cells" list'),
])
def test_a_notebook_that_cannot_be_read_is_one_error_and_other_files_still_count(committed: Repo, head: str,
                                                                                 expected: str) -> None:
    committed.write("train.ipynb", head)
    committed.write("extra.py", "import torch\nopt = torch.optim.SGD(p, lr=0.1)\n")
    result = check(committed, "--format", "json")
    data = json.loads(result.stdout)
    assert [e["path"] for e in data["errors"]] == ["train.ipynb"]
    assert expected in data["errors"][0]["message"]
    assert "Traceback" not in result.stderr


def test_a_merge_conflict_inside_the_notebook_json(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    repo.conflicted_merge("train.ipynb", NOTEBOOK, NOTEBOOK.replace("lr=1e-3", "lr=1e-2"),
                          NOTEBOOK.replace("lr=1e-3", "lr=3e-4"))
    result = check(repo, "--format", "json")
    data = json.loads(result.stdout)
    assert data["findings"] == []
    (error,) = data["errors"]
    assert error["message"].startswith("head side has merge-conflict markers (line ")
    assert error["message"].endswith("resolve the conflict first")


def test_nbformat_3_and_cells_without_ids(repo: Repo) -> None:
    source = [cell for cell in cells(NOTEBOOK)]
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": "train"}, "worksheets": [{"cells": [
        {"cell_type": "markdown" if c["cell_type"] == "markdown" else "code",
         **({"input": c["source"], "outputs": [], "language": "python"} if c["cell_type"] == "code"
            else {"source": c["source"]})} for c in source]}]}
    text = json.dumps(v3, indent=1) + "\n"
    repo.write("old.ipynb", text)
    repo.commit("v3")
    repo.write("old.ipynb", text.replace("lr=1e-3", "lr=1e-2"))
    result = check(repo)
    assert result.stdout.startswith("old.ipynb: cell 5, line 2: ML301 [learning_rate] "), result.stdout
    assert "error" not in result.stderr


def test_log_with_a_glob_walks_notebooks_anywhere_and_names_cells(repo: Repo) -> None:
    repo.write("notebooks/train.ipynb", NOTEBOOK)
    repo.write("train.py", "import torch\nopt = torch.optim.SGD(p, lr=0.1)\n")
    repo.commit("start")
    repo.write("notebooks/train.ipynb", NOTEBOOK.replace("lr=1e-3", "lr=1e-2"))
    repo.write("train.py", "import torch\nopt = torch.optim.SGD(p, lr=0.2)\n")
    sha = repo.commit("raise both learning rates")
    result = mldiff("log", "--no-cache", "--", "*.ipynb", cwd=repo.path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{sha[:7]} {result.stdout[8:18]} raise both learning rates",
        "    notebooks/train.ipynb: cell 5, line 2: ML301 [learning_rate] learning rate 1e-3 -> 1e-2 (Adam lr)"]
