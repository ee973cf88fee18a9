"""`mldiff log` over a repository's whole first-parent history, cold and warm, next to
`git log -p` over the same range, in the same run.

The repository is cloned (`--shared`, no objects copied) into a temporary directory so
the per-commit cache mldiff writes never lands in the source. Each round runs, in turn:
`git log -p --first-parent`, `mldiff log` with the cache cleared (cold), `mldiff log`
again (warm). Prints medians of wall and CPU time (user + system, git included) and the
ratios to `git log -p`; the CPU figures are the ones to compare on a busy machine.

    python bench/log_history.py --repo PATH/TO/nanoGPT.git [--rev HEAD] [--runs 5]
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import load_line, medians, mldiff_env, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", required=True, help="a git repository (work tree or git dir)")
    parser.add_argument("--rev", default="HEAD", help="the history to walk: REV's first-parent line")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mldiff-bench-log-") as tmp:
        clone = Path(tmp) / "repo.git"
        subprocess.run(["git", "clone", "-q", "--bare", "--shared", args.repo, str(clone)], check=True)
        env = mldiff_env(Path(tmp) / "pycache")
        commits = subprocess.run(["git", "-C", str(clone), "rev-list", "--first-parent", "--count", args.rev],
                                 capture_output=True, text=True, check=True).stdout.strip()
        cache = clone / "mldiff" / "log-cache"
        # What the installed `mldiff` console script runs (no runpy, unlike python -m mldiff).
        mldiff_log = [sys.executable, "-c", "import sys; from mldiff.cli import main; sys.exit(main())",
                      "log", "--repo", str(clone), "--stats", args.rev]
        commands = {
            "git log -p --first-parent": ["git", "-C", str(clone), "log", "-p", "--first-parent", args.rev, "--"],
            "mldiff log, cold": mldiff_log,
            "mldiff log, warm": mldiff_log,
            "python -c pass (floor)": [sys.executable, "-c", "pass"],
        }
        timed(mldiff_log, env)  # compiles mldiff's bytecode once, as an install would
        rows: dict[str, list[tuple[float, float]]] = {label: [] for label in commands}
        stats = {}
        for _ in range(args.runs):
            for label, command in commands.items():
                if label.endswith("cold"):
                    shutil.rmtree(cache, ignore_errors=True)
                wall, cpu, result = timed(command, env, stdout=subprocess.DEVNULL)
                if result.returncode != 0:
                    sys.exit(f"{label} failed: {result.stderr.decode(errors='replace')}")
                rows[label].append((wall, cpu))
                if label.startswith("mldiff"):
                    stats[label] = result.stderr.decode(errors="replace").strip().splitlines()[-1]
    git_wall, git_cpu = medians(rows["git log -p --first-parent"])
    print(f"{args.repo} {args.rev}: {commits} first-parent commits, {args.runs} runs, {load_line()}")
    for label in ("mldiff log, cold", "mldiff log, warm"):
        print(f"  {label}: {stats[label]}")
    print(f"  {'':28} {'wall median':>12} {'CPU median':>11} {'wall x git':>11} {'CPU x git':>10}")
    for label, times in rows.items():
        wall, cpu = medians(times)
        print(f"  {label:28} {wall * 1000:9.0f} ms {cpu * 1000:8.0f} ms {wall / git_wall:10.1f}x {cpu / git_cpu:9.1f}x")


if __name__ == "__main__":
    main()
