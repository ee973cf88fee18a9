"""``mldiff log`` on histories that are damaged or long: a blob missing from the object
store (deleted loose object, as in a partial or damaged clone) costs its commit, not the
walk; a walk killed half way (SIGINT, SIGKILL) leaves a valid cache and the next one
analyses only what is left. Real repositories, the real CLI in a subprocess."""
from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

import pytest

from conftest import Repo, git, mldiff
from repo_snapshot import unchanged

CACHE = ("mldiff/log-cache",)
STATS = re.compile(r"mldiff: (\d+) commits walked, (\d+) change files mldiff reads: (\d+) from the cache, "
                   r"(\d+) analysed \((\d+) files\)")
PROGRESS = re.compile(rb"mldiff: (\d+)/(\d+) commits")

MODEL = "import torch\n" + "".join(f"layer{i} = torch.nn.Linear({i + 1}, {i + 2})\n" for i in range(40))
TRAIN = MODEL + "opt = torch.optim.Adam(model.parameters(), lr=0.001)\n"


@pytest.fixture(autouse=True)
def _no_parent_repository(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))


def stats(stderr: str) -> tuple[int, ...]:
    match = STATS.search(stderr)
    assert match, stderr
    return tuple(int(group) for group in match.groups())


def lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


# -- an unreadable object ----------------------------------------------------------------------------
@pytest.fixture
def damaged(repo: Repo, tmp_path) -> dict:
    """root (train.py) -> lr change -> train.py renamed to fit.py and edited (git needs the
    old blob to see the rename) -> lr change in fit.py; then the rename's old blob is
    deleted from the object store. ``intact``: a clone taken before."""
    shas = {}
    repo.write("train.py", TRAIN)
    shas["root"] = repo.commit("initial")
    repo.write("train.py", TRAIN.replace("0.001", "0.002"))
    shas["lr"] = repo.commit("lr 0.002")
    repo.git("mv", "train.py", "fit.py")
    repo.write("fit.py", TRAIN.replace("0.001", "0.002").replace("layer3 =", "block3 ="))
    shas["rename"] = repo.commit("rename train.py to fit.py")
    repo.write("fit.py", TRAIN.replace("0.001", "0.02").replace("layer3 =", "block3 ="))
    shas["head"] = repo.commit("lr 0.02")
    intact = tmp_path / "intact.git"
    git(tmp_path, "clone", "-q", "--bare", "--no-local", str(repo.path), str(intact))
    blob = repo.git("rev-parse", f"{shas['lr']}:train.py").strip()
    loose = repo.path / ".git" / "objects" / blob[:2] / blob[2:]
    assert loose.is_file(), "the blob must be a loose object (no gc, no pack)"
    loose.unlink()
    assert subprocess.run(["git", "cat-file", "-e", blob], cwd=repo.path, check=False).returncode != 0
    return {**shas, "blob": blob, "intact": intact}


def test_an_unreadable_blob_costs_its_commit_not_the_walk(repo, damaged):
    plain = subprocess.run(["git", "log", "--raw", "-M", "--first-parent"], cwd=repo.path, capture_output=True, check=False,
                           text=True)
    assert plain.returncode != 0 and f"unable to read {damaged['blob']}" in plain.stderr  # git itself stops
    with unchanged(repo.path, CACHE):
        result = mldiff("log", "--format", "json", "--stats", cwd=repo.path)
    assert result.returncode == 0, result.stderr
    by_commit = {item["commit"]: item for item in lines(result.stdout)}
    intact = {item["commit"]: item
              for item in lines(mldiff("log", "--format", "json", "--repo", str(damaged["intact"])).stdout)}
    # The newest commit, which git listed before it stopped, has its finding as in an intact clone.
    assert by_commit[damaged["head"]]["findings"] == intact[damaged["head"]]["findings"] != []
    # The rename's commit is listed (it has no finding) with notes naming the path and the object.
    rename = by_commit[damaged["rename"]]
    assert rename["findings"] == []
    assert {(e["path"], e["object"]) for e in rename["errors"]} == {("train.py", damaged["blob"])}
    assert any("renames not followed" in e["message"] for e in rename["errors"])
    # The older commits still come: the one whose head is the missing blob says so.
    lr = by_commit[damaged["lr"]]
    assert [(e["path"], e["object"]) for e in lr["errors"]] == [("train.py", damaged["blob"])]
    assert "head side" in lr["errors"][0]["message"] and "missing" in lr["errors"][0]["message"]
    assert (damaged["root"] in by_commit) == (damaged["root"] in intact)
    assert stats(result.stderr)[0] == 4


def test_the_text_format_lists_the_damaged_commit_with_a_note(repo, damaged):
    with unchanged(repo.path, CACHE):
        result = mldiff("log", cwd=repo.path)
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    header = out.index(next(line for line in out if line.endswith(" rename train.py to fit.py")))
    assert damaged["rename"].startswith(out[header].split()[0])
    assert out[header + 1].startswith("    note: train.py: renames not followed") and damaged["blob"] in out[header + 1]
    assert "commits read objects missing from this repository" in result.stderr
    assert "lr 0.02" in result.stdout and "ML301" in result.stdout


def test_what_could_not_be_read_is_not_cached(repo, damaged):
    first = mldiff("log", "--stats", cwd=repo.path)
    second = mldiff("log", "--stats", cwd=repo.path)
    assert second.stdout == first.stdout
    # 4 commits change train.py/fit.py: the rename's commit and the file with the missing blob are
    # analysed again (the object may be fetched later); the other two come from the cache.
    assert stats(first.stderr)[2:4] == (0, 4) and stats(second.stderr)[2:4] == (2, 2)


# -- an interrupted walk -----------------------------------------------------------------------------
COMMITS = 120


@pytest.fixture
def long_history(repo: Repo) -> Repo:
    """COMMITS commits, each changing the learning rate in one of three files."""
    for i in range(3):
        repo.write(f"exp{i}.py", TRAIN)
    repo.commit("experiment files")
    for i in range(COMMITS):
        repo.write(f"exp{i % 3}.py", TRAIN.replace("0.001", f"0.{i + 2:04d}"))
        repo.commit(f"experiment {i}")
    return repo


def interrupted_walk(repo: Repo, how: signal.Signals, after: int) -> int:
    """Start ``mldiff log`` with stderr on a terminal (for its progress line), send ``how``
    once it reports ``after`` commits done, and return the exit status."""
    primary, secondary = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "mldiff", "log"], cwd=repo.path, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=secondary, start_new_session=True)
    os.close(secondary)
    seen = b""
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 1)
            if not ready:
                continue
            try:
                seen += os.read(primary, 4096)
            except OSError:
                break
            done = [int(match.group(1)) for match in PROGRESS.finditer(seen)]
            if done and done[-1] >= after:
                process.send_signal(how)
                break
        else:
            raise AssertionError(f"no progress: {seen!r}")
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        try:
            os.killpg(process.pid, signal.SIGKILL)  # pool workers it left, if any
        except ProcessLookupError:
            pass
        os.close(primary)
    return code


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL])
def test_an_interrupted_walk_resumes_where_it_stopped(long_history, how):
    reference = mldiff("log", "--no-cache", "--format", "json", cwd=long_history.path)
    assert reference.returncode == 0
    with unchanged(long_history.path, CACHE):
        code = interrupted_walk(long_history, how, after=8)
    assert code == (130 if how == signal.SIGINT else -signal.SIGKILL)
    cache = long_history.path / ".git" / "mldiff" / "log-cache"
    for entry in cache.glob("*.json"):  # every entry on disk is whole
        assert json.loads(entry.read_text())["format"] == 1
    with unchanged(long_history.path, CACHE):
        resumed = mldiff("log", "--format", "json", "--stats", cwd=long_history.path)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout == reference.stdout
    walked, to_analyse, from_cache, analysed, _ = stats(resumed.stderr)
    assert (walked, to_analyse) == (COMMITS + 1, COMMITS + 1)
    assert from_cache >= 8 and analysed == to_analyse - from_cache and analysed > 0
