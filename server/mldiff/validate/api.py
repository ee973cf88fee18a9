"""What the language server calls (commands ``mldiff.validate`` and ``mldiff.attachToCommit``).

Run these off the event loop (they start processes and wait for them):

- ``command_text(root, command, runner)``: the exact text to show in ``window/showMessageRequest``;
  ``is_confirmed`` / ``confirm`` (same arguments): whether the user agreed to run that exact text
  in this repository (stored under the git dir, keyed by the text; a changed command asks again).
  ``command`` and ``runner`` are the editor's overrides of ``[tool.mldiff.validate]`` (None: the file's).
- ``run_validation(root, base, steps, runner, timeout, progress, cancel, command=...)``:
  ``progress(stage, step, total)`` with stage ``prepare | base | change | compare | done``; setting
  ``cancel`` kills the run's process group and removes the base checkout, then raises
  ``ValidationCancelled``.
- ``attach_answer(root)``: ``{"trailers": text, "reason": None}`` for the staged change, or
  ``{"trailers": None, "reason": why there are none}``; ``attach_text(root)`` is either string.
  The results store is where the installed hook finds them; nothing else is written.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from mldiff.commit import staged_trailers, trailer_text
from mldiff.validate import gitcmd, store
from mldiff.validate.command import ValidateConfig, check_runner, load_config
from mldiff.validate.validation import (ValidationCancelled, ValidationError, ValidationResult,
                                        run_validation)

__all__ = ["ValidationCancelled", "ValidationError", "ValidationResult", "attach_answer", "attach_text",
           "command_text", "confirm", "is_confirmed", "run_validation"]

Command = str | list[str] | None


def _config(top: Path, command: Command, runner: str | None) -> ValidateConfig:
    config = load_config(top, command)
    return replace(config, runner=check_runner(runner)) if runner else config


def command_text(root: Path | str, command: Command = None, runner: str | None = None) -> str:
    return _config(gitcmd.toplevel(root), command, runner).describe()


def is_confirmed(root: Path | str, command: Command = None, runner: str | None = None) -> bool:
    top = gitcmd.toplevel(root)
    return store.is_confirmed(gitcmd.common_dir(top), _config(top, command, runner).describe())


def confirm(root: Path | str, command: Command = None, runner: str | None = None) -> None:
    top = gitcmd.toplevel(root)
    store.confirm(gitcmd.common_dir(top), _config(top, command, runner).describe())


def attach_answer(root: Path | str) -> dict[str, str | None]:
    pairs, reason = staged_trailers(gitcmd.toplevel(root))
    if pairs:
        return {"trailers": trailer_text(pairs), "reason": None}
    return {"trailers": None, "reason": reason}


def attach_text(root: Path | str) -> str:
    answer = attach_answer(root)
    return answer["trailers"] or answer["reason"] or ""
