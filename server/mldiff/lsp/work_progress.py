"""Work-done progress for one long request, reported from any thread.

On the request's own ``workDoneToken`` when the client sent one (VS Code's extension does,
and shows it in its own notification); else on a token the server creates with
``window/workDoneProgress/create`` when the client supports that (Neovim); else nowhere.
"""
from __future__ import annotations

import asyncio
import logging
import uuid

from lsprotocol import types
from pygls.capabilities import get_capability

logger = logging.getLogger(__name__)

CREATE_WAIT_S = 5.0


class WorkProgress:
    def __init__(self, ls, token: types.ProgressToken | None) -> None:
        self._ls = ls
        self._loop = asyncio.get_running_loop()
        self.token = token
        self._percentage = 0
        self._ended = False

    @classmethod
    async def begin(cls, ls, request_token: types.ProgressToken | None, title: str, message: str,
                    cancellable: bool) -> WorkProgress:
        """Start progress (on the event loop)."""
        token = request_token
        if token is None and get_capability(ls.client_capabilities, "window.work_done_progress", False):
            token = f"mldiff-{uuid.uuid4()}"
            try:
                await asyncio.wait_for(ls.work_done_progress.create_async(token), CREATE_WAIT_S)
            except Exception as exc:  # noqa: BLE001 - no progress is better than no validation
                logger.warning("window/workDoneProgress/create failed: %r", exc)
                token = None
        progress = cls(ls, token)
        if token is not None:
            ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(
                title=title, message=message, cancellable=cancellable, percentage=0))
        return progress

    def report(self, message: str, percentage: int) -> None:
        """Report from any thread; the percentage never goes back."""
        self._percentage = max(self._percentage, min(100, percentage))
        value = types.WorkDoneProgressReport(message=message, percentage=self._percentage)
        self._send(lambda: self._ls.work_done_progress.report(self.token, value))

    def end(self, message: str) -> None:
        if self._ended:
            return
        self._ended = True
        value = types.WorkDoneProgressEnd(message=message)

        def send() -> None:
            self._ls.work_done_progress.end(self.token, value)
            self._ls.work_done_progress.tokens.pop(self.token, None)

        self._send(send)

    def _send(self, send) -> None:
        """Queue ``send`` on the loop (also from the loop: it keeps the order of reports and end)."""
        if self.token is None:
            return
        try:
            self._loop.call_soon_threadsafe(send)
        except RuntimeError:  # the loop closed during shutdown
            pass
