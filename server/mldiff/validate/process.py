"""Run one probe process: its own process group, streamed output, timeout and cancel.

The process gets a pipe as stdin that mldiff never writes and never closes while it
waits: the probe (``--watch-stdin``) stops its own group when the pipe reaches end of
file, which happens when mldiff dies in any way, SIGKILL included, and also across
``docker exec -i`` and ``devcontainer exec`` into a container.
"""
from __future__ import annotations

import collections
import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from mldiff.errors import MldiffError

_PROGRESS = re.compile(r"\[mldiff-probe\] step (\d+)/(\d+)")
_STARTED = re.compile(r"\[mldiff-probe\] started(?: job (\S+) on (\S+?))?,")
TAIL_LINES = 30


@dataclass
class Outcome:
    returncode: int | None
    seconds: float
    last_step: int = 0
    timed_out: bool = False
    cancelled: bool = False
    tail: list[str] = field(default_factory=list)   # last lines of stdout+stderr, progress lines left out
    started: bool = False           # the probe said it started (in a Slurm job: the job runs)
    start_timed_out: bool = False   # it did not start within start_timeout (a job left in the queue)
    job_id: str | None = None       # the Slurm job the probe ran in, from its first line
    node: str | None = None


def kill_group(process: subprocess.Popen[Any], grace: float = 3.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left after ``grace`` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            break
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        if sig == signal.SIGTERM:
            # The leader is gone; its children (data loader workers) may not be.
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            break


def run(argv: list[str], cwd: str, env: dict[str, str], timeout: float,
        on_step: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None, start_timeout: float | None = None,
        on_stop: Callable[[], None] | None = None,
        on_start: Callable[[Outcome], None] | None = None) -> Outcome:
    """Run ``argv`` to the end, a timeout or a cancel; Ctrl-C kills it and propagates.

    With ``start_timeout`` (a scheduler's queue), ``timeout`` counts from the probe's first
    line and the wait before it is limited to ``start_timeout``. ``on_stop`` runs first when
    the run is stopped here (cancel, timeout, Ctrl-C): ``scancel`` for a Slurm job."""
    started = time.monotonic()
    try:
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    except OSError as exc:  # the interpreter (or the devcontainer / docker CLI) is not there
        raise MldiffError(f"cannot start {argv[0]!r}: {exc.strerror or exc} (is it installed and on PATH?)") from None
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    state = {"step": 0}
    outcome = Outcome(returncode=None, seconds=0.0)
    clock = {"start": started}

    def read() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            begun = _STARTED.search(line)
            if begun and not outcome.started:
                outcome.started = True
                outcome.job_id, outcome.node = begun.group(1), begun.group(2)
                if start_timeout is not None:
                    clock["start"] = time.monotonic()
                if on_start is not None:
                    try:
                        on_start(outcome)
                    except Exception:  # noqa: BLE001 - a progress callback must not stop the run
                        pass
                continue
            match = _PROGRESS.search(line)
            if match:
                state["step"] = int(match.group(1))
                if on_step is not None:
                    try:
                        on_step(int(match.group(1)), int(match.group(2)))
                    except Exception:  # noqa: BLE001 - a progress callback must not stop the run
                        pass
                line = line[:match.start()].rstrip()
                if not line:
                    continue
            tail.append(line)

    reader = threading.Thread(target=read, name="mldiff-probe-output", daemon=True)
    reader.start()
    try:
        while True:
            try:
                outcome.returncode = process.wait(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                pass
            if cancel is not None and cancel.is_set():
                outcome.cancelled = True
                break
            now = time.monotonic()
            if start_timeout is not None and not outcome.started:
                if now - started > start_timeout:
                    outcome.start_timed_out = True
                    break
            elif now - clock["start"] > timeout:
                outcome.timed_out = True
                break
    finally:
        if outcome.returncode is None and on_stop is not None:
            try:
                on_stop()
            except Exception:  # noqa: BLE001 - the group is killed below whatever happens
                pass
        # Always: the group may hold children of an exited leader; on Ctrl-C it holds the run.
        kill_group(process)
        reader.join(timeout=5)
        if process.stdin is not None:
            process.stdin.close()
    outcome.seconds = time.monotonic() - started
    outcome.last_step = state["step"]
    outcome.tail = list(tail)
    return outcome
