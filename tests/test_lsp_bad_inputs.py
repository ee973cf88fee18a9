"""The bad inputs of tests/test_bad_inputs.py as the language server meets them: the real
``mldiff serve`` process logs one message (shows it, where the user must act), publishes
no diagnostics for that file, stays alive, logs no error, and leaves the repository as it was.

Also: documents outside the workspace folders are not analysed at all (the server runs no
git there and reads no settings there), and a whole session of edits changes nothing in
the repository.
"""
from __future__ import annotations

import codecs
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest

from conftest import Repo
from lsp_fixtures import TRAIN, TRAIN_LINE, TRAIN_LINE_TEXT, TRAIN_WITHOUT_NORMALIZE
from lsp_wire import WireServer
from repo_snapshot import unchanged

TRAIN_CHANGED = TRAIN.replace(TRAIN_LINE_TEXT, TRAIN_WITHOUT_NORMALIZE)


@pytest.fixture(autouse=True)
def _no_parent_repository(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))


@dataclass
class Opened:
    root: Path                          # the workspace folder
    file: Path                          # the document opened (with TRAIN_CHANGED in the buffer)
    repo: Path | None                   # what must stay unchanged
    text: str = TRAIN_CHANGED
    options: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] | None = None


@dataclass(frozen=True)
class LspBadInput:
    name: str
    make: Callable[[Path], Opened]
    message: str                        # a substring of the one message logged about it
    shown: bool = False                 # also shown to the user (window/showMessage)
    never_said: str | None = None       # what no message may mention (the other repository's settings)


def train_repo(tmp_path: Path) -> Repo:
    repo = Repo(tmp_path / "repo")
    repo.write("train.py", TRAIN)
    repo.commit()
    return repo


def not_a_repository(tmp_path: Path) -> Opened:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "train.py").write_text(TRAIN)
    return Opened(plain, plain / "train.py", None)


def git_missing(tmp_path: Path) -> Opened:
    repo = train_repo(tmp_path)
    empty = tmp_path / "no-git-here"
    empty.mkdir()
    return Opened(repo.path, repo.path / "train.py", repo.path, env={"PATH": str(empty)})


def unknown_base(tmp_path: Path) -> Opened:
    repo = train_repo(tmp_path)
    return Opened(repo.path, repo.path / "train.py", repo.path, options={"base": "no-such-branch"})


def base_not_utf8(tmp_path: Path) -> Opened:
    repo = Repo(tmp_path / "repo")
    repo.write("train.py", TRAIN.encode() + "# caf\xe9\n".encode("latin-1"))
    repo.commit()
    return Opened(repo.path, repo.path / "train.py", repo.path)


def base_binary(tmp_path: Path) -> Opened:
    repo = Repo(tmp_path / "repo")
    repo.write("train.py", b"\0binary\0" + TRAIN.encode())
    repo.commit()
    return Opened(repo.path, repo.path / "train.py", repo.path)


def base_utf16(tmp_path: Path) -> Opened:
    """Not bad after all: a UTF-16 base with its byte order mark decodes and compares."""
    repo = Repo(tmp_path / "repo")
    repo.write("train.py", codecs.BOM_UTF16_LE + TRAIN.encode("utf-16-le"))
    repo.commit()
    return Opened(repo.path, repo.path / "train.py", repo.path)


def conflict_markers(tmp_path: Path) -> Opened:
    repo = Repo(tmp_path / "repo")
    repo.write("train.py", "lr = 0.1\n")
    repo.commit()
    text = "<<<<<<< HEAD\nlr = 0.2\n=======\nlr = 0.3\n>>>>>>> other\n"
    return Opened(repo.path, repo.path / "train.py", repo.path, text=text)


def locked_index(tmp_path: Path) -> Opened:
    repo = train_repo(tmp_path)
    (repo.path / ".git" / "index.lock").write_text("")
    return Opened(repo.path, repo.path / "train.py", repo.path)


def outside_the_workspace(tmp_path: Path) -> Opened:
    """A file of another repository, whose settings name a base that does not exist: the
    server would say so if it ran git or read settings there."""
    workspace = train_repo(tmp_path)
    elsewhere = Repo(tmp_path / "elsewhere")
    elsewhere.write("pyproject.toml", '[tool.mldiff]\nbase = "no-such-branch"\n')
    elsewhere.write("train.py", TRAIN)
    elsewhere.commit()
    return Opened(workspace.path, elsewhere.path / "train.py", elsewhere.path)


def symlink_out_of_the_workspace(tmp_path: Path) -> Opened:
    workspace = train_repo(tmp_path)
    elsewhere = Repo(tmp_path / "elsewhere")
    elsewhere.write("train.py", TRAIN)
    elsewhere.commit()
    (workspace.path / "linked").symlink_to(elsewhere.path)
    return Opened(workspace.path, workspace.path / "linked" / "train.py", elsewhere.path)


LSP_BAD_INPUTS = [
    LspBadInput("not a git repository", not_a_repository, "not a git repository (nor inside one)"),
    LspBadInput("git missing from PATH", git_missing, "git is not installed or not on PATH"),
    LspBadInput("unknown base revision", unknown_base, "unknown revision 'no-such-branch'", shown=True),
    LspBadInput("base not valid UTF-8", base_not_utf8, "not valid UTF-8 (byte 0xe9 at line 19)", shown=True),
    LspBadInput("binary base", base_binary, "binary file", shown=True),
    LspBadInput("merge-conflict markers", conflict_markers,
                "head side has merge-conflict markers (line 1): resolve the conflict first"),
    LspBadInput("outside the workspace folders", outside_the_workspace, "is outside the workspace folders",
                never_said="no-such-branch"),
    LspBadInput("a symbolic link out of the workspace", symlink_out_of_the_workspace,
                "is outside the workspace folders"),
]


def wait_for_message(server: WireServer, needle: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with server.lock:
            found = [m for m in server.log_messages if needle in m["message"]]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no log message with {needle!r}: {server.log_messages}")


@pytest.mark.parametrize("case", LSP_BAD_INPUTS, ids=[case.name for case in LSP_BAD_INPUTS])
def test_bad_input_is_one_message_and_no_diagnostics(case: LspBadInput, tmp_path: Path) -> None:
    opened = case.make(tmp_path)
    server = WireServer(opened.root, tmp_path / "server.log", env=opened.env)
    with unchanged(opened.repo) if opened.repo else nullcontext():
        try:
            server.start(options=opened.options)
            uri = server.open(opened.file, opened.text)
            assert server.settle(uri, 1) == []
            message = wait_for_message(server, case.message)
            assert "Traceback" not in message["message"] and "\n" not in message["message"]
            server.barrier()
            assert [m["message"] for m in server.shown] == ([message["message"]] if case.shown else [])
            assert "result" in server.request("textDocument/hover", {
                "textDocument": {"uri": uri}, "position": {"line": TRAIN_LINE, "character": 0}})
            server.check_health()
        finally:
            assert server.stop() == 0
    if case.never_said:
        assert not [m for m in server.log_messages + server.shown if case.never_said in m["message"]]


def test_utf16_base_is_read(tmp_path: Path) -> None:
    opened = base_utf16(tmp_path)
    server = WireServer(opened.root, tmp_path / "server.log")
    with unchanged(opened.repo):
        server.start()
        uri = server.open(opened.file, opened.text)
        assert "ML201" in [d["code"] for d in server.settle(uri, 1)]
        server.check_health()
        assert server.stop() == 0


def test_the_same_file_inside_the_workspace_is_analysed(tmp_path: Path) -> None:
    """The control for the outside cases: open the other repository as a workspace folder too."""
    opened = outside_the_workspace(tmp_path)
    server = WireServer(opened.root, tmp_path / "server.log")
    server.start(folders=[opened.root, opened.file.parent])
    uri = server.open(opened.file, opened.text)
    server.settle(uri, 1)
    wait_for_message(server, "unknown revision 'no-such-branch'")
    assert server.stop() == 0


def test_a_session_of_edits_changes_nothing(tmp_path: Path) -> None:
    """No harm: open, edit (a finding comes and goes), save, hover, code actions, close,
    with a locked index, and the repository is exactly as it was."""
    opened = locked_index(tmp_path)
    server = WireServer(opened.root, tmp_path / "server.log")
    with unchanged(opened.repo):
        server.start()
        uri = server.open(opened.file, TRAIN)
        assert server.settle(uri, 1) == []
        for version in range(2, 12):
            text = TRAIN_WITHOUT_NORMALIZE if version % 2 == 0 else TRAIN_LINE_TEXT
            server.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [
                {"range": {"start": {"line": TRAIN_LINE, "character": 0},
                           "end": {"line": TRAIN_LINE, "character": 10_000}}, "text": text}]})
        diagnostics = server.settle(uri, 11)
        assert diagnostics == []
        server.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 12}, "contentChanges": [
            {"text": TRAIN_CHANGED}]})
        diagnostics = server.settle(uri, 12)
        assert "ML201" in [d["code"] for d in diagnostics]
        server.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
        server.request("textDocument/hover", {"textDocument": {"uri": uri},
                                              "position": {"line": TRAIN_LINE, "character": 3}})
        server.request("textDocument/codeAction", {"textDocument": {"uri": uri}, "range": diagnostics[0]["range"],
                                                   "context": {"diagnostics": diagnostics}})
        server.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        server.settle(uri, None)
        server.check_health()
        assert server.stop() == 0
