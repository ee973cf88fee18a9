"""``mldiff.validate`` and ``mldiff.attachToCommit`` against the real server process, on
real git repositories (fixtures/tiny-train); the slow ones run real validations with torch."""
from __future__ import annotations

import asyncio
import os

import pytest
from lsprotocol import types

from conftest import Repo, mldiff
from lsp_fixtures import TRAIN
from lsp_session import CLIENT_IDS, CLIENTS, Session, session, uri_of
from repo_snapshot import snapshot, unchanged
from validation_support import (RUN_ENV, assert_unchanged, edit, hanging_repo, leftover_worktrees, mldiff_dir,
                                processes_mentioning, store_result, take, tiny_train_repo)

VALIDATE = "mldiff.validate"
ATTACH = "mldiff.attachToCommit"
CONFIRM_TEXT = "python train.py --epochs 2  (runner: auto)"   # tiny-train's [tool.mldiff.validate]
SERVER_ENV = {**os.environ, **RUN_ENV}                         # `python` in the command has torch
RUN_S = 300.0

clients = pytest.mark.parametrize("profile, mode", CLIENTS, ids=CLIENT_IDS)


def lr_change(tmp_path) -> Repo:
    repo = tiny_train_repo(tmp_path)
    edit(repo, "train.py", "default=0.05", "default=0.2")
    return repo


def shown(lsp: Session, text: str) -> list[types.ShowMessageParams]:
    return [m for m in lsp.client.messages if text in m.message]


# -- asking first ------------------------------------------------------------------------------

@clients
@pytest.mark.parametrize("answer", ["Cancel", None], ids=["cancel", "dismissed"])
async def test_prompt_shows_the_exact_command_and_cancel_runs_nothing(tmp_path, profile, mode, answer) -> None:
    repo = lr_change(tmp_path)
    uri = uri_of(repo.path / "train.py")
    with unchanged(repo.path):   # no worktree, no result, no confirmation: nothing at all
        async with session(repo.path, profile, mode, env=SERVER_ENV) as lsp:
            lsp.answer = answer
            reply = await lsp.command(VALIDATE, uri)
    assert reply["status"] == "declined", reply
    (request,) = lsp.message_requests
    assert f"\n{CONFIRM_TEXT}\n" in request.message and str(repo.path) in request.message
    assert request.type == types.MessageType.Warning
    assert [action.title for action in request.actions] == ["Run", "Cancel"]
    assert not mldiff_dir(repo).exists()
    assert leftover_worktrees(repo) == []
    assert not lsp.client.progress_reports


async def test_editor_settings_are_what_the_prompt_shows(tmp_path) -> None:
    repo = lr_change(tmp_path)
    settings = {"validate": {"command": "python train.py --epochs 1 --lr 0.3", "runner": "local", "steps": 2}}
    async with session(repo.path, configuration={"": {"mldiff": settings}}, env=SERVER_ENV) as lsp:
        reply = await lsp.command(VALIDATE, uri_of(repo.path / "train.py"))
    assert reply["status"] == "declined"
    (request,) = lsp.message_requests
    assert "\npython train.py --epochs 1 --lr 0.3  (runner: local)\n" in request.message


def test_a_validation_asked_for_before_the_settings_arrive_waits_for_them(tmp_path) -> None:
    """An editor may send the command right after starting the server, before the server has
    the client's answer to workspace/configuration: it must still run the editor's command,
    not the repository's (this raced, and once prompted for the wrong command)."""
    import time

    from lsp_wire import WireServer
    repo = lr_change(tmp_path)
    editor_command = "python train.py --epochs 1 --lr 0.3"
    asked: list[str] = []

    def answer(method, params):
        if method == "workspace/configuration":
            time.sleep(1.0)   # a slow client
            return [{"validate": {"command": editor_command, "runner": "local"}} for _ in params["items"]]
        if method == "window/showMessageRequest":
            asked.append(params["message"])
        return None   # dismissed

    server = WireServer(repo.path, tmp_path / "server.log", env=SERVER_ENV, answer=answer)
    try:
        server.start()
        reply = server.request("workspace/executeCommand", {
            "command": VALIDATE, "arguments": [uri_of(repo.path / "train.py")]}, timeout=30)
    finally:
        server.stop()
    assert reply["result"]["status"] == "declined", reply
    assert [f"\n{editor_command}  (runner: local)\n" in message for message in asked] == [True], asked


@pytest.mark.parametrize("settings, problem", [
    ({"steps": 0}, "mldiff.validate.steps must be a positive integer, not 0"),
    ({"runner": "ssh"}, "mldiff.validate.runner must be auto, local, devcontainer, docker:NAME or slurm, not 'ssh'"),
    ({"timeout": "soon"}, "mldiff.validate.timeout must be a positive number of seconds, not 'soon'"),
], ids=["steps", "runner", "timeout"])
async def test_bad_editor_settings_are_a_clear_error(tmp_path, settings, problem) -> None:
    repo = lr_change(tmp_path)
    async with session(repo.path, configuration={"": {"mldiff": {"validate": settings}}}, env=SERVER_ENV) as lsp:
        reply = await lsp.command(VALIDATE, uri_of(repo.path / "train.py"))
    assert reply == {"status": "failed", "message": f"mldiff: cannot validate: {problem}"}
    assert [m.type for m in shown(lsp, problem)] == [types.MessageType.Error]
    assert not lsp.message_requests


@clients
async def test_no_configured_command_says_how_to_configure(repo: Repo, profile, mode) -> None:
    repo.write("train.py", TRAIN)
    repo.commit("train")
    async with session(repo.path, profile, mode) as lsp:
        reply = await lsp.command(VALIDATE, uri_of(repo.path / "train.py"), {"line": 5})
    assert reply["status"] == "unconfigured"
    assert "[tool.mldiff.validate]\ncommand = " in reply["message"] and "mldiff.validate.command" in reply["message"]
    assert shown(lsp, "[tool.mldiff.validate]")
    assert not lsp.message_requests


async def test_outside_a_repository_is_a_clear_error(tmp_path) -> None:
    (tmp_path / "train.py").write_text(TRAIN, encoding="utf-8")
    async with session(tmp_path) as lsp:
        reply = await lsp.command(VALIDATE, uri_of(tmp_path / "train.py"))
        untitled = await lsp.command(VALIDATE, "untitled:Untitled-1")
    assert reply["status"] == "failed" and "not a git repository" in reply["message"].lower(), reply
    assert untitled["status"] == "failed" and "on disk" in untitled["message"]


async def test_one_validation_per_repository(tmp_path) -> None:
    repo = lr_change(tmp_path)
    uri = uri_of(repo.path / "train.py")
    async with session(repo.path, env=SERVER_ENV) as lsp:
        lsp.hold, lsp.answer = asyncio.Event(), "Cancel"
        first = asyncio.ensure_future(lsp.command(VALIDATE, uri))
        await lsp.until(lambda: lsp.message_requests)          # the first one is asking the user
        second = await lsp.command(VALIDATE, uri_of(repo.path))  # the folder: same repository
        assert second["status"] == "busy" and "already running" in second["message"]
        lsp.hold.set()
        assert (await asyncio.wait_for(first, 20))["status"] == "declined"
        third = await lsp.command(VALIDATE, uri)                 # free again: asks again
    assert third["status"] == "declined" and len(lsp.message_requests) == 2


# -- attach ------------------------------------------------------------------------------------

@clients
async def test_attach_answers_trailers_for_the_staged_change_and_a_reason_otherwise(tmp_path, profile, mode) -> None:
    repo = lr_change(tmp_path)
    uri = uri_of(repo.path / "train.py")
    async with session(repo.path, profile, mode) as lsp:
        nothing = await lsp.command(ATTACH, uri)
        assert nothing == {"trailers": None, "reason": "no validation results stored yet: run `mldiff validate`"}
        store_result(repo.path)
        repo.git("add", "-A")
        before = snapshot(repo.path)
        attached = await lsp.command(ATTACH, uri)
        assert_unchanged(before, snapshot(repo.path))          # writes nothing, the store included
        printed = mldiff("attach", "--repo", str(repo.path))
        assert printed.returncode == 0, printed.stderr
        assert attached == {"trailers": printed.stdout, "reason": None}
        assert attached["trailers"].startswith("ML-Validated: 3 steps on cpu")
        edit(repo, "train.py", "default=0.2", "default=0.3")   # staged content that was not validated
        repo.git("add", "-A")
        other = await lsp.command(ATTACH, uri)
    assert other["trailers"] is None and other["reason"], other
    assert not lsp.client.messages   # the answer is the client's to show


async def test_attach_outside_a_repository_gives_a_reason(tmp_path) -> None:
    async with session(tmp_path) as lsp:
        answer = await lsp.command(ATTACH, uri_of(tmp_path / "train.py"))
    assert answer["trailers"] is None and answer["reason"]


# -- real runs (torch) -------------------------------------------------------------------------

def progress_values(lsp: Session, token: str | None) -> tuple[str, list]:
    """(token, its progress values); a server-created token when the request had none."""
    if token is None:
        (token,) = [t for t in lsp.client.progress_reports if str(t).startswith("mldiff-")]
    return token, lsp.progress(token)


@pytest.mark.slow
@clients
async def test_run_confirms_reports_steps_and_summarises(tmp_path, profile, mode) -> None:
    pytest.importorskip("torch")
    repo = lr_change(tmp_path)
    before = take(repo.path)
    # VS Code's extension sends a workDoneToken with the request; Neovim gets one the server creates.
    token = "validate-progress" if profile == "visual-studio-code" else None
    async with session(repo.path, profile, mode, configuration={"": {"mldiff": {"validate": {"steps": 3}}}},
                       env=SERVER_ENV) as lsp:
        lsp.answer = "Run"
        reply = await lsp.command(VALIDATE, uri_of(repo.path / "train.py"), token=token, timeout=RUN_S)
        token, values = progress_values(lsp, token)
    assert reply["status"] == "ok", reply
    assert reply["steps"] == 3 and reply["stored"] is True        # the editor's steps setting
    assert reply["comparison"]["first_step_equal"] is True
    assert len(lsp.message_requests) == 1
    begin, *reports, end = values
    assert isinstance(begin, types.WorkDoneProgressBegin) and begin.cancellable is True
    assert isinstance(end, types.WorkDoneProgressEnd) and end.message == reply["summary"]
    messages = [r.message for r in reports]
    for side in ("base", "change"):
        assert f"{side} run: step 3/3" in messages, messages
    assert messages.index("base run: step 3/3") < messages.index("change run: step 1/3")
    percentages = [r.percentage for r in reports]
    assert percentages == sorted(percentages) and percentages[-1] == 100
    assert reply["summary"].startswith("mldiff: validated 3 steps against base ")
    assert "\n" not in reply["summary"]
    assert [m.message for m in lsp.client.messages] == [reply["summary"]]
    assert any("verdict:" in m.message for m in lsp.client.log_messages)   # the full report, in the log
    from mldiff.validate import api
    assert api.is_confirmed(repo.path)
    assert leftover_worktrees(repo) == []
    assert_unchanged(before, take(repo.path))


@pytest.mark.slow
async def test_confirmed_command_runs_without_asking_and_a_failure_is_one_clear_line(tmp_path) -> None:
    pytest.importorskip("torch")
    from mldiff.validate import api
    repo = lr_change(tmp_path)
    repo.write("evaluate.py", "print('accuracy 0.5')\n")
    repo.commit("evaluate")
    command = "python evaluate.py"
    api.confirm(repo.path, command)
    async with session(repo.path, configuration={"": {"mldiff": {"validate": {"command": command}}}},
                       env=SERVER_ENV) as lsp:
        reply = await lsp.command(VALIDATE, uri_of(repo.path / "evaluate.py"), token="t", timeout=RUN_S)
    assert not lsp.message_requests
    assert reply["status"] == "failed"
    assert "finished without reaching an optimizer step" in reply["message"]
    (error,) = [m for m in lsp.client.messages if m.type == types.MessageType.Error]
    assert "\n" not in error.message and "without reaching an optimizer step" in error.message
    assert any("accuracy 0.5" in m.message for m in lsp.client.log_messages)   # the run's output, logged
    assert isinstance(lsp.progress("t")[-1], types.WorkDoneProgressEnd)
    assert leftover_worktrees(repo) == []


SIX_STEPS = {"": {"mldiff": {"validate": {"steps": 6}}}}


def hanging(tmp_path):
    """tiny-train whose change run hangs after step 3: (repo, the file that says it hangs,
    the repository's snapshot, the server's environment)."""
    pytest.importorskip("torch")
    repo = hanging_repo(tmp_path)
    marker = tmp_path / "hanging"
    return repo, marker, take(repo.path), {**SERVER_ENV, "HANG_MARKER": str(marker)}


async def _hang(lsp: Session, repo: Repo, marker) -> None:
    await lsp.until(marker.exists, timeout=RUN_S)
    assert processes_mentioning(str(repo.path))


async def _nothing_left(repo: Repo) -> None:
    for _ in range(200):
        if not processes_mentioning(str(repo.path)) and not leftover_worktrees(repo):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"left behind: {processes_mentioning(str(repo.path))} {leftover_worktrees(repo)}")


@pytest.mark.slow
async def test_cancel_on_the_progress_stops_the_run_and_removes_the_checkout(tmp_path) -> None:
    repo, marker, before, env = hanging(tmp_path)
    async with session(repo.path, "neovim", "pull", configuration=SIX_STEPS, env=env) as lsp:
        lsp.answer = "Run"
        pending = asyncio.ensure_future(lsp.command(VALIDATE, uri_of(repo.path / "train.py"), timeout=RUN_S))
        await _hang(lsp, repo, marker)
        token, values = progress_values(lsp, None)
        await lsp.until(lambda: any(getattr(v, "message", "") == "change run: step 3/6" for v in lsp.progress(token)))
        lsp.cancel_progress(token)
        reply = await asyncio.wait_for(pending, 60)
    assert reply["status"] == "cancelled" and "nothing was stored" in reply["message"]
    assert shown(lsp, "validation cancelled")
    assert processes_mentioning(str(repo.path)) == []   # answered after the clean-up
    assert leftover_worktrees(repo) == []
    assert not (mldiff_dir(repo) / "results").exists()
    assert_unchanged(before, take(repo.path))


@pytest.mark.slow
async def test_cancel_request_stops_the_run_and_removes_the_checkout(tmp_path) -> None:
    repo, marker, before, env = hanging(tmp_path)
    async with session(repo.path, configuration=SIX_STEPS, env=env) as lsp:
        lsp.answer = "Run"
        answer = lsp.send_command("validate-1", VALIDATE, uri_of(repo.path / "train.py"), token="progress-1")
        await _hang(lsp, repo, marker)
        lsp.cancel_request("validate-1")   # what VS Code sends when its notification's Cancel is pressed
        with pytest.raises(Exception, match="(?i)cancel"):
            await asyncio.wait_for(asyncio.wrap_future(answer), 20)
        await _nothing_left(repo)
        await lsp.until(lambda: isinstance((lsp.progress("progress-1") or [None])[-1], types.WorkDoneProgressEnd))
        assert lsp.progress("progress-1")[-1].message == "cancelled"
    assert not shown(lsp, "cancelled")   # the client cancelled: it says so itself
    assert not (mldiff_dir(repo) / "results").exists()
    assert_unchanged(before, take(repo.path))


@pytest.mark.slow
async def test_a_contradiction_is_said_loudly_in_the_editor(tmp_path) -> None:
    pytest.importorskip("torch")
    repo = tiny_train_repo(tmp_path)
    edit(repo, "train.py", "    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)\n",
         '    config = {"lr": 0.05}\n    config.update({k: v for k, v in vars(args).items() if k in config})\n'
         '    optimizer = torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=0.9)\n')
    repo.commit("lr from a config dict that argparse overrides")
    edit(repo, "train.py", 'config = {"lr": 0.05}', 'config = {"lr": 0.2}')
    async with session(repo.path, configuration={"": {"mldiff": {"validate": {"steps": 3}}}}, env=SERVER_ENV) as lsp:
        lsp.answer = "Run"
        reply = await lsp.command(VALIDATE, uri_of(repo.path / "train.py"), token="t", timeout=RUN_S)
    assert reply["status"] == "ok", reply
    assert len(reply["confirmations"]) == 1, reply
    (entry,) = reply["confirmations"]
    assert entry["status"] == "contradicted" and entry["code"] == "ML301"
    assert "findings: 1 CONTRADICTED" in reply["summary"]
    summary, loud = lsp.client.messages
    assert summary.message == reply["summary"] and summary.type == types.MessageType.Warning
    assert loud.type == types.MessageType.Warning
    assert loud.message == f"mldiff: CONTRADICTED by the validation run: ML301 at train.py:{entry['line']}: " \
                           f"{entry['detail']}"
