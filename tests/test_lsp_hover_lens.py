"""Hover on a changed line and code lenses above changed hunks."""
from __future__ import annotations

import pytest
from lsprotocol import types

from conftest import Repo
from lsp_fixtures import ONLY_ML201, REMOVED_MESSAGE, TRAIN, TRAIN_LINE, TRAIN_LINE_TEXT, TRAIN_WITHOUT_NORMALIZE
from lsp_session import CLIENT_IDS, CLIENTS, session

pytestmark = pytest.mark.parametrize("profile, mode", CLIENTS, ids=CLIENT_IDS)
WITHOUT = TRAIN.replace(TRAIN_LINE_TEXT, TRAIN_WITHOUT_NORMALIZE)


@pytest.fixture
def train_repo(repo: Repo) -> Repo:
    repo.write("train.py", TRAIN)
    return repo


async def test_hover_shows_the_finding_why_and_the_base_text(train_repo: Repo, profile: str, mode: str) -> None:
    sha = train_repo.commit("train")
    async with session(train_repo.path, profile, mode) as lsp:
        uri = lsp.open(train_repo.path / "train.py", WITHOUT)
        await lsp.diagnostics(uri, lambda d: bool(d))
        hover = await lsp.hover(uri, TRAIN_LINE, 10)
        assert hover is not None and hover.contents.kind == types.MarkupKind.Markdown
        text = hover.contents.value
        assert f"**ML201** normalization (warning): {REMOVED_MESSAGE}" in text
        assert "before: `transforms.Normalize((0.1307,), (0.3081,))`" in text and "after: *(none)*" in text
        assert "Normalize transform removed, added, or its mean/std changed" in text  # the rule's summary
        assert "the classic silent" in text                                           # its documentation
        assert f"Base (HEAD ({sha[:7]}), line {TRAIN_LINE + 1}):\n```python\n{TRAIN_LINE_TEXT}\n```" in text
        assert hover.range.start.line == TRAIN_LINE
        assert await lsp.hover(uri, 0) is None           # an unchanged line
        assert await lsp.hover(uri, TRAIN_LINE + 3) is None


async def test_code_lens_above_each_hunk_with_findings(train_repo: Repo, profile: str, mode: str) -> None:
    train_repo.commit("train")
    async with session(train_repo.path, profile, mode) as lsp:
        uri = lsp.open(train_repo.path / "train.py", WITHOUT)
        await lsp.diagnostics(uri, lambda d: bool(d))
        (lens,) = await lsp.code_lenses(uri)
        assert lens.range.start == types.Position(line=TRAIN_LINE, character=0)
        assert lens.command.title == "ML: normalization"
        assert lens.command.command == "mldiff.validate"
        assert lens.command.arguments[0] == uri
        # a second hunk with a finding gets its own lens; a hunk without findings gets none
        lines = WITHOUT.splitlines()
        lsp.change(uri, ((7, 0, 8, 0), ""), ((0, 0, 0, 0), "# a comment-only hunk\n"))
        await lsp.diagnostics(uri, lambda d: len(d) == 2)
        lenses = await lsp.code_lenses(uri)
        assert [(c.range.start.line, c.command.title) for c in lenses] == [
            (TRAIN_LINE + 1, "ML: normalization"), (8, "ML: normalization")]
        assert lines[8] == "])"   # a deleted line's hunk starts at the line that followed it (7 before the comment)
        answer = await lsp.command(lens.command.command, *lens.command.arguments)
        assert answer["status"] == "unconfigured"   # the lens's arguments reach mldiff.validate


async def test_code_lenses_are_refreshed_when_what_they_say_changes(train_repo: Repo, profile: str, mode: str) -> None:
    """A lens answered before the findings changed (a suppression typed, git moved) must not
    linger: the server asks a client that can be asked to fetch the lenses again."""
    train_repo.write("pyproject.toml", ONLY_ML201)
    train_repo.commit("train")
    async with session(train_repo.path, profile, mode) as lsp:
        uri = lsp.open(train_repo.path / "train.py", WITHOUT)
        await lsp.diagnostics(uri, lambda d: bool(d))
        assert len(await lsp.code_lenses(uri)) == 1
        # The lens moves with the edit but says the same: the client moves it itself.
        lsp.change(uri, ((0, 0, 0, 0), "# a comment\n"))
        await lsp.diagnostics(uri, lambda d: bool(d) and d[0].range.start.line == TRAIN_LINE + 1)
        assert types.WORKSPACE_CODE_LENS_REFRESH not in lsp.refreshes
        # The finding is suppressed; the client does not ask for lenses by itself here.
        end = len(TRAIN_WITHOUT_NORMALIZE)
        lsp.change(uri, ((TRAIN_LINE + 1, end, TRAIN_LINE + 1, end), "  # mldiff: ignore[ML201]"))
        await lsp.diagnostics(uri, lambda d: not d)
        if profile == "visual-studio-code":   # it declares workspace.codeLens.refreshSupport
            assert await lsp.until(lambda: lsp.refreshes.get(types.WORKSPACE_CODE_LENS_REFRESH)) == 1
        else:
            assert types.WORKSPACE_CODE_LENS_REFRESH not in lsp.refreshes
        assert await lsp.code_lenses(uri) == []
