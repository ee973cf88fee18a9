"""The validations this server is running: at most one per repository, each one stopped by
its request's ``$/cancelRequest``, its progress token's ``window/workDoneProgress/cancel``,
or the server shutting down (then the base checkout is removed before the server exits).

A run works on its own daemon thread, never on the event loop or the analysis worker:
diagnostics keep coming while the training command runs.
"""
from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from lsprotocol import types

T = TypeVar("T")

BY_REQUEST = "request"      # the client cancelled the request ($/cancelRequest)
BY_PROGRESS = "progress"    # the user pressed cancel on the progress (window/workDoneProgress/cancel)
BY_SHUTDOWN = "shutdown"


@dataclass(eq=False)
class Run:
    root: str
    request_id: Any
    token: types.ProgressToken | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    cancelled_by: str | None = None
    started: bool = False               # its thread runs (a run still asking the user has none)
    finished: threading.Event = field(default_factory=threading.Event)

    def stop(self, why: str) -> None:
        if not self.cancel.is_set():
            self.cancelled_by = why
            self.cancel.set()


class ValidationRuns:
    def __init__(self) -> None:
        self._runs: dict[str, Run] = {}
        self._lock = threading.Lock()

    def claim(self, root: str, request_id: Any) -> Run | None:
        """A new run for ``root``; None while another one holds it."""
        with self._lock:
            if root in self._runs:
                return None
            run = self._runs[root] = Run(root, request_id)
            return run

    def release(self, run: Run) -> None:
        with self._lock:
            if self._runs.get(run.root) is run:
                del self._runs[run.root]
        run.finished.set()

    def cancel_request(self, request_id: Any) -> None:
        self._stop(lambda run: run.request_id == request_id, BY_REQUEST)

    def cancel_progress(self, token: types.ProgressToken) -> None:
        self._stop(lambda run: run.token is not None and run.token == token, BY_PROGRESS)

    def stop_all(self, wait_s: float) -> None:
        """Stop every run and wait (up to ``wait_s``) until each started one has cleaned up."""
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            run.stop(BY_SHUTDOWN)
        deadline = time.monotonic() + wait_s
        for run in runs:
            if run.started:
                run.finished.wait(max(0.0, deadline - time.monotonic()))

    def _stop(self, match: Callable[[Run], bool], why: str) -> None:
        with self._lock:
            runs = [run for run in self._runs.values() if match(run)]
        for run in runs:
            run.stop(why)


def on_thread(work: Callable[[], T], name: str) -> asyncio.Future[T]:
    """``work()`` on a new daemon thread (a server that must exit is never held by it;
    ``stop_all`` cleans up first); its result or exception on the calling loop."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(error: BaseException | None, value: Any) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)

    def target() -> None:
        try:
            value = work()
        except BaseException as error:  # noqa: BLE001 - handed to the awaiting handler
            outcome: tuple[BaseException | None, Any] = (error, None)
        else:
            outcome = (None, value)
        try:
            loop.call_soon_threadsafe(settle, *outcome)
        except RuntimeError:  # the loop closed during shutdown
            pass

    threading.Thread(target=target, name=name, daemon=True).start()
    return future
