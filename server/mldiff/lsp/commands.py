"""``mldiff.setBase``: compare the open files with another base from the editor.

Arguments: the base ("HEAD", "index", "merge-base:main", any revision); none, null
or "" goes back to the settings. It wins over every setting for this session.
"""
from __future__ import annotations

from typing import Any

from lsprotocol import types

from mldiff.lsp.scheduler import FULL

SET_BASE = "mldiff.setBase"


def register(server) -> None:
    @server.command(SET_BASE)
    def set_base(ls, *arguments: Any) -> dict[str, Any]:
        base = arguments[0] if arguments else None
        if isinstance(base, dict):  # {"base": "..."} from clients that pass one object
            base = base.get("base")
        if base is not None and not isinstance(base, str):
            ls.window_show_message(types.ShowMessageParams(
                type=types.MessageType.Error, message=f"mldiff.setBase: the base must be a revision name, not {base!r}"))
            return {"base": ls.settings.base_override, "error": "the base must be a string"}
        ls.settings.base_override = base.strip() if base and base.strip() else None
        ls.recheck_all(FULL, 0)
        return {"base": ls.settings.base_override}
