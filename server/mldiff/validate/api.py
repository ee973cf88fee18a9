"""What the language server calls (commands ``mldiff.validate`` and ``mldiff.attachToCommit``).

Run these off the event loop (they start processes and wait for them):

- ``command_text(root)``: the exact text to show in ``window/showMessageRequest``;
  ``is_confirmed(root)`` / ``confirm(root)``: whether the user agreed to run that exact text in
  this repository (stored under the git dir, keyed by the text; a changed command asks again).
- ``run_validation(root, base, steps, runner, progress, cancel)``: ``progress(stage, step, total)``
  with stage ``prepare | base | change | compare | done``; setting ``cancel`` kills the run's
  process group and removes the base checkout, then raises ``ValidationCancelled``.
- ``attach_text(root)``: the trailers for the staged change, or a sentence saying why there are
  none. The results store is where the installed hook finds them; nothing else is written.
"""
from __future__ import annotations

from pathlib import Path

from mldiff.commit import staged_trailers, trailer_text
from mldiff.validate import gitcmd, store
from mldiff.validate.command import load_config
from mldiff.validate.validation import (ValidationCancelled, ValidationError, ValidationResult,
                                        run_validation)

__all__ = ["ValidationCancelled", "ValidationError", "ValidationResult", "attach_text", "command_text",
           "confirm", "is_confirmed", "run_validation"]


def command_text(root: Path | str) -> str:
    return load_config(gitcmd.toplevel(root)).describe()


def is_confirmed(root: Path | str) -> bool:
    top = gitcmd.toplevel(root)
    return store.is_confirmed(gitcmd.common_dir(top), load_config(top).describe())


def confirm(root: Path | str) -> None:
    top = gitcmd.toplevel(root)
    store.confirm(gitcmd.common_dir(top), load_config(top).describe())


def attach_text(root: Path | str) -> str:
    pairs, reason = staged_trailers(gitcmd.toplevel(root))
    return trailer_text(pairs) if pairs else reason
