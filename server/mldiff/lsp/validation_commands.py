"""``mldiff.validate`` and ``mldiff.attachToCommit``: registered here so code lenses and
source actions can name them; the validation engine replaces these placeholders."""
from __future__ import annotations

from typing import Any

from lsprotocol import types

VALIDATE = "mldiff.validate"
ATTACH = "mldiff.attachToCommit"
NOT_AVAILABLE = ("{what} is not available yet in this version of mldiff: the validation engine "
                 "has not been built into the language server.")


def _placeholder(ls, what: str) -> dict[str, Any]:
    message = NOT_AVAILABLE.format(what=what)
    ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Info, message=message))
    return {"available": False, "message": message}


def register(server) -> None:
    @server.command(VALIDATE)
    def validate(ls, *arguments: Any) -> dict[str, Any]:
        return _placeholder(ls, "Validating a change")

    @server.command(ATTACH)
    def attach_to_commit(ls, *arguments: Any) -> dict[str, Any]:
        return _placeholder(ls, "Attaching validation results to the commit message")
