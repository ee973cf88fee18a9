"""End to end: a real ``mldiff serve`` process, real git repositories, unsaved buffers.

Every test runs as VS Code (push diagnostics) and as Neovim 0.11 (pull diagnostics)."""
from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types

from conftest import Repo
from lsp_fixtures import (LR_SCRIPT, REMOVED_MESSAGE, SCALER_LOOP, SCALER_STEP_LINE, TRAIN, TRAIN_LINE, TRAIN_LINE_TEXT,
                          TRAIN_WITHOUT_NORMALIZE)
from lsp_session import CLIENT_IDS, CLIENTS, session

pytestmark = pytest.mark.parametrize("profile, mode", CLIENTS, ids=CLIENT_IDS)


def ml201(diagnostics: list[types.Diagnostic]) -> list[types.Diagnostic]:
    return [d for d in diagnostics if d.code == "ML201"]


@pytest.fixture
def train_repo(repo: Repo) -> Repo:
    repo.write("train.py", TRAIN)
    repo.commit("train")
    return repo


async def test_unsaved_edit_reports_the_removed_normalize(train_repo: Repo, profile: str, mode: str) -> None:
    async with session(train_repo.path, profile, mode) as lsp:
        uri = lsp.open(train_repo.path / "train.py")
        assert await lsp.diagnostics(uri) == []
        version = lsp.change(uri, ((TRAIN_LINE, 0, TRAIN_LINE, len(TRAIN_LINE_TEXT)), TRAIN_WITHOUT_NORMALIZE))
        found = ml201(await lsp.diagnostics(uri, lambda d: bool(ml201(d))))
        assert len(found) == 1
        diagnostic = found[0]
        assert diagnostic.range == types.Range(start=types.Position(line=TRAIN_LINE, character=0),
                                               end=types.Position(line=TRAIN_LINE,
                                                                  character=len(TRAIN_WITHOUT_NORMALIZE)))
        assert diagnostic.message == REMOVED_MESSAGE
        assert diagnostic.source == "mldiff" and diagnostic.severity == types.DiagnosticSeverity.Warning
        assert diagnostic.code_description.href.endswith("docs/rules.md#ml201")
        data = diagnostic.data
        assert data["family"] == "normalization" and data["base_line"] == TRAIN_LINE + 1
        assert data["before"] == "transforms.Normalize((0.1307,), (0.3081,))" and data["after"] is None
        assert data["version"] == version
        assert data["fixes"][0]["title"] == "Restore the removed lines from the base"
        assert (train_repo.path / "train.py").read_text() == TRAIN  # nothing was saved or written
        if mode == "push":
            assert lsp.published[uri][-1].version == version

        lsp.change(uri, ((TRAIN_LINE, 0, TRAIN_LINE, len(TRAIN_WITHOUT_NORMALIZE)), TRAIN_LINE_TEXT))
        assert await lsp.diagnostics(uri, lambda d: not d) == []


async def test_related_information_points_where_the_value_flows(repo: Repo, profile: str, mode: str) -> None:
    repo.write("lr.py", LR_SCRIPT)
    repo.commit("lr")
    async with session(repo.path, profile, mode) as lsp:
        uri = lsp.open(repo.path / "lr.py", LR_SCRIPT.replace("1e-3", "1e-2"))
        (found,) = await lsp.diagnostics(uri, lambda d: bool(d))
        assert found.code == "ML301" and found.range.start.line == 1
        assert found.data["before"] == "1e-3" and found.data["after"] == "1e-2"
        (related,) = found.related_information
        line = LR_SCRIPT.splitlines()[3]
        column = line.index("lr=LR") + len("lr=")
        if lsp.initialize_result.capabilities.position_encoding == "utf-8":
            column = len(line[:column].encode("utf-8"))
        else:
            column = len(line[:column].encode("utf-16-le")) // 2
        assert related.location.uri == uri and related.message == "used as Adam lr"
        assert (related.location.range.start.line, related.location.range.start.character) == (3, column)
        assert related.location.range.end.character == column + 2


async def test_removal_inside_a_multi_line_statement(train_repo: Repo, profile: str, mode: str) -> None:
    async with session(train_repo.path, profile, mode) as lsp:
        uri = lsp.open(train_repo.path / "train.py")
        lsp.change(uri, ((7, 0, 8, 0), ""))  # the eval transform's Normalize line
        found = ml201(await lsp.diagnostics(uri, lambda d: bool(ml201(d))))
        # anchored where the removed line stood (now the closing `])`), not on the statement's first line
        assert [(d.range.start.line, d.message) for d in found] == [(7, REMOVED_MESSAGE)]


@pytest.mark.parametrize("case", ["untracked file", "repository without commits"])
async def test_new_files_are_all_additions(repo: Repo, profile: str, mode: str, case: str) -> None:
    """Every line of a new file is added; as in `mldiff check`, only problems in the code
    itself are reported there (no "Normalize added" for each line)."""
    if case == "untracked file":
        repo.write("train.py", TRAIN)
        repo.commit("train")
    file = repo.write("finetune.py", SCALER_LOOP)
    async with session(repo.path, profile, mode) as lsp:
        uri = lsp.open(file)
        found = await lsp.diagnostics(uri, lambda d: bool(d))
        assert [(d.code, d.range.start.line, d.severity) for d in found] == [
            ("ML803", SCALER_STEP_LINE, types.DiagnosticSeverity.Error)]
        assert not [m for m in lsp.client.messages if m.type == types.MessageType.Error]


async def test_files_outside_git_get_nothing_and_no_error(tmp_path: Path, profile: str, mode: str) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    file = plain / "train.py"
    file.write_text(TRAIN)
    async with session(plain, profile, mode) as lsp:
        uri = lsp.open(file)
        lsp.change(uri, ((TRAIN_LINE, 0, TRAIN_LINE, len(TRAIN_LINE_TEXT)), TRAIN_WITHOUT_NORMALIZE))
        assert await lsp.diagnostics(uri) == []
        untitled = "untitled:Untitled-1"
        lsp.client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
            uri=untitled, language_id="python", version=1, text=TRAIN)))
        lsp.versions[untitled] = 1
        assert await lsp.diagnostics(untitled) == []
    assert lsp.client.messages == []
    assert not [m for m in lsp.client.log_messages if m.type == types.MessageType.Error]


async def test_nested_repository_uses_the_innermost(tmp_path: Path, profile: str, mode: str) -> None:
    outer = Repo(tmp_path / "outer")
    outer.write("README.md", "outer\n")
    outer.commit("outer")
    inner = Repo(outer.path / "vendor" / "inner")
    inner.write("train.py", TRAIN)
    inner.commit("inner")
    async with session(outer.path, profile, mode) as lsp:
        uri = lsp.open(inner.path / "train.py")
        assert await lsp.diagnostics(uri) == []  # the outer repository would call all of it new
        lsp.change(uri, ((TRAIN_LINE, 0, TRAIN_LINE, len(TRAIN_LINE_TEXT)), TRAIN_WITHOUT_NORMALIZE))
        found = ml201(await lsp.diagnostics(uri, lambda d: bool(ml201(d))))
        assert [d.message for d in found] == [REMOVED_MESSAGE]


async def test_multi_root_workspace_with_a_base_per_folder(tmp_path: Path, profile: str, mode: str) -> None:
    repos = {}
    for name in ("a", "b"):
        repos[name] = repo = Repo(tmp_path / name)
        repo.write("train.py", TRAIN.replace(TRAIN_LINE_TEXT, TRAIN_WITHOUT_NORMALIZE))
        repo.commit("without")
        repo.write("train.py", TRAIN)
        repo.commit("with")
    folder_b = repos["b"].path.as_uri()
    configuration = {"": {"mldiff": {}}, folder_b: {"mldiff": {"base": "HEAD~1"}}}
    async with session(tmp_path, profile, mode, folders=[repos["a"].path, repos["b"].path],
                       configuration=configuration) as lsp:
        uri_a = lsp.open(repos["a"].path / "train.py")
        uri_b = lsp.open(repos["b"].path / "train.py")
        assert await lsp.diagnostics(uri_a) == []
        found = ml201(await lsp.diagnostics(uri_b, lambda d: bool(ml201(d))))
        assert [d.message.endswith(" added") for d in found] == [True]


async def test_closing_clears_and_reopening_works(train_repo: Repo, profile: str, mode: str) -> None:
    async with session(train_repo.path, profile, mode) as lsp:
        edited = TRAIN.replace(TRAIN_LINE_TEXT, TRAIN_WITHOUT_NORMALIZE)
        uri = lsp.open(train_repo.path / "train.py", edited)
        await lsp.diagnostics(uri, lambda d: bool(ml201(d)))
        lsp.close(uri)
        if mode == "push":
            await lsp.until(lambda: not lsp.published[uri][-1].diagnostics)
        uri = lsp.open(train_repo.path / "train.py", edited)
        assert ml201(await lsp.diagnostics(uri, lambda d: bool(ml201(d))))


async def test_other_file_kinds_do_not_break_anything(train_repo: Repo, profile: str, mode: str) -> None:
    config = train_repo.write("configs/train.yaml", "lr: 0.1\nbatch_size: 64\n")
    notes = train_repo.write("NOTES.md", "# notes\n")
    train_repo.commit("more")
    async with session(train_repo.path, profile, mode) as lsp:
        uri = lsp.open(config, "lr: 0.01\nbatch_size: 64\n", language="yaml")
        other = lsp.open(notes, "# changed\n", language="markdown")
        # configs are read (analysis/configfiles.py): the changed value, at its place in the YAML
        (found,) = await lsp.diagnostics(uri, lambda d: bool(d))
        assert (found.code, found.message) == ("ML301", "lr 0.1 -> 0.01")
        assert (found.range.start.line, found.range.start.character, found.range.end.character) == (0, 4, 8)
        assert await lsp.diagnostics(other) == []
    assert lsp.client.messages == []
