"""What a confused client, a half-typed statement or a huge file must not do to the server."""
from __future__ import annotations

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams, JsonRpcMethodNotFound

from conftest import Repo
from lsp_fixtures import commit_train_script, REMOVED_MESSAGE, TRAIN, TRAIN_LINE, TRAIN_LINE_TEXT, TRAIN_WITHOUT_NORMALIZE
from lsp_session import CLIENT_IDS, CLIENTS, Session, session

WITHOUT = TRAIN.replace(TRAIN_LINE_TEXT, TRAIN_WITHOUT_NORMALIZE)
both_clients = pytest.mark.parametrize("profile, mode", CLIENTS, ids=CLIENT_IDS)


@pytest.fixture
def train_repo(repo: Repo) -> Repo:
    return commit_train_script(repo)


async def still_answers(lsp: Session, uri: str, line: int = TRAIN_LINE) -> None:
    hover = await lsp.hover(uri, line)
    assert hover is not None and "ML201" in hover.contents.value


@both_clients
async def test_out_of_order_and_unknown_documents(train_repo: Repo, profile: str, mode: str) -> None:
    async with session(train_repo.path, profile, mode) as lsp:
        ghost = (train_repo.path / "ghost.py").as_uri()
        lsp.change(ghost, ((0, 0, 0, 0), "x = 1\n"))         # never opened
        lsp.close(ghost)
        uri = lsp.open(train_repo.path / "train.py", WITHOUT)
        uri = lsp.open(train_repo.path / "train.py", WITHOUT)  # opened twice
        await lsp.diagnostics(uri, lambda d: bool(d))
        lsp.versions[uri] = -1                                 # version 0: older than the last one
        lsp.change(uri, ((0, 0, 0, 0), "# older version\n"))
        found = await lsp.diagnostics(uri, lambda d: bool(d))
        assert [d.range.start.line for d in found] == [TRAIN_LINE + 1]
        await still_answers(lsp, uri, TRAIN_LINE + 1)
    assert not [m for m in lsp.client.messages if m.type == types.MessageType.Error]


@both_clients
async def test_ranges_past_the_end_are_clamped(train_repo: Repo, profile: str, mode: str) -> None:
    async with session(train_repo.path, profile, mode) as lsp:
        uri = lsp.open(train_repo.path / "train.py", WITHOUT)
        lines = WITHOUT.count("\n")
        lsp.change(uri, ((lines + 40, 3, lines + 50, 0), "extra = transforms.Normalize((0.5,), (0.5,))\n"))
        lsp.change(uri, ((0, 500, 0, 900), "  # past the end of the line"))
        # the appended Normalize pairs with the removed one: its values changed, at the new last line
        found = await lsp.diagnostics(uri, lambda d: bool(d) and d[0].range.start.line == lines)
        assert [(d.range.start.line, d.range.start.character) for d in found] == [(lines, len("extra = "))]
        await still_answers(lsp, uri, lines)


@both_clients
async def test_malformed_requests_are_answered(train_repo: Repo, profile: str, mode: str) -> None:
    async with session(train_repo.path, profile, mode) as lsp:
        uri = lsp.open(train_repo.path / "train.py", WITHOUT)
        await lsp.diagnostics(uri, lambda d: bool(d))
        with pytest.raises(JsonRpcInvalidParams):
            await lsp.raw_request(types.TEXT_DOCUMENT_CODE_ACTION, {"range": "everything"})
        with pytest.raises(JsonRpcInvalidParams):
            await lsp.raw_request(types.TEXT_DOCUMENT_HOVER, {"textDocument": {"uri": uri}, "position": [1, 2]})
        with pytest.raises(JsonRpcMethodNotFound):
            await lsp.raw_request("mldiff/noSuchMethod", {})
        await lsp.send_raw({"method": types.TEXT_DOCUMENT_DID_CHANGE, "params": {"textDocument": 7}})
        await lsp.send_raw(b"{garbage}")
        await lsp.send_raw({"method": types.TEXT_DOCUMENT_DID_OPEN, "params": {"textDocument": {
            "uri": uri, "languageId": "python", "version": "one", "text": None}}})
        await still_answers(lsp, uri)
    assert not [m for m in lsp.client.messages if m.type == types.MessageType.Error]


@both_clients
async def test_a_half_typed_statement_never_shows_garbage(train_repo: Repo, profile: str, mode: str) -> None:
    async with session(train_repo.path, profile, mode) as lsp:
        uri = lsp.open(train_repo.path / "train.py")
        assert await lsp.diagnostics(uri) == []
        # typing inside the Normalize call: the statement does not parse for a moment
        column = TRAIN_LINE_TEXT.index("(0.3081,))]") + len("(0.3081,)")
        lsp.change(uri, ((TRAIN_LINE, column, TRAIN_LINE, column + 1), ""))
        assert await lsp.diagnostics(uri) == []  # not "Normalize removed"
        lsp.change(uri, ((TRAIN_LINE, column, TRAIN_LINE, column), ")"))
        assert await lsp.diagnostics(uri) == []


@both_clients
async def test_findings_stay_while_another_statement_is_half_typed(train_repo: Repo, profile: str,
                                                                   mode: str) -> None:
    async with session(train_repo.path, profile, mode) as lsp:
        uri = lsp.open(train_repo.path / "train.py", WITHOUT)
        await lsp.diagnostics(uri, lambda d: bool(d))
        lsp.change(uri, ((2, 0, 2, 0), "config = dict(lr=0.1,\n"))  # an open bracket above everything
        kept = await lsp.diagnostics(uri)
        assert [(d.range.start.line, d.message) for d in kept] == [(TRAIN_LINE + 1, REMOVED_MESSAGE)]
        assert (await lsp.code_actions(uri, kept))[0].title == "Restore the removed lines from the base"
        lsp.change(uri, ((2, 0, 3, 0), ""))
        found = await lsp.diagnostics(uri, lambda d: bool(d))
        assert [(d.range.start.line, d.message) for d in found] == [(TRAIN_LINE, REMOVED_MESSAGE)]


async def test_large_files_are_skipped_with_one_message(train_repo: Repo) -> None:
    async with session(train_repo.path, init_options={"maxFileBytes": 200}) as lsp:
        uri = lsp.open(train_repo.path / "train.py", WITHOUT)
        assert await lsp.diagnostics(uri) == []
        lsp.change(uri, ((0, 0, 0, 0), "# more\n"))
        assert await lsp.diagnostics(uri) == []
        notes = [m.message for m in lsp.client.log_messages if "maxFileBytes" in m.message]
        assert len(notes) == 1 and "train.py" in notes[0]
    assert lsp.client.messages == []


async def test_shutdown_and_exit(train_repo: Repo) -> None:
    async with session(train_repo.path) as lsp:
        lsp.open(train_repo.path / "train.py", WITHOUT)
    assert lsp.client._server.returncode == 0
