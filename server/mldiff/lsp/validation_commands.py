"""``mldiff.validate`` and ``mldiff.attachToCommit``: the validation engine from the editor.

Both take the URI of a file (or folder) first, as code lenses and source actions pass it
(a code lens adds ``{line, families, codes}``); the repository is the innermost one
holding it, else the first workspace folder's.

``mldiff.validate`` runs the project's training command, so it never runs unasked: the
first time a command text is used in a repository, ``window/showMessageRequest`` shows
that exact text and only "Run" goes on. The run works on its own thread with work-done
progress (stage and step counts) and stops on ``$/cancelRequest`` or on the progress'
cancel (the process group is killed and the base checkout removed). One run per
repository at a time. The answer is ``{"status": "ok", "summary", ...the result's JSON}``
or ``{"status": "declined" | "cancelled" | "busy" | "unconfigured" | "failed", "message"}``;
the server shows the summary or the problem itself (``window/showMessage``).

``mldiff.attachToCommit`` answers ``{"trailers": "ML-...: ...\\n", "reason": null}`` for the
staged change, or ``{"trailers": null, "reason": "..."}``, and writes nothing: the
prepare-commit-msg hook finds the same results in the store.
"""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.uris import to_fs_path

from mldiff.errors import MldiffError
from mldiff.lsp.settings import ValidationSettings, validation_settings
from mldiff.lsp.validation_runs import BY_REQUEST, Run, on_thread
from mldiff.lsp.work_progress import WorkProgress

logger = logging.getLogger(__name__)

VALIDATE = "mldiff.validate"
ATTACH = "mldiff.attachToCommit"
RUN, CANCEL = "Run", "Cancel"
TITLE = "mldiff: validating the change"
SHUTDOWN_WAIT_S = 15.0
NOT_CONFIGURED = ("mldiff: this project has no validation command. Add it to pyproject.toml:\n"
                  "[tool.mldiff.validate]\ncommand = \"python train.py --epochs 1\"\n"
                  "(or set mldiff.validate.command in the editor; see docs/validation.md)")


# -- where ---------------------------------------------------------------------------------

def target_uri(ls, arguments: tuple[Any, ...]) -> str | None:
    """The URI the command is about: its first argument (a string, or ``{"uri": ...}``; a
    notebook cell stands for its notebook), else the first workspace folder."""
    first = arguments[0] if arguments else None
    if isinstance(first, dict):
        first = first.get("uri")
    if isinstance(first, str) and first:
        return ls.notebooks.notebook_of(first) or first
    folders = list(ls.workspace.folders.values())
    return folders[0].uri if folders else ls.workspace.root_uri


def repository_root(uri: str | None) -> Path:
    """The working tree root of the innermost repository holding ``uri`` (git calls: off the loop)."""
    from mldiff.validate import gitcmd
    path = to_fs_path(uri) if uri and uri.startswith("file:") else None
    if path is None:
        raise MldiffError("validation needs a file or folder of a git repository on disk; open one first")
    folder = Path(path)
    while not folder.is_dir() and folder != folder.parent:
        folder = folder.parent
    return gitcmd.toplevel(folder)


def validation_base(root: Path, spec: str) -> str | None:
    """The commit the change is validated against, from the diff base: ``index`` compares
    with what is staged, which is no commit, so HEAD; ``merge-base:B`` the branch point."""
    from mldiff.config import parse_base
    from mldiff.validate import gitcmd
    if not spec:
        return None
    base = parse_base(spec)
    if base.is_index or str(base) == "HEAD":
        return None
    if base.merge_base:
        head = gitcmd.resolve_commit(root, "HEAD")
        other = gitcmd.resolve_commit(root, base.revision)
        return gitcmd.git(root, "merge-base", head, other).strip()
    return base.revision


# -- telling the user --------------------------------------------------------------------------

def _show(ls, kind: types.MessageType, message: str) -> None:
    ls.window_show_message(types.ShowMessageParams(type=kind, message=message))


def _log(ls, kind: types.MessageType, message: str) -> None:
    ls.window_log_message(types.LogMessageParams(type=kind, message=message))


def _answer(ls, status: str, message: str, kind: types.MessageType | None = types.MessageType.Error) -> dict[str, Any]:
    """A non-ok answer; shown unless ``kind`` is None (the client already knows)."""
    if kind is not None:
        _show(ls, kind, message.splitlines()[0] if status == "failed" else message)
        _log(ls, kind, message)
    return {"status": status, "message": message}


def summary_line(result: dict[str, Any]) -> str:
    """One line: steps, base, loss, throughput, memory, what the runs confirmed, whether it is
    stored, warnings."""
    from mldiff.commit import trailers
    values = dict(trailers(result))
    line = (f"mldiff: validated {result['steps']} steps against base {result['base_commit'][:7]}: "
            f"loss {values['ML-Loss']}; {values['ML-Throughput']}; peak memory {values['ML-Peak-Memory']}")
    counts = confirmation_counts(result)
    if counts:
        line += f"; findings: {counts}"
    line += "; stored for a commit of exactly this content" if result.get("stored") else "; not stored"
    warnings = result.get("warnings") or []
    if warnings:
        line += f" ({len(warnings)} warning{'s' if len(warnings) > 1 else ''}: {warnings[0]})"
    return line


def confirmation_counts(result: dict[str, Any]) -> str:
    """``1 confirmed, 1 CONTRADICTED, 1 not observed`` (empty without findings)."""
    from mldiff.validate.report import STATUS_WORDS
    statuses = [entry["status"] for entry in result.get("confirmations") or []]
    return ", ".join(f"{statuses.count(status)} {word}" for status, word in STATUS_WORDS.items()
                     if statuses.count(status))


def contradiction_message(result: dict[str, Any]) -> str | None:
    """The loud message for findings the runs contradict: each with its place and why."""
    contradicted = [entry for entry in result.get("confirmations") or [] if entry["status"] == "contradicted"]
    if not contradicted:
        return None
    return "mldiff: CONTRADICTED by the validation run: " + " | ".join(
        f"{entry['code']} at {entry['path']}:{entry['line']}: {entry['detail']}" for entry in contradicted)


def stage_progress(stage: str, step: int, total: int) -> tuple[str, int]:
    """(message, percentage) for the engine's progress callback."""
    fraction = step / total if total else 0.0
    if stage == "base":
        return f"base run: step {step}/{total}", 2 + int(46 * fraction)
    if stage == "change":
        return f"change run: step {step}/{total}", 50 + int(46 * fraction)
    if stage == "compare":
        return "comparing the runs", 97
    if stage == "done":
        return "done", 100
    return "preparing the base checkout", 0


# -- mldiff.validate ---------------------------------------------------------------------------

class NotConfigured(MldiffError):
    """Neither ``[tool.mldiff.validate] command`` nor ``mldiff.validate.command`` is set."""


def _prepare(ls, uri: str | None) -> tuple[Path, ValidationSettings, str | None, str]:
    """(root, editor settings, base, exact command text); on a thread (git, pyproject)."""
    ls.analyzer.warm_up()   # the engine's imports done (or finished by the worker) before validation's
    from mldiff.config import load
    from mldiff.validate import api
    root = repository_root(uri)
    editor = validation_settings(ls.settings.editor_table(uri).get("validate"))
    if editor.command is None and load(root).validate.get("command") is None:
        raise NotConfigured(NOT_CONFIGURED)
    base = validation_base(root, ls.settings.settings_for(str(root), uri).base)
    return root, editor, base, api.command_text(root, editor.command, editor.runner)


async def validate(ls, arguments: tuple[Any, ...]) -> dict[str, Any]:
    request_id, request_token = ls.protocol.msg_id, ls.protocol.work_done_token
    await ls.settings_arrived()   # which command runs is the editor's setting
    uri = target_uri(ls, arguments)
    try:
        root, editor, base, command = await asyncio.to_thread(_prepare, ls, uri)
    except NotConfigured:
        return _answer(ls, "unconfigured", NOT_CONFIGURED, types.MessageType.Warning)
    except MldiffError as exc:  # ConfigError (a bad setting), GitError (no repository)
        return _answer(ls, "failed", f"mldiff: cannot validate: {exc}")
    run = ls.validations.claim(str(root), request_id)
    if run is None:
        return _answer(ls, "busy", f"mldiff: a validation is already running in {root}; cancel it or wait for it",
                       types.MessageType.Warning)
    try:
        return await _confirm_and_run(ls, run, root, editor, base, command, request_token)
    finally:
        ls.validations.release(run)


async def _confirm_and_run(ls, run: Run, root: Path, editor: ValidationSettings, base: str | None, command: str,
                           request_token: types.ProgressToken | None) -> dict[str, Any]:
    from mldiff.validate import api
    if not await asyncio.to_thread(api.is_confirmed, root, editor.command, editor.runner):
        choice = await ls.window_show_message_request_async(types.ShowMessageRequestParams(
            type=types.MessageType.Warning,
            message=(f"mldiff: Validate change runs this project's training command for the base and for your "
                     f"change, in {root}:\n{command}\nRun it? (asked once for this command in this repository)"),
            actions=[types.MessageActionItem(title=RUN), types.MessageActionItem(title=CANCEL)]))
        if choice is None or choice.title != RUN:
            return _answer(ls, "declined", f"mldiff: not validated: the command was not confirmed ({command})",
                           types.MessageType.Info)
        if run.cancel.is_set():
            return _answer(ls, "cancelled", "mldiff: validation cancelled before it started", None)
        await asyncio.to_thread(api.confirm, root, editor.command, editor.runner)
    if run.cancel.is_set():
        return _answer(ls, "cancelled", "mldiff: validation cancelled before it started", None)
    progress = await WorkProgress.begin(ls, request_token, TITLE, "preparing the base checkout", cancellable=True)
    run.token = progress.token
    _log(ls, types.MessageType.Info, f"mldiff: validating {root} against {base or 'HEAD'}: {command}")

    def report(stage: str, step: int, total: int) -> None:
        progress.report(*stage_progress(stage, step, total))

    def work():
        try:
            return api.run_validation(root, base=base, steps=editor.steps, runner=editor.runner,
                                      timeout=editor.timeout, progress=report, cancel=run.cancel,
                                      command=editor.command)
        finally:
            run.finished.set()  # cleaned up (also when the loop that awaits this is gone)

    run.started = True
    try:
        result = await on_thread(work, "mldiff-validation")
    except api.ValidationCancelled:
        progress.end("cancelled")
        message = ("mldiff: validation cancelled: the runs were stopped, the base checkout removed and "
                   "nothing was stored")
        return _answer(ls, "cancelled", message, None if run.cancelled_by == BY_REQUEST else types.MessageType.Info)
    except MldiffError as exc:  # ValidationError (a run failed, timed out, never stepped) included
        progress.end("failed")
        return _answer(ls, "failed", f"mldiff: validation failed: {exc}")
    except Exception as exc:  # noqa: BLE001 - a bug must not take the server down
        logger.exception("validation of %s failed", root)
        progress.end("failed")
        return _answer(ls, "failed", f"mldiff: validation failed unexpectedly: {exc!r} (see the server's log)")
    from mldiff.validate.report import format_text
    answer = result.to_json()
    summary = summary_line(answer)
    progress.end(summary)
    _log(ls, types.MessageType.Info, format_text(answer))
    contradicted = contradiction_message(answer)
    loud = answer.get("warnings") or contradicted
    _show(ls, types.MessageType.Warning if loud else types.MessageType.Info, summary)
    if contradicted:
        _show(ls, types.MessageType.Warning, contradicted)
        _log(ls, types.MessageType.Warning, contradicted)
    return {"status": "ok", "summary": summary, **answer}


# -- mldiff.attachToCommit ---------------------------------------------------------------------

def _attach(uri: str | None) -> dict[str, str | None]:
    from mldiff.validate import api
    try:
        return api.attach_answer(repository_root(uri))
    except MldiffError as exc:
        return {"trailers": None, "reason": str(exc)}


def register(server) -> None:
    @server.command(VALIDATE)
    async def validate_command(ls, *arguments: Any) -> dict[str, Any]:
        return await validate(ls, arguments)

    @server.command(ATTACH)
    async def attach_command(ls, *arguments: Any) -> dict[str, str | None]:
        return await asyncio.to_thread(_attach, target_uri(ls, arguments))

    @server.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)
    def progress_cancelled(ls, params: types.WorkDoneProgressCancelParams) -> None:
        ls.validations.cancel_progress(params.token)

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls, *args: Any) -> None:
        await asyncio.to_thread(ls.validations.stop_all, SHUTDOWN_WAIT_S)
