"""Every bad input of the reliability issue, in one table, against the real ``mldiff check``.

Each row builds a real repository (or a plain folder), runs the CLI in a subprocess and
expects one of four outcomes:

- ``Refused``: exit status 2, nothing on stdout, one line ``mldiff: ...`` on stderr;
- ``FileError``: exit status 0 or 1 and an ``errors`` entry for that file in ``--format json``;
- ``Note``: exit status 0 or 1 and a ``note: ...`` line on stderr (text format);
- ``Works``: the input is fine after all; these findings and no errors.

Never a traceback, and the repository is exactly as it was (``repo_snapshot``).
docs/reliability.md lists the same rows with the message each gets; a test keeps them in step.
The language server's side of the same inputs is in tests/test_lsp_bad_inputs.py.
"""
from __future__ import annotations

import codecs
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from conftest import ROOT, Repo, git, mldiff
from repo_snapshot import assert_same, snapshot

NORMALIZED = ("from torchvision import transforms\n"
              "transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])\n")
PLAIN = "from torchvision import transforms\ntransform = transforms.ToTensor()\n"


@pytest.fixture(autouse=True)
def _no_parent_repository(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.delenv("NO_COLOR", raising=False)


# -- what each row expects ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Refused:
    message: str                      # a regex for the whole line after "mldiff: "
    format = "text"


@dataclass(frozen=True)
class FileError:
    path: str
    message: str                      # a regex for the errors entry's message
    format = "json"


@dataclass(frozen=True)
class Note:
    message: str                      # a regex for the line after "note: "
    format = "text"


@dataclass(frozen=True)
class Works:
    codes: tuple[tuple[str, str], ...]  # (path, code) of every finding
    format = "json"


@dataclass
class Setup:
    repo: Path                        # where mldiff runs (and what must stay unchanged)
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    after: Callable[[], None] = lambda: None  # extra checks once mldiff has run


@dataclass(frozen=True)
class BadInput:
    name: str                         # as docs/reliability.md names it
    make: Callable[[Path], Setup]
    expect: Refused | FileError | Note | Works


# -- the inputs --------------------------------------------------------------------------------------
def normalize_removed(tmp_path: Path, name: str = "train.py") -> Repo:
    repo = Repo(tmp_path / "repo")
    repo.write(name, NORMALIZED)
    repo.commit("base")
    repo.write(name, PLAIN)
    return repo


def second_file_changed(tmp_path: Path, name: str, base: str | bytes, head: str | bytes) -> Setup:
    """``normalize_removed`` plus ``name`` committed as ``base`` and changed to ``head``."""
    repo = normalize_removed(tmp_path)
    repo.write(name, base)
    repo.commit()
    repo.write(name, head)
    return Setup(repo.path)


def not_a_repository(tmp_path: Path) -> Setup:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "train.py").write_text(PLAIN)
    return Setup(plain)


def empty_repository(tmp_path: Path) -> Setup:
    repo = Repo(tmp_path / "repo")
    repo.write("train.py", PLAIN)
    return Setup(repo.path)


def unknown_base(tmp_path: Path) -> Setup:
    return Setup(normalize_removed(tmp_path).path, ("--base", "no-such-branch"))


def shallow_clone(tmp_path: Path) -> Setup:
    repo = normalize_removed(tmp_path)
    repo.commit("change")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo.path}", str(shallow))
    return Setup(shallow, ("--base", "HEAD~1"))


def detached_head(tmp_path: Path) -> Setup:
    repo = normalize_removed(tmp_path)
    repo.git("checkout", "-q", "--detach", "HEAD")
    return Setup(repo.path)


def invalid_utf8(tmp_path: Path) -> Setup:
    return second_file_changed(tmp_path, "latin1.py", "x = 1\n", "x = 2\n# caf\xe9\n".encode("latin-1"))


def utf16_with_bom(tmp_path: Path) -> Setup:
    repo = Repo(tmp_path / "repo")
    repo.write("wide.py", codecs.BOM_UTF16_LE + NORMALIZED.encode("utf-16-le"))
    repo.commit()
    repo.write("wide.py", codecs.BOM_UTF16_LE + PLAIN.encode("utf-16-le"))
    return Setup(repo.path)


def binary_file(tmp_path: Path) -> Setup:
    return second_file_changed(tmp_path, "blob.py", "x = 1\n", b"x = 1\n\0binary\0")


def file_50_mb(tmp_path: Path) -> Setup:
    return second_file_changed(tmp_path, "weights.py", "weights = []\n",
                               b"weights = [\n" + b"    0.0,\n" * 5_555_554 + b"]\n")  # 50 MB


def syntax_error_one_side(tmp_path: Path) -> Setup:
    return second_file_changed(tmp_path, "broken.py", "def f():\n    pass\n", "def f(:\n    pass\n")


def syntax_error_both_sides(tmp_path: Path) -> Setup:
    return second_file_changed(tmp_path, "broken.py", "def f(:\n    pass\n", "def g(:\n    pass\n")


def conflict_markers(tmp_path: Path) -> Setup:
    """A merge stopped by a conflict: the working-tree file holds git's markers."""
    repo = Repo(tmp_path / "repo")
    repo.conflicted_merge("train.py", "lr = 0.1\n", "lr = 0.2\n", "lr = 0.3\n")
    return Setup(repo.path)


def path_name(name: str) -> Callable[[Path], Setup]:
    def make(tmp_path: Path) -> Setup:
        repo = normalize_removed(tmp_path, name)
        return Setup(repo.path, ("--", name), after=lambda: _no_stray_files(repo.path, {name}))
    return make


def _no_stray_files(path: Path, names: set[str]) -> None:
    assert {p.name for p in path.iterdir()} == names | {".git"}


def symlink_replacing_a_file(tmp_path: Path) -> Setup:
    repo = normalize_removed(tmp_path)
    repo.write("model.py", "width = 64\n")
    repo.commit()
    (repo.path / "model.py").unlink()
    os.symlink("train.py", repo.path / "model.py")
    return Setup(repo.path)


def submodule(tmp_path: Path) -> Setup:
    library = Repo(tmp_path / "library")
    library.write("lib.py", "a = 1\n")
    library.commit()
    repo = Repo(tmp_path / "repo")
    repo.write("train.py", NORMALIZED)
    repo.git("-c", "protocol.file.allow=always", "submodule", "add", "-q", str(library.path), "lib")
    repo.commit()
    git(repo.path / "lib", "commit", "-q", "--allow-empty", "-m", "bump")
    repo.write("train.py", PLAIN)
    return Setup(repo.path)


def locked_index(tmp_path: Path) -> Setup:
    repo = normalize_removed(tmp_path)
    lock = repo.path / ".git" / "index.lock"
    lock.write_text("")
    os.utime(repo.path / "train.py", ns=(1, 1))  # stat-dirty: git would like to refresh the index
    return Setup(repo.path, after=lambda: _still_there(lock))


def _still_there(path: Path) -> None:
    assert path.exists()


def stat_only_change(tmp_path: Path) -> Setup:
    """Files whose content is as committed but whose mtime changed: ``git diff`` would refresh
    (rewrite) the index and run the post-index-change hook."""
    repo = Repo(tmp_path / "repo")
    repo.write("train.py", NORMALIZED)
    repo.write("other.py", "x = 1\n")
    repo.commit()
    repo.write("train.py", PLAIN)
    repo.commit()
    os.utime(repo.path / "other.py", ns=(1, 1))  # as in the base, stat-dirty in the index
    return Setup(repo.path, ("--base", "HEAD~1"))


def git_missing(tmp_path: Path) -> Setup:
    repo = normalize_removed(tmp_path)
    empty = tmp_path / "no-git-here"
    empty.mkdir()
    return Setup(repo.path, env={"PATH": str(empty)})


def read_only_repository(tmp_path: Path) -> Setup:
    """Every file and folder without write permission (as on a read-only mount; root ignores
    the bits, which is why the snapshot also proves that nothing was written)."""
    repo = normalize_removed(tmp_path)
    paths = [Path(d) / n for d, dirs, files in os.walk(repo.path) for n in dirs + files] + [repo.path]
    modes = {path: path.lstat().st_mode for path in paths}
    for path in paths:
        path.chmod(modes[path] & ~0o222)
    return Setup(repo.path, after=lambda: [path.chmod(mode) for path, mode in modes.items()])


def notebook(tmp_path: Path) -> Setup:
    def cells(code: str) -> str:
        return json.dumps({"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# Train\n"]},
                                     {"cell_type": "code", "execution_count": 1, "metadata": {}, "outputs": [],
                                      "source": code.splitlines(keepends=True)}],
                           "metadata": {"language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": 5},
                          indent=1) + "\n"
    repo = Repo(tmp_path / "repo")
    repo.write("train.ipynb", cells(NORMALIZED))
    repo.commit()
    repo.write("train.ipynb", cells(PLAIN))
    return Setup(repo.path)


BAD_INPUTS = [
    BadInput("not a git repository", not_a_repository, Refused(r"not a git repository \(nor inside one\): .*plain")),
    BadInput("empty repository without commits", empty_repository,
             Refused(r"repository has no commits yet: nothing to compare against; commit once or pass --base")),
    BadInput("unknown base revision", unknown_base,
             Refused(r"unknown revision 'no-such-branch': not a branch, tag or commit in this repository")),
    BadInput("shallow clone whose base is missing", shallow_clone,
             Refused(r"'HEAD~1' is not in this shallow clone; fetch more history: "
                     r"git fetch --deepen=N or --unshallow")),
    BadInput("detached HEAD", detached_head, Works((("train.py", "ML201"),))),
    BadInput("file not valid UTF-8", invalid_utf8,
             FileError("latin1.py", r"head side: not valid UTF-8 \(byte 0xe9 at line 2\)")),
    BadInput("UTF-16 with a byte order mark", utf16_with_bom, Works((("wide.py", "ML201"),))),
    BadInput("binary file", binary_file, Note(r"blob\.py: binary file, skipped")),
    BadInput("a 50 MB file", file_50_mb, Note(r"weights\.py: 50\.0 MB, larger than mldiff reads \(5 MB\); skipped")),
    BadInput("syntax error on one side", syntax_error_one_side,
             FileError("broken.py", r"head side does not parse at line \d+: .+")),
    BadInput("syntax error on both sides", syntax_error_both_sides,
             FileError("broken.py", r"(base|head) side does not parse at line \d+: .+")),
    BadInput("merge-conflict markers", conflict_markers,
             FileError("train.py", r"head side has merge-conflict markers \(line 1\): resolve the conflict first")),
    BadInput("a path with spaces", path_name("my model.py"), Works((("my model.py", "ML201"),))),
    BadInput("a non-ASCII path", path_name("modèle.py"), Works((("modèle.py", "ML201"),))),
    BadInput("a path with a leading dash", path_name("--output=x.py"), Works((("--output=x.py", "ML201"),))),
    BadInput("a symbolic link replacing a file", symlink_replacing_a_file, Note(r"model\.py: symbolic link, skipped")),
    BadInput("a submodule", submodule, Note(r"lib: submodule or nested repository, not analysed")),
    BadInput("a locked index (index.lock present)", locked_index, Works((("train.py", "ML201"),))),
    BadInput("files touched but not changed (stat-dirty index)", stat_only_change, Works((("train.py", "ML201"),))),
    BadInput("git missing from PATH", git_missing, Refused(r"git is not installed or not on PATH")),
    BadInput("a read-only repository", read_only_repository, Works((("train.py", "ML201"),))),
    BadInput("a Jupyter notebook", notebook, Works((("train.ipynb", "ML201"),))),
]


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[case.name for case in BAD_INPUTS])
def test_bad_input(case: BadInput, tmp_path: Path) -> None:
    setup = case.make(tmp_path)
    expect = case.expect
    in_git = (setup.repo / ".git").exists()
    before = snapshot(setup.repo) if in_git else sorted(os.listdir(setup.repo))
    try:
        result = mldiff("check", "--format", expect.format, *setup.args, cwd=setup.repo, env=setup.env)
        if in_git:
            assert_same(before, snapshot(setup.repo))
        else:
            assert sorted(os.listdir(setup.repo)) == before
    finally:
        setup.after()
    assert "Traceback" not in result.stderr, result.stderr
    if isinstance(expect, Refused):
        assert result.returncode == 2 and result.stdout == "", (result.stdout, result.stderr)
        [line] = result.stderr.splitlines()
        assert re.fullmatch("mldiff: " + expect.message, line), line
        return
    assert result.returncode in (0, 1), result.stderr
    if isinstance(expect, Note):
        notes = [line[len("note: "):] for line in result.stderr.splitlines() if line.startswith("note: ")]
        assert any(re.fullmatch(expect.message, note) for note in notes), result.stderr
        return
    data = json.loads(result.stdout)
    if isinstance(expect, FileError):
        messages = [error["message"] for error in data["errors"] if error["path"] == expect.path]
        assert messages and all(re.fullmatch(expect.message, m) for m in messages), data["errors"]
        return
    assert sorted((f["path"], f["code"]) for f in data["findings"]) == sorted(expect.codes), data
    assert data["errors"] == []


def test_both_sides_of_a_broken_file_are_reported(tmp_path: Path) -> None:
    setup = syntax_error_both_sides(tmp_path)
    data = json.loads(mldiff("check", "--format", "json", cwd=setup.repo).stdout)
    assert sorted(e["message"].split(" side")[0] for e in data["errors"]) == ["base", "head"]


def test_every_bad_input_is_in_the_docs() -> None:
    text = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
    missing = [case.name for case in BAD_INPUTS if f"| {case.name} |" not in text]
    assert not missing, f"docs/reliability.md has no row for: {missing}"


# -- a 10,000-file change: bounded memory, progress on a terminal ---------------------------------------
MEMORY_PROBE = """\
import resource, subprocess, sys
status = subprocess.call(sys.argv[1:])
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024, status)
"""


@pytest.mark.slow
def test_a_10000_file_change_has_bounded_memory_and_shows_progress(tmp_path: Path) -> None:
    """Every file is read, analysed and dropped in turn; the largest process stays small."""
    import pty
    from concurrent.futures import ThreadPoolExecutor

    from conftest import read_terminal
    count = 10_000
    repo = Repo(tmp_path / "repo")
    for i in range(count):  # every file changes; every hundredth drops a Normalize
        repo.write(f"pkg/m{i:05d}.py", f"WIDTH = {i}\n" + (NORMALIZED if i % 100 == 0 else ""))
    repo.commit()
    for i in range(count):
        repo.write(f"pkg/m{i:05d}.py", f"WIDTH = {i}  # tuned\n" + (PLAIN if i % 100 == 0 else ""))
    before = snapshot(repo.path)
    primary, secondary = pty.openpty()
    probe = subprocess.Popen([sys.executable, "-c", MEMORY_PROBE, sys.executable, "-m", "mldiff", "check",
                              "--format", "json"], cwd=repo.path, stdout=subprocess.PIPE, stderr=secondary, text=True)
    os.close(secondary)
    with ThreadPoolExecutor(1) as pool:  # drain the terminal while it runs: a full pty blocks the writer
        terminal = pool.submit(read_terminal, primary)
        stdout, _ = probe.communicate(timeout=900)
        terminal = terminal.result(timeout=60)
    assert_same(before, snapshot(repo.path))
    *output, last = stdout.rstrip("\n").split("\n")
    peak_mb, status = map(int, last.split())
    data = json.loads("\n".join(output))
    assert status == 1 and len(data["findings"]) == count // 100 and data["errors"] == []
    assert f"analysing {count}/{count} files" in terminal, terminal[-500:]
    assert "Traceback" not in terminal
    assert peak_mb < 400, f"the largest mldiff process reached {peak_mb} MB"
