"""Shared by the bench scripts: run a command, return its wall and CPU time; the environment
that runs this checkout's mldiff the way an installed one runs.

CPU time is user + system of the command and its children (git included), so it is the
figure to compare on a shared, noisy machine; wall time is what a person waits.
"""
from __future__ import annotations

import os
import resource
import statistics
import subprocess
import time
from pathlib import Path

SERVER = Path(__file__).resolve().parents[1] / "server"


def timed(command: list[str], env: dict[str, str] | None = None,
          stdout=subprocess.PIPE) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall seconds, CPU seconds (user + system, the command and its children), result."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, stdout=stdout, stderr=subprocess.PIPE, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, result


def mldiff_env(pycache: str | os.PathLike) -> dict[str, str]:
    """This checkout's server/ on the path, and bytecode cached under ``pycache`` even where
    PYTHONDONTWRITEBYTECODE is set: an installed mldiff has its .pyc files, and compiling
    every module on every run would be measured instead of mldiff."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SERVER), os.environ.get("PYTHONPATH")]))
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def medians(times: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(w for w, _ in times), statistics.median(c for _, c in times)


def load_line() -> str:
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
