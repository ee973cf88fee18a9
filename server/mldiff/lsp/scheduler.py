"""Analysis off the event loop: one worker thread, debounced, newest revision wins.

Each open document has at most one job running and one pending. An edit restarts the
document's debounce timer; when it fires, the job reads a snapshot of the buffer as
it is *then* (copied on the event loop, so never half-edited). A result comes back to the event loop and is used only if the document
has not changed since its snapshot; if it has, the newer snapshot's job is already on
its way. One worker keeps the engine's caches single-threaded and git's processes
serial, and the event loop stays free to answer the client.

The debounce adapts to the document (``mldiff.debounceMs = "auto"``): an analysis that
took under a few milliseconds starts at once after the next edit, a slower one waits
as long as the last analysis took (bounded), so fast typing in a large file does not
spend the worker on texts that the next keystroke supersedes.
"""
from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

logger = logging.getLogger(__name__)

# What a job was asked for: a full analysis, or only if git's state changed.
FULL = "full"
GIT = "git"

AUTO_FREE_S = 0.01       # an analysis faster than this: no debounce at all
AUTO_MAX_S = 0.25        # the longest automatic debounce, however slow the document
AUTO_UNKNOWN_S = 0.03    # a document not analysed yet


def auto_delay_s(last_s: float | None) -> float:
    """The automatic debounce for a document whose last analysis took ``last_s`` seconds."""
    if last_s is None:
        return AUTO_UNKNOWN_S
    if last_s < AUTO_FREE_S:
        return 0.0
    return min(AUTO_MAX_S, last_s)


class Scheduler:
    def __init__(self, snapshot: Callable[[str], Any], job: Callable[[Any, str], Any],
                 on_result: Callable[[str, Any], None]) -> None:
        self._snapshot = snapshot            # uri -> snapshot or None, on the event loop
        self._job = job                      # (snapshot, reason) -> result, on the worker thread
        self._on_result = on_result          # (uri, result), on the event loop
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mldiff-analysis")
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._pending: dict[str, str] = {}   # uri -> reason, waiting for the timer or the worker
        self._running: set[str] = set()
        self._took: dict[str, float] = {}    # uri -> seconds its last analysis took on the worker

    def delay_s(self, uri: str, fixed_ms: int | None) -> float:
        """The debounce for an edit of ``uri``: ``fixed_ms`` when set, else automatic."""
        if fixed_ms is not None:
            logger.debug("debounce for %s: %d ms (mldiff.debounceMs)", uri, fixed_ms)
            return fixed_ms / 1000
        last = self._took.get(uri)
        delay = auto_delay_s(last)
        logger.debug("debounce for %s: %.0f ms (auto; last analysis %s)", uri, delay * 1000,
                     "not yet" if last is None else f"took {last * 1000:.1f} ms")
        return delay

    def schedule(self, uri: str, delay_s: float, reason: str = FULL) -> None:
        """Analyse ``uri`` after ``delay_s`` of quiet (0: as soon as the worker is free)."""
        self._pending[uri] = FULL if self._pending.get(uri) == FULL else reason
        timer = self._timers.pop(uri, None)
        if timer is not None:
            timer.cancel()
        loop = asyncio.get_running_loop()
        if delay_s <= 0:
            self._start(uri)
        else:
            self._timers[uri] = loop.call_later(delay_s, self._start, uri)

    def cancel(self, uri: str) -> None:
        timer = self._timers.pop(uri, None)
        if timer is not None:
            timer.cancel()
        self._pending.pop(uri, None)
        self._took.pop(uri, None)

    def submit(self, work: Callable[[], Any]) -> asyncio.Future:
        """Run ``work`` on the worker thread (after the jobs already queued)."""
        return asyncio.get_running_loop().run_in_executor(self._executor, work)

    def _start(self, uri: str) -> None:
        self._timers.pop(uri, None)
        if uri in self._running or uri not in self._pending:
            return  # the running job's completion starts the pending one
        reason = self._pending.pop(uri)
        snapshot = self._snapshot(uri)  # taken here, on the loop, never while an edit is half-applied
        if snapshot is None:
            return
        self._running.add(uri)
        future = self.submit(lambda: self._timed(snapshot, reason))
        future.add_done_callback(lambda done: self._finished(uri, done))

    def _timed(self, snapshot: Any, reason: str) -> tuple[Any, float]:
        """On the worker: the job's result and how long it took."""
        started = time.perf_counter()
        result = self._job(snapshot, reason)
        return result, time.perf_counter() - started

    def _finished(self, uri: str, future: asyncio.Future) -> None:
        self._running.discard(uri)
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            logger.error("analysis of %s failed", uri, exc_info=error)
        else:
            result, took = future.result()
            if result is not None:  # None: nothing to do (git unchanged, or superseded)
                self._took[uri] = took
            try:
                self._on_result(uri, result)
            except Exception:
                logger.exception("publishing the analysis of %s failed", uri)
        if uri in self._pending and uri not in self._timers:
            self._start(uri)

    def shutdown(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)
