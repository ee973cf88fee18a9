"""How fast ``diff_lines`` is on the edits an editor sends, next to ``git diff --no-index -U0``.

Usage: python bench/hunks_speed.py [--runs N]

Sources are real files of the installed torch package (found, not imported). Each case
prints the median and 95th percentile of ``diff_lines`` (the head is split afresh for
every run, as after a keystroke, and that split is not timed) and of a whole
``git diff --no-index -U0`` process on the same two files, and checks that both give
the same hunks.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

from mldiff.hunks import Hunk, diff_lines, split_lines  # noqa: E402

SMALL_FILE = "nn/utils/clip_grad.py"  # about 300 lines
LARGE_FILE = "_inductor/utils.py"  # about 5,000 lines
OTHER_LARGE_FILE = "_inductor/codecache.py"
HEADER = re.compile(rb"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@", re.MULTILINE)
GIT_ENV = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}


def torch_root() -> Path:
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("torch is not installed: its source files are the benchmark's input")
    return Path(list(spec.submodule_search_locations)[0])


def edit_one_line(lines: list[str]) -> list[str]:
    head = list(lines)
    middle = len(head) // 2
    head[middle] = head[middle].rstrip("\n") + "  # edited\n"
    return head


def move_block(lines: list[str]) -> list[str]:
    head = list(lines)
    start = len(head) // 3
    block = head[start:start + 50]
    del head[start:start + 50]
    target = 2 * len(head) // 3
    head[target:target] = block
    return head


def reindent(lines: list[str]) -> list[str]:
    """Every indented line re-indented from 4 to 2 spaces per level (a formatter run)."""
    out = []
    for line in lines:
        stripped = line.lstrip(" ")
        out.append(" " * ((len(line) - len(stripped)) // 2) + stripped)
    return out


def heavy_rewrite(lines: list[str]) -> list[str]:
    """30% of lines edited, 9% removed, 6% followed by a new line, then 30% of 40-line
    blocks swapped around: most lines still match somewhere, the worst case for Myers."""
    rng = random.Random(1)
    out = []
    for line in lines:
        roll = rng.random()
        if roll < 0.30:
            out.append(line.rstrip("\n") + "  # x\n")
        elif roll < 0.39:
            continue
        elif roll < 0.45:
            out += [line, "    y = 2\n"]
        else:
            out.append(line)
    blocks = [out[i:i + 40] for i in range(0, len(out), 40)]
    for _ in range(len(blocks) * 3 // 10):
        first, second = rng.randrange(len(blocks)), rng.randrange(len(blocks))
        blocks[first], blocks[second] = blocks[second], blocks[first]
    return [line for block in blocks for line in block]


def percentiles(seconds: list[float]) -> tuple[float, float]:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p95 * 1000


def time_ours(base_lines: list[str], head_text: str, runs: int) -> tuple[list[Hunk], list[float], list[float]]:
    """The hunks, and wall-clock and CPU seconds of each run."""
    wall, cpu = [], []
    hunks: list[Hunk] = []
    for _ in range(runs):
        head_lines = split_lines(head_text)  # fresh strings, as after a keystroke
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        hunks = diff_lines(base_lines, head_lines)
        cpu.append(time.process_time() - cpu_start)
        wall.append(time.perf_counter() - wall_start)
    return hunks, wall, cpu


def time_git(base_text: str, head_text: str, runs: int) -> tuple[list[str], list[float]]:
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "base").write_text(base_text, encoding="utf-8", newline="")
        Path(folder, "head").write_text(head_text, encoding="utf-8", newline="")
        command = ["git", "diff", "--no-index", "-U0", "--no-color", "--", "base", "head"]
        seconds = []
        output = b""
        for _ in range(runs):
            start = time.perf_counter()
            output = subprocess.run(command, cwd=folder, env=GIT_ENV, capture_output=True).stdout
            seconds.append(time.perf_counter() - start)
    return [match.group(0).decode() for match in HEADER.finditer(output)], seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="runs of the fast cases (rewrites run a tenth)")
    args = parser.parse_args()
    root = torch_root()
    small = (root / SMALL_FILE).read_text(encoding="utf-8")
    large = (root / LARGE_FILE).read_text(encoding="utf-8")
    other = (root / OTHER_LARGE_FILE).read_text(encoding="utf-8")
    edited: Callable[[Callable[[list[str]], list[str]], str], str] = lambda edit, text: "".join(
        edit(split_lines(text)))
    cases = [
        ("one-line edit, 300-line file", small, edited(edit_one_line, small), args.runs),
        ("one-line edit, 5,000-line file", large, edited(edit_one_line, large), args.runs),
        ("50-line block moved, 5,000-line file", large, edited(move_block, large), args.runs),
        ("rewrite: every line re-indented", large, edited(reindent, large), max(5, args.runs // 10)),
        ("rewrite: replaced by another file", large, other, max(5, args.runs // 10)),
        ("rewrite: 30% edited, blocks shuffled", large, edited(heavy_rewrite, large), max(5, args.runs // 10)),
    ]
    print(f"python {sys.version.split()[0]}, {subprocess.run(['git', '--version'], capture_output=True, text=True).stdout.strip()}")
    print(f"sources: torch/{SMALL_FILE} ({len(split_lines(small))} lines), torch/{LARGE_FILE} "
          f"({len(split_lines(large))} lines), torch/{OTHER_LARGE_FILE} ({len(split_lines(other))} lines)")
    print("times in ms; diff_lines cpu is its process CPU time, which a busy machine inflates less")
    print(f"{'case':40} {'runs':>5} {'hunks':>6} {'diff_lines wall':>17} {'cpu':>8} {'git diff wall':>17}  same")
    print(f"{'':40} {'':>5} {'':>6} {'median':>8} {'p95':>8} {'median':>8} {'median':>8} {'p95':>8}")
    for name, base_text, head_text, runs in cases:
        hunks, ours, ours_cpu = time_ours(split_lines(base_text), head_text, runs)
        git_headers, git_seconds = time_git(base_text, head_text, runs)
        same = [hunk.header() for hunk in hunks] == git_headers
        ours_median, ours_p95 = percentiles(ours)
        git_median, git_p95 = percentiles(git_seconds)
        print(f"{name:40} {runs:5} {len(hunks):6} {ours_median:8.3f} {ours_p95:8.3f} "
              f"{statistics.median(ours_cpu) * 1000:8.3f} {git_median:8.3f} {git_p95:8.3f}  {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
