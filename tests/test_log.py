"""``mldiff log`` and ``mldiff show`` end to end: the real CLI on real repositories with a
scripted history (root commit, a Normalize removal three commits back, an LR change, a
merge), its filters, the per-commit cache (hits seen through ``--stats``, invalidated
by the mldiff version and by settings), and a repository left as it was."""
from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys

import pytest

import mldiff as mldiff_package
from conftest import Repo, git, mldiff, read_terminal
from mldiff import cli
from repo_snapshot import unchanged

CACHE = ("mldiff/log-cache",)
HEADER = re.compile(r"^(?P<short>[0-9a-f]{7,}) (?P<date>\d{4}-\d\d-\d\d) (?P<subject>.*)$")
FINDING = re.compile(r"^    (?P<path>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<code>ML\d+) \[(?P<family>\w+)\] (?P<msg>.+)$")
STATS = re.compile(r"mldiff: (\d+) commits walked, (\d+) change files mldiff reads: (\d+) from the cache, "
                   r"(\d+) analysed \((\d+) files\)")

TRAIN = """import torch
from torchvision import transforms

torch.backends.cuda.matmul.allow_tf32 = True
transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
LR = 0.001
model = torch.nn.Linear(2, 2)
opt = torch.optim.Adam(model.parameters(), lr=LR)
"""
EVAL = """from torchvision import transforms
transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
"""


def without_normalize(text: str) -> str:
    return text.replace("transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])",
                        "transforms.ToTensor()")


@pytest.fixture(autouse=True)
def _no_parent_repository(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.fixture
def history(repo: Repo) -> dict[str, str]:
    """root -> docs -> Normalize removed from train.py (HEAD~3) -> LR change -> Normalize
    removed from eval.py -> docs (HEAD)."""
    shas = {}
    repo.write("train.py", TRAIN)
    repo.write("eval.py", EVAL)
    shas["root"] = repo.commit("initial training script")
    repo.write("README.md", "# project\n")
    shas["docs"] = repo.commit("add a readme")
    repo.write("train.py", without_normalize(TRAIN))
    shas["removal"] = repo.commit("simplify the transform")
    repo.write("train.py", without_normalize(TRAIN).replace("0.001", "0.01"))
    shas["lr"] = repo.commit("faster learning")
    repo.write("eval.py", without_normalize(EVAL))
    shas["eval"] = repo.commit("eval: plain tensors")
    repo.write("README.md", "# project\n\nMore words.\n")
    shas["head"] = repo.commit("docs")
    return shas


def log(repo: Repo, *args: str, owned=CACHE):
    """Run ``mldiff log`` and assert that nothing but mldiff's own cache changed."""
    with unchanged(repo.path, owned):
        result = mldiff("log", *args, cwd=repo.path)
    assert result.returncode == 0, result.stderr
    return result


def commits_in(text_output: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """[(subject, [(path, code), ...]), ...] from the text format."""
    out: list[tuple[str, list[tuple[str, str]]]] = []
    for line in text_output.splitlines():
        header = HEADER.match(line)
        if header:
            out.append((header["subject"], []))
            continue
        finding = FINDING.match(line)
        assert finding and out, f"unexpected line: {line!r}"
        out[-1][1].append((finding["path"], finding["code"]))
    return out


def stats(result) -> tuple[int, ...]:
    match = STATS.search(result.stderr)
    assert match, result.stderr
    return tuple(int(group) for group in match.groups())


# -- what it finds ------------------------------------------------------------------------------
def test_normalize_removal_three_commits_back_is_found(repo, history):
    result = log(repo, "--family", "normalization")
    assert commits_in(result.stdout) == [("eval: plain tensors", [("eval.py", "ML201")]),
                                          ("simplify the transform", [("train.py", "ML201")])]
    lines = result.stdout.splitlines()
    header = HEADER.match(lines[2])
    assert history["removal"].startswith(header["short"])
    assert header["date"] == git(repo.path, "log", "-1", "--format=%as", history["removal"]).strip()
    finding = FINDING.match(lines[3])
    assert finding["line"] == "5" and "Normalize((0.5,), (0.5,)) removed" in finding["msg"]
    assert result.stderr.splitlines()[0] == "mldiff: 2 findings in 2 of 6 commits"


def test_the_question_in_one_command(repo, history):
    """Which commits touched normalization in train.py in the last 50 commits?"""
    result = log(repo, "-n", "50", "--family", "normalization", "--", "train.py")
    assert commits_in(result.stdout) == [("simplify the transform", [("train.py", "ML201")])]


def test_every_family_and_the_root_commit(repo, history):
    result = log(repo)
    assert commits_in(result.stdout) == [
        ("eval: plain tensors", [("eval.py", "ML201")]),
        ("faster learning", [("train.py", "ML301")]),
        ("simplify the transform", [("train.py", "ML201")]),
        # The root commit adds its files: only problems in the code itself would show there.
    ]
    everything = log(repo, "--all")
    assert [subject for subject, _ in commits_in(everything.stdout)] == [
        "docs", "eval: plain tensors", "faster learning", "simplify the transform", "add a readme",
        "initial training script"]


def test_paths_limit_files_and_directories(repo, history):
    assert commits_in(log(repo, "--", "eval.py").stdout) == [("eval: plain tensors", [("eval.py", "ML201")])]
    assert commits_in(log(repo, "--", "README.md").stdout) == []
    sub = repo.path / "sub"
    sub.mkdir()
    with unchanged(repo.path, CACHE):
        from_sub = mldiff("log", "--family", "normalization", "--", "../train.py", cwd=sub)
    assert [s for s, _ in commits_in(from_sub.stdout)] == ["simplify the transform"]


def test_max_count_walks_the_last_n_commits(repo, history):
    assert commits_in(log(repo, "-n", "3", "--family", "normalization").stdout) == [
        ("eval: plain tensors", [("eval.py", "ML201")])]
    four = log(repo, "-n", "4", "--family", "normalization", "--stats")
    assert [s for s, _ in commits_in(four.stdout)] == ["eval: plain tensors", "simplify the transform"]
    assert stats(four)[0] == 4
    assert log(repo, "-n", "0").stdout == ""


def test_revision_ranges(repo, history):
    result = log(repo, f"{history['docs']}..{history['lr']}")
    assert [s for s, _ in commits_in(result.stdout)] == ["faster learning", "simplify the transform"]
    single = log(repo, history["removal"], "--family", "normalization")
    assert [s for s, _ in commits_in(single.stdout)] == ["simplify the transform"]
    open_ended = log(repo, f"{history['lr']}..", "--stats")
    assert [s for s, _ in commits_in(open_ended.stdout)] == ["eval: plain tensors"]
    assert stats(open_ended)[0] == 2


def test_select_and_ignore(repo, history):
    assert commits_in(log(repo, "--select", "ML3").stdout) == [("faster learning", [("train.py", "ML301")])]
    ignored = log(repo, "--ignore", "normalization,ML104")
    assert [s for s, _ in commits_in(ignored.stdout)] == ["faster learning"]


def test_json_lines(repo, history):
    result = log(repo, "--format", "json", "--family", "normalization,learning_rate")
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["subject"] for o in objects] == ["eval: plain tensors", "faster learning", "simplify the transform"]
    every = [json.loads(line) for line in log(repo, "--format", "json", "--all").stdout.splitlines()]
    assert every[-1]["subject"] == "initial training script" and every[-1]["parents"] == []
    removal = objects[2]
    assert removal["commit"] == history["removal"] and history["removal"].startswith(removal["short"])
    assert removal["parents"] == [history["docs"]]
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$", removal["date"])
    [finding] = removal["findings"]
    assert finding["code"] == "ML201" and finding["path"] == "train.py" and finding["line"] == 5
    assert finding["before"].endswith("Normalize((0.5,), (0.5,))") and removal["errors"] == []
    assert result.stderr == ""


def test_merge_commits_first_parent_and_all_parents(repo, history):
    repo.git("checkout", "-q", "-b", "tune", history["head"])
    repo.write("train.py", without_normalize(TRAIN).replace("0.001", "0.1"))
    repo.commit("try a huge learning rate")
    repo.git("checkout", "-q", "main")
    repo.write("NOTES.md", "notes\n")
    repo.commit("notes")
    repo.git("merge", "-q", "--no-ff", "-m", "merge tune", "tune")
    first = log(repo, "--family", "learning_rate", "-n", "3")
    assert commits_in(first.stdout) == [("merge tune", [("train.py", "ML301")])]
    every = log(repo, "--family", "learning_rate", "--all-parents", "-n", "4")
    assert [s for s, _ in commits_in(every.stdout)] == ["merge tune", "try a huge learning rate"]
    shown = show(repo, "HEAD", "--format", "json")
    assert json.loads(shown.stdout)["base"] == repo.git("rev-parse", "HEAD^1").strip()


def test_a_bare_clone(repo, history, tmp_path):
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo.path), str(bare))
    with unchanged(bare, CACHE):
        result = mldiff("log", "--repo", str(bare), "--family", "normalization")
    assert result.returncode == 0, result.stderr
    assert [s for s, _ in commits_in(result.stdout)] == ["eval: plain tensors", "simplify the transform"]


# -- the cache ----------------------------------------------------------------------------------
def test_second_run_comes_from_the_cache(repo, history):
    cold = log(repo, "--stats")
    warm = log(repo, "--stats")
    assert warm.stdout == cold.stdout
    # 6 walked; root, removal, lr, eval change Python files.
    assert stats(cold) == (6, 4, 0, 4, 5)
    assert stats(warm) == (6, 4, 4, 0, 0)
    entries = list((repo.path / ".git" / "mldiff" / "log-cache").glob("*.json"))
    assert len(entries) == 4 and all(re.fullmatch(r"[0-9a-f]{64}\.json", e.name) for e in entries)
    # Filters share entries: a different family or PATH is still all from the cache.
    assert stats(log(repo, "--stats", "--family", "normalization", "--", "train.py"))[2:4] == (3, 0)


def test_a_path_limited_run_caches_what_it_read_and_a_later_run_adds_the_rest(repo, history):
    assert stats(log(repo, "--stats", "--", "eval.py")) == (6, 2, 0, 2, 2)
    # eval's commit is complete already; the root gains train.py, removal and lr are new.
    assert stats(log(repo, "--stats")) == (6, 4, 1, 3, 3)
    assert stats(log(repo, "--stats")) == (6, 4, 4, 0, 0)


def test_settings_that_shape_findings_invalidate_the_cache(repo, history):
    assert stats(log(repo, "--stats"))[3] == 4
    repo.write("pyproject.toml", '[tool.mldiff.severity]\nML201 = "error"\n')
    relogged = log(repo, "--stats", "--format", "json", "--family", "normalization")
    assert stats(relogged)[2:4] == (0, 4)
    assert {f["severity"] for line in relogged.stdout.splitlines() for f in json.loads(line)["findings"]} == {"error"}
    assert stats(log(repo, "--stats"))[2:4] == (4, 0)


def test_a_new_mldiff_version_invalidates_the_cache(repo, history, monkeypatch, capsys):
    monkeypatch.chdir(repo.path)
    assert cli.main(["log", "--stats"]) == 0
    assert STATS.search(capsys.readouterr().err).groups()[2:4] == ("0", "4")
    assert cli.main(["log", "--stats"]) == 0
    assert STATS.search(capsys.readouterr().err).groups()[2:4] == ("4", "0")
    monkeypatch.setattr(mldiff_package, "__version__", mldiff_package.__version__ + ".post1")
    assert cli.main(["log", "--stats"]) == 0
    assert STATS.search(capsys.readouterr().err).groups()[2:4] == ("0", "4")


def test_no_cache_writes_nothing_at_all(repo, history):
    result = log(repo, "--no-cache", "--stats", owned=())
    assert stats(result)[2:4] == (0, 4)
    assert not (repo.path / ".git" / "mldiff").exists()


def test_a_read_only_repository_still_logs(repo, history):
    git_dir = repo.path / ".git"
    (git_dir / "mldiff").mkdir()
    (git_dir / "mldiff" / "log-cache").write_text("not a directory")  # cannot be created or written
    result = log(repo, "--stats", "--family", "normalization", owned=())
    assert [s for s, _ in commits_in(result.stdout)] == ["eval: plain tensors", "simplify the transform"]


# -- show ---------------------------------------------------------------------------------------
def show(repo: Repo, *args: str):
    with unchanged(repo.path, CACHE):
        result = mldiff("show", *args, cwd=repo.path)
    assert result.returncode in (0, 1), result.stderr
    return result


def test_show_equals_check_of_the_commit_against_its_parent(repo, history):
    for name in ("removal", "lr", "eval", "docs"):
        shown = show(repo, history[name], "--format", "json")
        with unchanged(repo.path):
            checked = mldiff("check", "--base", f"{history[name]}^", "--head", history[name], "--format", "json",
                             cwd=repo.path)
        assert json.loads(shown.stdout) == json.loads(checked.stdout), name


def test_show_text_and_formats(repo, history):
    text = show(repo, "HEAD~3")
    lines = text.stdout.splitlines()
    assert HEADER.match(lines[0])["subject"] == "simplify the transform"
    assert re.match(r"train\.py:5:\d+: ML201 \[normalization\] .*Normalize", lines[1])
    assert "mldiff: 1 finding (1 warning) in 1 file" in text.stderr
    annotations = show(repo, "HEAD~3", "--format", "github")
    assert annotations.stdout.startswith("::warning file=train.py,line=5,")
    sarif = json.loads(show(repo, "HEAD~3", "--format", "sarif").stdout)
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]] == ["ML201"]
    assert show(repo, "HEAD~3", "--fail-on", "warning").returncode == 1
    assert show(repo, "HEAD~3").returncode == 0
    assert show(repo, "HEAD~3", "--", "eval.py").stdout.splitlines()[1:] == []


def test_show_a_root_commit_compares_with_the_empty_tree(repo, history):
    result = json.loads(show(repo, history["root"], "--format", "json").stdout)
    assert result["base"] == repo.git("hash-object", "-t", "tree", "/dev/null").strip()
    assert result["head"] == history["root"]
    # Every file is new: only problems in the code itself would be reported, and it has none.
    assert result["findings"] == [] and result["errors"] == []


# -- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (("log", "--family", "colour"), "'colour' is not a family"),
    (("log", "nope..HEAD"), "unknown revision 'nope'"),
    (("log", "-n", "-1"), "must be 0 or more"),
    (("log", "--", "../../outside.py"), "outside the repository"),
    (("show", "nope"), "unknown revision 'nope'"),
    (("show",), "required: REV"),
    (("log", "--select", "MLX"), "neither a rule code"),
])
def test_bad_input_is_one_line_and_exit_2(repo, history, args, message):
    with unchanged(repo.path):
        result = mldiff(*args, cwd=repo.path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == "" and "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("mldiff: ") and message in line, line


def test_an_empty_repository(repo):
    with unchanged(repo.path):
        result = mldiff("log", cwd=repo.path)
    assert result.returncode == 2 and "no commits yet" in result.stderr


@pytest.fixture
def long_history(repo: Repo) -> Repo:
    """More changed files than checking.PARALLEL_MIN_FILES, one per commit."""
    from mldiff.checking import PARALLEL_MIN_FILES
    for i in range(3):  # the files first: a new file reports no "added" settings
        repo.write(f"exp{i}.py", TRAIN)
    repo.commit("experiment files")
    for i in range(PARALLEL_MIN_FILES + 4):
        repo.write(f"exp{i % 3}.py", TRAIN.replace("0.001", f"0.{i + 2:03d}"))
        repo.commit(f"experiment {i}")
    return repo


def test_a_long_walk_analysed_in_parallel_matches_a_serial_one(long_history):
    """Worker processes for a long walk, and the results still come in commit order."""
    from mldiff import history
    from mldiff.checking import PARALLEL_MIN_FILES
    from mldiff.commit_cache import CommitCache
    from mldiff.config import Settings
    from mldiff.gitview import RepoView

    view = RepoView.discover(long_history.path)
    try:
        def run(jobs: int) -> list[tuple[str, list[str]]]:
            cache = CommitCache.open(view.common_dir, Settings(), enabled=False)
            commits = history.walk(view, history.revision_arguments(view, None))
            items = history.commit_findings(view, commits, Settings(), history.Filter(Settings()), cache,
                                            history.Stats(), jobs=jobs)
            return [(item.commit.subject, [f"{f.path}:{f.line}:{f.code}:{f.message}" for f in item.findings])
                    for item in items]
        parallel, serial = run(2), run(1)
    finally:
        view.close()
    assert parallel == serial
    assert [subject for subject, _ in serial][:2] == [f"experiment {PARALLEL_MIN_FILES + 3}",
                                                       f"experiment {PARALLEL_MIN_FILES + 2}"]
    assert all(findings for subject, findings in serial if subject != "experiment files")


def test_progress_on_a_terminal_only_and_never_in_the_output(long_history):
    primary, secondary = pty.openpty()
    with unchanged(long_history.path, CACHE):
        result = subprocess.run([sys.executable, "-m", "mldiff", "log"], cwd=long_history.path,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=secondary, timeout=300)
    os.close(secondary)
    terminal = read_terminal(primary)
    assert result.returncode == 0
    assert re.search(r"\r\x1b\[Kmldiff: \d+/\d+ commits \(\d+ analysed\)", terminal), terminal
    assert terminal.rstrip().endswith("commits")  # the summary line, after the progress was wiped
    assert b"\x1b" not in result.stdout and b"commits (" not in result.stdout
    assert len(commits_in(result.stdout.decode())) == 24
