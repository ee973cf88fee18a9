"""``mldiff check`` end to end: the real CLI in a subprocess on real git repositories.

Exit codes (0 / 1 / 2), one-line messages on stderr, the JSON contract, and that the
repository is left exactly as it was after every run."""
from __future__ import annotations

import codecs
import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Repo, git, mldiff, read_terminal
from mldiff.checking import run_check
from repo_snapshot import unchanged

NORMALIZED = ("from torchvision import transforms\n"
              "transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])\n")
PLAIN = "from torchvision import transforms\ntransform = transforms.ToTensor()\n"
ANSI = re.compile(r"\x1b\[")
FINDING_LINE = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<code>ML\d+) \[(?P<family>\w+)\] (?P<msg>.+)$")


@pytest.fixture(autouse=True)
def _no_parent_repository(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.delenv("NO_COLOR", raising=False)


def check(repo_path: Path, *args: str, cwd: Path | None = None, env: dict | None = None):
    """Run ``mldiff check`` and assert the repository is untouched."""
    with unchanged(repo_path):
        return mldiff("check", *args, cwd=cwd or repo_path, env=env)


def check_json(repo_path: Path, *args: str, **kwargs):
    result = check(repo_path, "--format", "json", *args, **kwargs)
    assert result.returncode in (0, 1), result.stderr
    return result, json.loads(result.stdout)


def one_line_error(result) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mldiff: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture
def normalize_removed(repo: Repo) -> Repo:
    repo.write("train.py", NORMALIZED)
    repo.commit("base")
    repo.write("train.py", PLAIN)
    return repo


# -- output and exit codes -----------------------------------------------------------------------
def test_text_output_one_line_per_finding(normalize_removed):
    result = check(normalize_removed.path)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    match = FINDING_LINE.match(lines[0])
    assert match and match["path"] == "train.py" and match["line"] == "2" and match["code"] == "ML201"
    assert match["family"] == "normalization" and "Normalize((0.5,), (0.5,)) removed" in match["msg"]
    assert not ANSI.search(result.stdout + result.stderr)  # not a terminal: no colour
    assert result.stderr.splitlines()[-1].startswith("mldiff: 1 finding (1 warning) in 1 file;")


def test_nothing_changed_exits_zero(repo):
    repo.write("train.py", NORMALIZED)
    repo.commit()
    result = check(repo.path)
    assert result.returncode == 0 and result.stdout == ""
    assert "0 findings" in result.stderr


@pytest.mark.parametrize("args,status", [
    ((), 1),
    (("--fail-on", "warning"), 1),
    (("--fail-on", "hint"), 1),
    (("--fail-on", "error"), 0),
    (("--fail-on", "never"), 0),
    (("--select", "normalization"), 1),
    (("--select", "ML201"), 1),
    (("--select", "ML2"), 1),
    (("--select", "learning_rate,optimizer"), 0),
    (("--ignore", "ML201"), 0),
    (("--ignore", "normalization"), 0),
    (("--ignore", "ML2"), 0),
])
def test_fail_on_select_and_ignore(normalize_removed, args, status):
    result = check(normalize_removed.path, *args)
    assert result.returncode == status, result.stderr


def test_bad_selector_is_a_usage_error(normalize_removed):
    line = one_line_error(check(normalize_removed.path, "--select", "bogus"))
    assert "'bogus' is neither a rule code" in line
    assert check(normalize_removed.path, "--fail-on", "loud").returncode == 2


def test_json_is_the_contract_object(normalize_removed):
    result, data = check_json(normalize_removed.path)
    assert result.returncode == 1
    assert list(data) == ["version", "base", "head", "findings", "errors"]
    assert data["version"] == 1
    assert data["base"] == normalize_removed.git("rev-parse", "HEAD").strip()
    assert data["head"] == "worktree" and data["errors"] == []
    [finding] = data["findings"]
    for key in ("path", "code", "family", "severity", "message", "line", "column", "end_line", "end_column",
                "base_line", "before", "after"):
        assert key in finding
    assert (finding["path"], finding["code"], finding["severity"], finding["line"]) == \
        ("train.py", "ML201", "warning", 2)
    assert finding["base_line"] == 2 and "Normalize((0.5,), (0.5,))" in finding["before"]
    assert finding["after"] is None
    assert result.stderr == ""


def test_colour_only_on_a_terminal_and_never_with_no_color(normalize_removed):
    def run_in_pty(extra_env):
        primary, secondary = pty.openpty()
        env = {**os.environ, **extra_env}
        proc = subprocess.run([sys.executable, "-m", "mldiff", "check"], cwd=normalize_removed.path, env=env,
                              stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary, timeout=120)
        os.close(secondary)
        return proc.returncode, read_terminal(primary)

    status, output = run_in_pty({})
    assert status == 1 and ANSI.search(output) and "ML201" in output
    status, output = run_in_pty({"NO_COLOR": "1"})
    assert status == 1 and not ANSI.search(output) and "ML201" in output


# -- heads and bases ---------------------------------------------------------------------------------
def test_staged_checks_only_the_index(repo):
    repo.write("staged.py", NORMALIZED)
    repo.write("unstaged.py", NORMALIZED)
    repo.commit()
    repo.write("staged.py", PLAIN)
    repo.git("add", "staged.py")
    repo.write("unstaged.py", PLAIN)
    _, staged = check_json(repo.path, "--staged")
    assert staged["head"] == "index"
    assert [f["path"] for f in staged["findings"]] == ["staged.py"]
    _, worktree = check_json(repo.path)
    assert [f["path"] for f in worktree["findings"]] == ["staged.py", "unstaged.py"]
    assert check(repo.path, "--staged", "--head", "HEAD").returncode == 2  # mutually exclusive


def test_base_and_head_revisions_also_in_a_bare_clone(repo, tmp_path):
    repo.write("train.py", NORMALIZED)
    first = repo.commit()
    repo.write("train.py", PLAIN)
    second = repo.commit()
    repo.write("train.py", NORMALIZED)  # the working tree put it back: not what --head looks at
    _, data = check_json(repo.path, "--base", first, "--head", "HEAD")
    assert (data["base"], data["head"]) == (first, second)
    assert [f["code"] for f in data["findings"]] == ["ML201"]
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo.path), str(bare))
    _, data = check_json(bare, "--base", "HEAD~1", "--head", "main", cwd=bare)
    assert [f["code"] for f in data["findings"]] == ["ML201"]
    _, data = check_json(bare, "--repo", str(bare), "--base", "HEAD~1", "--head", "main", cwd=tmp_path)
    assert data["head"] == second
    line = one_line_error(check(bare, "--repo", str(bare), cwd=tmp_path))
    assert "bare repository" in line and "--head REV" in line


def test_merge_base_reviews_a_branch_like_three_dot_diff(repo):
    repo.write("feature.py", NORMALIZED)
    repo.write("upstream.py", NORMALIZED)
    repo.commit("fork point")
    repo.git("checkout", "-q", "-b", "feature")
    repo.write("feature.py", PLAIN)
    repo.commit("feature drops Normalize")
    repo.git("checkout", "-q", "main")
    repo.write("upstream.py", PLAIN)
    repo.commit("main drops Normalize elsewhere")
    repo.git("checkout", "-q", "feature")
    _, two_dot = check_json(repo.path, "--base", "main", "--head", "feature")
    assert sorted(f["path"] for f in two_dot["findings"]) == ["feature.py", "upstream.py"]
    _, three_dot = check_json(repo.path, "--base", "main", "--merge-base", "--head", "feature")
    assert [f["path"] for f in three_dot["findings"]] == ["feature.py"]
    _, worktree = check_json(repo.path, "--base", "main", "--merge-base")
    assert [f["path"] for f in worktree["findings"]] == ["feature.py"]


def test_paths_limit_the_check(repo):
    for name in ("a.py", "sub/b.py", "sub/c.py"):
        repo.write(name, NORMALIZED)
    repo.commit()
    for name in ("a.py", "sub/b.py", "sub/c.py"):
        repo.write(name, PLAIN)
    _, data = check_json(repo.path, "--", "a.py")
    assert [f["path"] for f in data["findings"]] == ["a.py"]
    _, data = check_json(repo.path, "--", "sub")
    assert [f["path"] for f in data["findings"]] == ["sub/b.py", "sub/c.py"]
    _, data = check_json(repo.path, "--", "c.py", cwd=repo.path / "sub")  # relative to the current directory
    assert [f["path"] for f in data["findings"]] == ["sub/c.py"]
    _, data = check_json(repo.path, "--repo", str(repo.path), "--", "sub/b.py", cwd=repo.path.parent)
    assert [f["path"] for f in data["findings"]] == ["sub/b.py"]


def test_renamed_files_are_compared_with_their_old_content(repo):
    body = NORMALIZED + "".join(f"setting_{i} = {i}\n" for i in range(12))
    repo.write("tracked.py", body)
    repo.write("untracked.py", body)
    repo.commit()
    repo.git("mv", "tracked.py", "tracked_renamed.py")
    repo.write("tracked_renamed.py", body.replace(NORMALIZED, PLAIN))
    (repo.path / "untracked.py").unlink()
    repo.write("moved/untracked.py", body.replace(NORMALIZED, PLAIN))
    _, data = check_json(repo.path)
    assert sorted((f["path"], f["code"]) for f in data["findings"]) == [
        ("moved/untracked.py", "ML201"), ("tracked_renamed.py", "ML201")]


def test_deleted_file(repo):
    repo.write("train.py", NORMALIZED)
    repo.write("other.py", "x = 1\n")
    repo.commit()
    (repo.path / "other.py").unlink()
    result, data = check_json(repo.path)
    assert data["errors"] == [] and result.returncode == 0


def test_pyproject_settings_and_cli_flags(repo):
    repo.write("pyproject.toml", '[tool.mldiff]\nignore = ["ML201"]\nexclude = ["vendor/**"]\n')
    repo.write("train.py", NORMALIZED)
    repo.write("vendor/lib.py", NORMALIZED)
    repo.commit()
    repo.write("train.py", PLAIN)
    repo.write("vendor/lib.py", PLAIN)
    assert check(repo.path).returncode == 0
    repo.write("pyproject.toml", '[tool.mldiff]\nexclude = ["vendor/**"]\n')
    _, data = check_json(repo.path)
    assert [f["path"] for f in data["findings"]] == ["train.py"]
    _, data = check_json(repo.path, "--ignore", "normalization")
    assert data["findings"] == []
    repo.write("pyproject.toml", '[tool.mldiff]\nselect = ["nonsense"]\n')
    assert "nonsense" in one_line_error(check(repo.path))


# -- bad inputs: one clear line, exit 2, never a traceback ------------------------------------------
def test_unknown_revision_and_option_like_base(normalize_removed):
    line = one_line_error(check(normalize_removed.path, "--base", "nope"))
    assert line == "mldiff: unknown revision 'nope': not a branch, tag or commit in this repository"
    for hostile in ("--base=--upload-pack=touch pwned", "--head=--output=pwned"):
        line = one_line_error(check(normalize_removed.path, hostile))
        assert "unknown revision" in line
    assert not (normalize_removed.path / "pwned").exists()


def test_not_a_repository(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    line = one_line_error(mldiff("check", cwd=plain))
    assert line.startswith("mldiff: not a git repository")
    line = one_line_error(mldiff("check", "--repo", str(tmp_path / "missing"), cwd=plain))
    assert "no such file or directory" in line


def test_empty_repository(repo):
    line = one_line_error(check(repo.path))
    assert line == ("mldiff: repository has no commits yet: nothing to compare against; "
                    "commit once or pass --base")


def test_shallow_clone_without_the_base(repo, tmp_path):
    repo.write("train.py", NORMALIZED)
    repo.commit()
    repo.write("train.py", PLAIN)
    repo.commit()
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo.path}", str(shallow))
    line = one_line_error(check(shallow, "--base", "HEAD~1"))
    assert line == ("mldiff: 'HEAD~1' is not in this shallow clone; fetch more history: "
                    "git fetch --deepen=N or --unshallow")


def test_git_missing_from_path(normalize_removed, tmp_path):
    empty = tmp_path / "no-git-here"
    empty.mkdir()
    line = one_line_error(check(normalize_removed.path, env={"PATH": str(empty)}))
    assert line == "mldiff: git is not installed or not on PATH"


def test_locked_index(normalize_removed):
    lock = normalize_removed.path / ".git" / "index.lock"
    lock.write_text("")
    os.utime(normalize_removed.path / "train.py", ns=(1, 1))  # make git want to refresh the index
    assert check(normalize_removed.path).returncode == 1
    _, data = check_json(normalize_removed.path, "--staged")
    assert data["findings"] == []
    assert lock.exists()


def test_syntax_error_on_one_side_and_other_files_still_analysed(repo):
    repo.write("broken.py", "def f(:\n    pass\n")
    repo.write("train.py", NORMALIZED)
    repo.commit()
    repo.write("broken.py", "def f():\n    return (\n")
    repo.write("train.py", PLAIN)
    result, data = check_json(repo.path)
    assert result.returncode == 1
    assert [f["path"] for f in data["findings"]] == ["train.py"]
    assert {e["path"] for e in data["errors"]} == {"broken.py"}
    assert all("does not parse" in e["message"] for e in data["errors"])
    text = check(repo.path)
    assert re.search(r"^broken\.py(:\d+)?: error: .*does not parse", text.stderr, re.M)
    assert "Traceback" not in text.stderr


def test_undecodable_utf16_and_binary_files(repo):
    repo.write("latin1.py", "x = 1\n")
    repo.write("wide.py", codecs.BOM_UTF16_LE + NORMALIZED.encode("utf-16-le"))
    repo.write("blob.py", "x = 1\n")
    repo.commit()
    repo.write("latin1.py", "x = 2\n# caf\xe9\n".encode("latin-1"))
    repo.write("wide.py", codecs.BOM_UTF16_LE + PLAIN.encode("utf-16-le"))
    repo.write("blob.py", b"x = 1\n\0\x00binary")
    result, data = check_json(repo.path)
    assert [(f["path"], f["code"]) for f in data["findings"]] == [("wide.py", "ML201")]
    assert data["errors"] == [{"path": "latin1.py", "message": "head side: not valid UTF-8 (byte 0xe9 at line 2)"}]
    text = check(repo.path)
    assert "note: blob.py: binary file, skipped" in text.stderr
    assert "latin1.py: error: head side: not valid UTF-8 (byte 0xe9 at line 2)" in text.stderr


def test_large_file_is_skipped_with_a_note(repo):
    big = "weights = [\n" + "    0.0,\n" * 700_000 + "]\n"  # about 6 MB
    repo.write("train.py", NORMALIZED)
    repo.write("weights.py", "weights = []\n")
    repo.commit()
    repo.write("train.py", PLAIN)
    repo.write("weights.py", big)
    result = check(repo.path)
    assert result.returncode == 1
    assert re.search(r"^note: weights\.py: \d+\.\d MB, larger than mldiff reads \(5 MB\); skipped$", result.stderr, re.M)
    assert ": 1 of 2 changed files analysed" in result.stderr


def test_detached_head(normalize_removed):
    normalize_removed.git("checkout", "-q", "--detach", "HEAD")
    normalize_removed.write("train.py", PLAIN)
    _, data = check_json(normalize_removed.path)
    assert [f["code"] for f in data["findings"]] == ["ML201"]


def test_submodule_and_symlink_get_notes(repo, tmp_path):
    library = Repo(tmp_path / "library")
    library.write("lib.py", "a = 1\n")
    library.commit()
    repo.write("train.py", NORMALIZED)
    repo.write("real.py", "x = 1\n")
    repo.git("-c", "protocol.file.allow=always", "submodule", "add", "-q", str(library.path), "lib")
    repo.commit()
    sub = repo.path / "lib"
    (sub / "lib.py").write_text("a = 2\n")
    git(sub, "commit", "-q", "-am", "bump")
    os.symlink("real.py", repo.path / "alias.py")
    repo.write("train.py", PLAIN)
    result = check(repo.path)
    assert result.returncode == 1
    assert "note: lib: submodule or nested repository, not analysed" in result.stderr
    assert "note: alias.py: symbolic link, skipped" in result.stderr
    assert [FINDING_LINE.match(line)["path"] for line in result.stdout.splitlines()] == ["train.py"]


def test_paths_with_spaces_non_ascii_and_leading_dash(repo):
    names = ["my model.py", "modèle.py", "-rf.py", "--output=x.py"]
    for name in names:
        repo.write(name, NORMALIZED)
    repo.commit()
    for name in names:
        repo.write(name, PLAIN)
    _, data = check_json(repo.path)
    assert sorted(f["path"] for f in data["findings"]) == sorted(names)
    _, data = check_json(repo.path, "--", "--output=x.py", "modèle.py")
    assert sorted(f["path"] for f in data["findings"]) == ["--output=x.py", "modèle.py"]
    assert not (repo.path / "x").exists()


# -- many files: worker processes give the same answer ------------------------------------------------
def test_parallel_check_matches_serial_and_reports_progress(repo):
    count = 25
    for i in range(count):
        repo.write(f"pkg/m{i:02d}.py", NORMALIZED + f"index = {i}\n")
    repo.commit()
    for i in range(count):
        repo.write(f"pkg/m{i:02d}.py", PLAIN + f"index = {i}\n")
    calls = []
    with unchanged(repo.path):
        parallel = run_check(repo.path, jobs=2, progress=lambda *call: calls.append(call))
        serial = run_check(repo.path, jobs=1)
    assert len(parallel.findings) == count
    assert [f.to_json() for f in parallel.findings] == [f.to_json() for f in serial.findings]
    assert calls[0] == (0, count, "") and calls[-1][:2] == (count, count)
    assert sorted(call[2] for call in calls[1:]) == [f"pkg/m{i:02d}.py" for i in range(count)]
