"""Faults the LSP fuzz found (tests/test_lsp_fuzz.py), each pinned by a plain test against
the real server process: the server answers, publishes the current version and logs no
error or traceback."""
from __future__ import annotations

import json

import pytest

from conftest import Repo, mldiff
from lsp_fixtures import commit_train_script, TRAIN, TRAIN_LINE, TRAIN_LINE_TEXT, TRAIN_WITHOUT_NORMALIZE
from lsp_wire import WireServer


@pytest.fixture
def train_repo(repo: Repo) -> Repo:
    return commit_train_script(repo)


@pytest.fixture
def server(train_repo: Repo, tmp_path):
    wire = WireServer(train_repo.path, tmp_path / "server.log")
    yield wire
    assert wire.stop() == 0


def change(server: WireServer, uri: str, version: int, *edits: tuple) -> None:
    """didChange with ((start line, char, end line, char) or None, text) edits."""
    changes = []
    for where, text in edits:
        if where is None:
            changes.append({"text": text})
        else:
            changes.append({"range": {"start": {"line": where[0], "character": where[1]},
                                      "end": {"line": where[2], "character": where[3]}}, "text": text})
    server.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                             "contentChanges": changes})


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8"])
def test_lone_surrogates_in_the_buffer(server, train_repo, encoding):
    """A JavaScript string may hold half a surrogate pair, and JSON carries it (``\\ud83d``):
    counting the columns of such a line used to raise in the didChange handler."""
    server.start(encoding)
    uri = server.open(train_repo.path / "train.py", TRAIN)
    assert server.settle(uri, 1) == []
    comment = "# \ud83d中\ude00"
    change(server, uri, 2, ((TRAIN_LINE, 0, TRAIN_LINE, len(TRAIN_LINE_TEXT)), TRAIN_WITHOUT_NORMALIZE + "\n" + comment))
    end = 2 + (1 + 1 + 1 if encoding == "utf-16" else 3 + 3 + 3)  # each lone half: 1 unit, 3 WTF-8 bytes
    change(server, uri, 3, ((TRAIN_LINE + 1, end, TRAIN_LINE + 1, end), "!"))
    [diagnostic] = server.settle(uri, 3)
    assert diagnostic["code"] == "ML201"
    assert diagnostic["range"] == {"start": {"line": TRAIN_LINE, "character": 0},
                                   "end": {"line": TRAIN_LINE, "character": len(TRAIN_WITHOUT_NORMALIZE)}}
    for line in (TRAIN_LINE, TRAIN_LINE + 1):
        assert "result" in server.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                                 "position": {"line": line, "character": end}})
    actions = server.request("textDocument/codeAction", {
        "textDocument": {"uri": uri}, "range": diagnostic["range"], "context": {"diagnostics": [diagnostic]}})
    assert "Suppress ML201 on this line" in [a["title"] for a in actions["result"]]
    server.check_health()


def test_client_mistakes_are_answered_without_tracebacks(server, train_repo):
    """Not JSON, params that do not deserialize, an unknown command or method: answered or
    dropped with one warning line; pygls used to log each with a traceback at error level,
    and the server to send an error to the editor's log."""
    server.start()
    uri = server.open(train_repo.path / "train.py", TRAIN)
    server.settle(uri, 1)
    server.send_bytes(b"{garbage")
    server.send_bytes(b"\xff\xfe not utf-8")
    server.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": "x"},
                                             "contentChanges": [{"range": {"start": {"line": -1}}}]})
    assert "error" in server.request("workspace/executeCommand", {"command": "mldiff.nope", "arguments": []})
    assert "error" in server.request("mldiff/nothingHere", {})
    assert "error" in server.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": [1, 2]})
    change(server, uri, 2, ((TRAIN_LINE, 0, TRAIN_LINE, len(TRAIN_LINE_TEXT)), TRAIN_WITHOUT_NORMALIZE))
    assert [d["code"] for d in server.settle(uri, 2)] == ["ML201"]
    stderr = server.log.read_text()
    server.check_health()
    assert "WARNING" in stderr and "mldiff.nope" in stderr   # one line each, still in the log


@pytest.mark.parametrize("text", ["", "\n", "\ufeff", "x = 1\n\ufeff\n" + TRAIN], ids=["empty", "newline", "bom",
                                                                                       "bom-line"])
def test_emptied_buffer_and_a_line_of_only_a_byte_order_mark(server, train_repo, text):
    """An emptied buffer made rules index an empty module; a logical line holding only U+FEFF
    (libcst drops it) made the parser's wrapper index an empty body. The version's
    diagnostics must still come, without an internal error."""
    server.start()
    uri = server.open(train_repo.path / "train.py", TRAIN)
    server.settle(uri, 1)
    change(server, uri, 2, (None, text))
    server.settle(uri, 2)
    change(server, uri, 3, (None, TRAIN.replace(TRAIN_LINE_TEXT, TRAIN_WITHOUT_NORMALIZE)))
    assert [d["code"] for d in server.settle(uri, 3)] == ["ML201"]
    server.check_health()
    assert not [m for m in server.log_messages if "internal error" in m["message"]]


def test_check_of_an_emptied_file_has_no_internal_error(train_repo):
    (train_repo.path / "train.py").write_text("")
    result = mldiff("check", "--format", "json", cwd=train_repo.path)
    assert result.returncode in (0, 1), result.stderr
    assert json.loads(result.stdout)["errors"] == []


def test_a_failing_analysis_gives_its_version_no_diagnostics(train_repo, caplog):
    """The fuzz's liveness check found that an exception in the engine left the version
    unpublished (the editor kept showing the older diagnostics on moved lines). Whatever
    fails, that version now gets an empty result; no engine bug is left to trigger it, so
    a subclass stands in for one."""
    from mldiff.lsp.analysis import Analyzer, Snapshot
    from mldiff.lsp.documents import split_lsp_lines
    from mldiff.lsp.settings import ServerOptions, SettingsState

    said: list[str] = []

    class BrokenEngine(Analyzer):
        def _run_engine(self, *args):
            raise RuntimeError("a bug in a rule")

    path = train_repo.path / "train.py"
    lines = tuple(split_lsp_lines(TRAIN.replace(TRAIN_LINE_TEXT, TRAIN_WITHOUT_NORMALIZE)))
    analyzer = BrokenEngine(SettingsState(report=said.append), lambda key, message, show: said.append(message))
    result = analyzer.analyse(Snapshot(path.as_uri(), str(path), 7, 3, lines), "utf-16", ServerOptions())
    assert (result.revision, result.version, result.diagnostics, result.findings) == (7, 3, [], ())
    assert said == [f"mldiff: internal error while analysing {path}: RuntimeError('a bug in a rule')"]
    assert "a bug in a rule" in caplog.text   # with its traceback, at error level
