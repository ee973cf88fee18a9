"""`mldiff check` between two revisions next to the `git diff` it builds on, same run.

Prints the wall and CPU time of `git diff -U0 BASE HEAD -- '*.py'` and of
`mldiff check --repo REPO --base BASE --head HEAD --format json` (serial and with all
cores), the number of changed files, findings and errors.

    PYTHONPATH=server python bench/check_vs_git_diff.py REPO v1.0.20 v1.0.28 [--runs 3]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

from timing import SERVER, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo")
    parser.add_argument("base")
    parser.add_argument("head")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SERVER), os.environ.get("PYTHONPATH")]))}
    git_diff = ["git", "-C", args.repo, "diff", "-U0", args.base, args.head, "--", "*.py"]
    check = [sys.executable, "-m", "mldiff", "check", "--repo", args.repo, "--base", args.base,
             "--head", args.head, "--format", "json"]
    serial = [sys.executable, "-c", "import sys, time; from mldiff.checking import run_check; "
              "r = run_check(sys.argv[1], base=sys.argv[2], head=sys.argv[3], jobs=1); "
              "print(len(r.findings))", args.repo, args.base, args.head]
    rows: dict[str, list[tuple[float, float]]] = {
        "git diff -U0 -- '*.py'": [], "mldiff check --format json": [], "run_check(jobs=1)": []}
    outputs = {}
    for _ in range(args.runs):
        for label, command in zip(rows, (git_diff, check, serial)):
            wall, cpu, result = timed(command, env)
            rows[label].append((wall, cpu))
            outputs[label] = result
    diff_text = outputs["git diff -U0 -- '*.py'"].stdout.decode("utf-8", "replace")
    files = diff_text.count("\ndiff --git ") + diff_text.startswith("diff --git ")
    checked = outputs["mldiff check --format json"]
    data = json.loads(checked.stdout)
    print(f"{args.repo} {args.base}..{args.head}: {files} changed .py files, exit {checked.returncode}, "
          f"{len(data['findings'])} findings, {len(data['errors'])} errors")
    print(f"  load average before: {load_before:.1f} on {os.cpu_count()} cores")
    for label, times in rows.items():
        walls = [wall for wall, _ in times]
        cpus = [cpu for _, cpu in times]
        print(f"  {label:<30} wall median {statistics.median(walls):7.2f} s, CPU median "
              f"{statistics.median(cpus):7.2f} s  (wall runs: " + ", ".join(f"{t:.2f}" for t in walls) + ")")


if __name__ == "__main__":
    main()
