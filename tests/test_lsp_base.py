"""The base a buffer is compared with: settings, pyproject, mldiff.setBase, and git
changes made outside the editor (commit, stage, branches)."""
from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types

from conftest import Repo
from lsp_fixtures import REMOVED_MESSAGE, TRAIN, TRAIN_LINE, TRAIN_LINE_TEXT, TRAIN_WITHOUT_NORMALIZE
from lsp_session import CLIENT_IDS, CLIENTS, session

WITHOUT = TRAIN.replace(TRAIN_LINE_TEXT, TRAIN_WITHOUT_NORMALIZE)
both_clients = pytest.mark.parametrize("profile, mode", CLIENTS, ids=CLIENT_IDS)


def messages(diagnostics: list[types.Diagnostic]) -> list[str]:
    return [d.message for d in diagnostics if d.code == "ML201"]


ADDED = "transforms.Normalize((0.1307,), (0.3081,)) added"


@pytest.fixture
def two_commits(repo: Repo) -> Repo:
    """HEAD~1 has no Normalize in the train transform; HEAD and the working tree have it."""
    repo.write("train.py", WITHOUT)
    repo.commit("without")
    repo.write("train.py", TRAIN)
    repo.commit("with")
    return repo


@both_clients
async def test_base_from_initialization_options(two_commits: Repo, profile: str, mode: str) -> None:
    async with session(two_commits.path, profile, mode, init_options={"base": "HEAD~1"}) as lsp:
        uri = lsp.open(two_commits.path / "train.py")
        assert messages(await lsp.diagnostics(uri, messages)) == [ADDED]


@both_clients
async def test_base_from_workspace_configuration_and_its_changes(two_commits: Repo, profile: str, mode: str) -> None:
    async with session(two_commits.path, profile, mode, configuration={"": {"mldiff": {"base": "HEAD~1"}}}) as lsp:
        uri = lsp.open(two_commits.path / "train.py")
        assert messages(await lsp.diagnostics(uri, messages)) == [ADDED]
        lsp.client.set_configuration({"mldiff": {"base": "HEAD"}})
        lsp.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        assert await lsp.diagnostics(uri, lambda d: not d) == []


async def test_pyproject_base_and_editor_settings_win(two_commits: Repo) -> None:
    two_commits.write("pyproject.toml", '[tool.mldiff]\nbase = "HEAD~1"\n')
    async with session(two_commits.path) as lsp:
        uri = lsp.open(two_commits.path / "train.py")
        assert messages(await lsp.diagnostics(uri, messages)) == [ADDED]
    async with session(two_commits.path, init_options={"base": "HEAD"}) as lsp:
        uri = lsp.open(two_commits.path / "train.py")
        await asyncio.sleep(0.5)
        assert await lsp.diagnostics(uri) == []


@both_clients
async def test_set_base_command(two_commits: Repo, profile: str, mode: str) -> None:
    async with session(two_commits.path, profile, mode) as lsp:
        uri = lsp.open(two_commits.path / "train.py")
        assert await lsp.diagnostics(uri) == []
        assert await lsp.command("mldiff.setBase", "HEAD~1") == {"base": "HEAD~1"}
        assert messages(await lsp.diagnostics(uri, messages)) == [ADDED]
        assert await lsp.command("mldiff.setBase", None) == {"base": None}
        assert await lsp.diagnostics(uri, lambda d: not d) == []
        answer = await lsp.command("mldiff.setBase", 42)
        assert answer["error"] and lsp.client.messages[-1].type == types.MessageType.Error


async def test_index_and_merge_base(repo: Repo) -> None:
    repo.write("train.py", TRAIN)
    repo.commit("main")
    repo.git("checkout", "-q", "-b", "feature")
    repo.write("train.py", WITHOUT)
    repo.commit("feature drops Normalize")
    repo.git("checkout", "-q", "main")
    repo.write("README.md", "main moves on\n")
    repo.commit("main moves on")
    repo.git("checkout", "-q", "feature")
    async with session(repo.path, init_options={"base": "merge-base:main"}) as lsp:
        uri = lsp.open(repo.path / "train.py")
        assert messages(await lsp.diagnostics(uri, messages)) == [REMOVED_MESSAGE]
        repo.write("train.py", TRAIN)
        repo.git("add", "train.py")  # staged: Normalize back
        assert await lsp.command("mldiff.setBase", "index") == {"base": "index"}
        lsp.change(uri, ((0, 0, 0, 0), ""))  # nothing changes in the buffer (no commit, no save)
        assert messages(await lsp.diagnostics(uri, messages)) == [REMOVED_MESSAGE]
        lsp.change(uri, (None, TRAIN))
        assert await lsp.diagnostics(uri, lambda d: not d) == []


async def test_unknown_base_is_reported_once_and_nothing_breaks(two_commits: Repo) -> None:
    async with session(two_commits.path, init_options={"base": "no-such-branch"}) as lsp:
        uri = lsp.open(two_commits.path / "train.py", WITHOUT)
        assert await lsp.diagnostics(uri) == []
        lsp.change(uri, ((0, 0, 0, 0), "# edit\n"))
        assert await lsp.diagnostics(uri) == []
        shown = [m.message for m in lsp.client.messages]
        assert len(shown) == 1 and "no-such-branch" in shown[0] and "unknown revision" in shown[0]
        assert await lsp.command("mldiff.setBase", "HEAD") == {"base": "HEAD"}
        assert messages(await lsp.diagnostics(uri, messages)) == [REMOVED_MESSAGE]


@both_clients
async def test_a_commit_outside_the_editor_updates_the_diagnostics(repo: Repo, profile: str, mode: str) -> None:
    repo.write("train.py", TRAIN)
    repo.commit("base")
    async with session(repo.path, profile, mode) as lsp:
        uri = lsp.open(repo.path / "train.py", WITHOUT)  # unsaved: Normalize removed
        assert messages(await lsp.diagnostics(uri, messages)) == [REMOVED_MESSAGE]
        repo.write("train.py", WITHOUT)
        repo.commit("commit the removal")                 # from a terminal
        if profile == "visual-studio-code":  # VS Code watches what the server registered
            watched = await lsp.until(lambda: [
                w["globPattern"] for r in lsp.registrations
                if r.method == types.WORKSPACE_DID_CHANGE_WATCHED_FILES for w in r.register_options["watchers"]])
            assert {str(p).rsplit("/", 1)[-1] for p in watched} >= {"HEAD", "index", "**"}
            lsp.client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(changes=[
                types.FileEvent(uri=(repo.path / ".git" / "HEAD").as_uri(), type=types.FileChangeType.Changed)]))
        else:  # Neovim on Linux cannot watch: a save re-checks
            assert not lsp.registrations or all(r.method != types.WORKSPACE_DID_CHANGE_WATCHED_FILES
                                                for r in lsp.registrations)
            lsp.save(uri)
        assert await lsp.diagnostics(uri, lambda d: not d) == []


async def test_an_edit_after_a_commit_uses_the_new_base(repo: Repo) -> None:
    repo.write("train.py", TRAIN)
    repo.commit("base")
    async with session(repo.path, "neovim", "push") as lsp:  # no watchers, no save
        uri = lsp.open(repo.path / "train.py", WITHOUT)
        assert messages(await lsp.diagnostics(uri, messages)) == [REMOVED_MESSAGE]
        repo.write("train.py", WITHOUT)
        repo.commit("commit the removal")
        lsp.change(uri, ((0, 0, 0, 0), "# a comment\n"))
        assert await lsp.diagnostics(uri, lambda d: not d) == []


async def test_auto_mode_pushes_to_neovim_and_pulls_with_refresh(repo: Repo) -> None:
    repo.write("train.py", TRAIN)
    repo.commit("base")
    async with session(repo.path, "neovim", "push") as lsp:  # pulls, but cannot be asked to pull again
        uri = lsp.open(repo.path / "train.py", WITHOUT)
        assert messages(await lsp.diagnostics(uri, messages)) == [REMOVED_MESSAGE]
    async with session(repo.path, "neovim", "pull", refresh=True, init_options={"diagnosticMode": "auto"}) as lsp:
        uri = lsp.open(repo.path / "train.py", WITHOUT)
        assert messages(await lsp.diagnostics(uri, messages)) == [REMOVED_MESSAGE]
        assert lsp.published.get(uri) is None
        repo.write("train.py", WITHOUT)
        repo.commit("commit the removal")
        lsp.save(uri)
        assert await lsp.until(lambda: lsp.refreshes.get(types.WORKSPACE_DIAGNOSTIC_REFRESH)) == 1
        assert await lsp.diagnostics(uri) == []
