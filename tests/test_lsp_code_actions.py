"""Code actions read the diagnostics' data: suppress, restore from the base, and the
validation source actions."""
from __future__ import annotations

import pytest
from lsprotocol import types

from conftest import Repo
from lsp_fixtures import (AUTOCAST, commit_train_script, DEPRECATED_AUTOCAST, REMOVED_MESSAGE, SCALER_LOOP, TRAIN, TRAIN_LINE,
                          TRAIN_LINE_TEXT, TRAIN_WITHOUT_NORMALIZE)
from lsp_session import CLIENT_IDS, CLIENTS, Session, session

pytestmark = pytest.mark.parametrize("profile, mode", CLIENTS, ids=CLIENT_IDS)
WITHOUT = TRAIN.replace(TRAIN_LINE_TEXT, TRAIN_WITHOUT_NORMALIZE)
VALIDATE, ATTACH = "mldiff.validate", "mldiff.attachToCommit"


def text_edits(action: types.CodeAction, uri: str) -> list[types.TextEdit]:
    edit = action.edit
    assert edit is not None
    if edit.document_changes:
        (change,) = edit.document_changes
        assert change.text_document.uri == uri
        return list(change.edits)
    return list(edit.changes[uri])


def apply_to_buffer(lsp: Session, uri: str, edits: list[types.TextEdit]) -> int:
    """What an editor does with the edits: one didChange, last edit first."""
    ordered = sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True)
    return lsp.change(uri, *[((e.range.start.line, e.range.start.character, e.range.end.line,
                                e.range.end.character), e.new_text) for e in ordered])


@pytest.fixture
def train_repo(repo: Repo) -> Repo:
    return commit_train_script(repo)


async def removed(lsp: Session, uri: str) -> list[types.Diagnostic]:
    return [d for d in await lsp.diagnostics(uri, lambda d: any(x.message == REMOVED_MESSAGE for x in d))
            if d.code == "ML201"]


async def test_suppress_ml201_on_this_line(train_repo: Repo, profile: str, mode: str) -> None:
    async with session(train_repo.path, profile, mode) as lsp:
        uri = lsp.open(train_repo.path / "train.py", WITHOUT)
        diagnostics = await removed(lsp, uri)
        actions = await lsp.code_actions(uri, diagnostics)
        titles = [a.title for a in actions]
        assert titles[:2] == ["Restore the removed lines from the base", "Suppress ML201 on this line"]
        suppress = actions[1]
        assert suppress.kind == types.CodeActionKind.QuickFix
        edits = text_edits(suppress, uri)
        assert [(e.range.start.line, e.new_text) for e in edits] == [(TRAIN_LINE, "  # mldiff: ignore[ML201]")]
        apply_to_buffer(lsp, uri, edits)
        assert await lsp.diagnostics(uri, lambda d: not d) == []
        # a second rule on the same line extends the comment instead of adding another
        line = TRAIN_WITHOUT_NORMALIZE + "  # mldiff: ignore[ML101]"
        lsp.change(uri, ((TRAIN_LINE, 0, TRAIN_LINE, len(TRAIN_WITHOUT_NORMALIZE) + len("  # mldiff: ignore[ML201]")),
                         line))
        actions = await lsp.code_actions(uri, await removed(lsp, uri))
        (extend,) = [a for a in actions if a.title.startswith("Suppress")]
        apply_to_buffer(lsp, uri, text_edits(extend, uri))
        assert await lsp.diagnostics(uri, lambda d: not d) == []


async def test_restore_the_removed_lines(train_repo: Repo, profile: str, mode: str) -> None:
    async with session(train_repo.path, profile, mode) as lsp:
        uri = lsp.open(train_repo.path / "train.py", WITHOUT)
        diagnostics = await removed(lsp, uri)
        restore = (await lsp.code_actions(uri, diagnostics))[0]
        assert restore.is_preferred
        edits = text_edits(restore, uri)
        assert [e.new_text for e in edits] == [TRAIN_LINE_TEXT + "\n"]
        if restore.edit.document_changes:
            assert restore.edit.document_changes[0].text_document.version == lsp.versions[uri]
        apply_to_buffer(lsp, uri, edits)
        assert await lsp.diagnostics(uri, lambda d: not d) == []


async def test_the_findings_own_fixes(repo: Repo, profile: str, mode: str) -> None:
    repo.write("loop.py", SCALER_LOOP.replace("    optimizer.step()\n", "    scaler.step(optimizer)\n    scaler.update()\n"))
    repo.write("amp.py", AUTOCAST)
    repo.commit("base")
    async with session(repo.path, profile, mode) as lsp:
        loop = lsp.open(repo.path / "loop.py", SCALER_LOOP)
        amp = lsp.open(repo.path / "amp.py", DEPRECATED_AUTOCAST)
        for uri, code, title in ((loop, "ML803", "Call scaler.step(optimizer) and scaler.update()"),
                                 (amp, "ML107", "Use torch.amp.autocast('cuda')")):
            found = [d for d in await lsp.diagnostics(uri, lambda d: any(x.code == code for x in d)) if d.code == code]
            actions = {a.title: a for a in await lsp.code_actions(uri, found)}
            assert title in actions and f"Suppress {code} on this line" in actions
            apply_to_buffer(lsp, uri, text_edits(actions[title], uri))
            await lsp.diagnostics(uri, lambda d: not any(x.code == code for x in d))
        assert (await lsp.diagnostics(loop)) == []
        assert "scaler.step(optimizer)\n    scaler.update()\n" in (repo.path / "loop.py").read_text()


async def test_stale_fixes_are_not_offered(train_repo: Repo, profile: str, mode: str) -> None:
    async with session(train_repo.path, profile, mode) as lsp:
        uri = lsp.open(train_repo.path / "train.py", WITHOUT)
        diagnostics = await removed(lsp, uri)
        lsp.change(uri, ((0, 0, 0, 0), "# moved everything down\n"))
        titles = [a.title for a in await lsp.code_actions(uri, diagnostics)]
        assert "Restore the removed lines from the base" not in titles  # old coordinates
        assert "Suppress ML201 on this line" in titles


async def test_validation_source_actions_are_registered(train_repo: Repo, profile: str, mode: str) -> None:
    async with session(train_repo.path, profile, mode) as lsp:
        uri = lsp.open(train_repo.path / "train.py", WITHOUT)
        await removed(lsp, uri)
        actions = await lsp.code_actions(uri, [], only=[types.CodeActionKind.Source])
        by_title = {a.title: a for a in actions}
        assert set(by_title) == {"Validate this change", "Attach validation results to the commit message"}
        assert by_title["Validate this change"].command.command == VALIDATE
        assert by_title["Attach validation results to the commit message"].command.command == ATTACH
        quick = await lsp.code_actions(uri, [], only=[types.CodeActionKind.QuickFix])
        assert not quick
        validate = await lsp.command(VALIDATE, *by_title["Validate this change"].command.arguments)
        assert validate["status"] == "unconfigured" and "[tool.mldiff.validate]" in validate["message"]
        attach = await lsp.command(ATTACH, *by_title["Attach validation results to the commit message"].command.arguments)
        assert attach["trailers"] is None and attach["reason"]   # a repository without commits: a reason
