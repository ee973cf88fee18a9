#!/usr/bin/env python3
"""Run the analysis engine over a repository's history and print what it reports, to read
for false alarms (RULES-GUIDE.md, "Measuring").

Every non-merge commit's changed files of the chosen kinds (``filekinds.file_kind``) are
compared with the commit's first parent, in-process, exactly as ``mldiff check`` would.

Usage: scan_history.py GIT_DIR [--kinds requirements,dockerfile,...] [--rev REV] [--max N]
       [--codes ML13,ML301] [--quiet]
Prints one block per file with findings, then counts: commits, files, findings per code,
errors, and the slowest file.
"""
from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

from mldiff.analysis.engine import analyze  # noqa: E402
from mldiff.analysis.filekinds import file_kind  # noqa: E402


def git(git_dir: str, *args: str) -> bytes:
    return subprocess.run(["git", "--git-dir", git_dir, *args], capture_output=True, check=False,
                          env={"GIT_OPTIONAL_LOCKS": "0", "PATH": "/usr/bin:/bin:/usr/local/bin"}).stdout


def blob(git_dir: str, rev: str, path: str) -> str | None:
    result = subprocess.run(["git", "--git-dir", git_dir, "cat-file", "blob", f"{rev}:{path}"],
                            capture_output=True, check=False)
    return result.stdout.decode("utf-8", errors="replace") if result.returncode == 0 else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("git_dir")
    parser.add_argument("--kinds", default="")
    parser.add_argument("--rev", default="HEAD")
    parser.add_argument("--max", type=int, default=0, help="stop after this many commits (0: all)")
    parser.add_argument("--codes", default="", help="only print findings whose code starts with one of these")
    parser.add_argument("--quiet", action="store_true", help="print only the counts")
    args = parser.parse_args()
    kinds = set(filter(None, args.kinds.split(",")))
    codes = tuple(filter(None, args.codes.split(",")))
    log = git(args.git_dir, "log", "--no-merges", "--format=%H %P", args.rev).decode().splitlines()
    analyze("warm_up.py", "x = 1\n", "x = 2\n")   # imports and caches out of the timings
    counts: collections.Counter[str] = collections.Counter()
    files = commits = errors = 0
    slowest = (0.0, "")
    for entry in log[: args.max or None]:
        parts = entry.split()
        if len(parts) < 2:
            continue
        commit, parent = parts[0], parts[1]
        names = git(args.git_dir, "diff", "--name-only", "--no-renames", parent, commit, "--").decode().splitlines()
        chosen = [n for n in names if file_kind(n) and (not kinds or file_kind(n) in kinds)]
        if not chosen:
            continue
        commits += 1
        for path in chosen:
            files += 1
            start = time.perf_counter()
            result = analyze(path, blob(args.git_dir, parent, path), blob(args.git_dir, commit, path))
            elapsed = time.perf_counter() - start
            slowest = max(slowest, (elapsed, f"{commit[:8]} {path}"))
            shown = [f for f in result.findings if not codes or f.code.startswith(codes)]
            for finding in shown:
                counts[finding.code] += 1
            errors += len(result.errors)
            if (shown or result.errors) and not args.quiet:
                print(f"--- {commit[:8]} {path}")
                for finding in shown:
                    print(f"    {finding.line:5} {finding.code} {finding.severity:11} {finding.message}")
                for error in result.errors:
                    print(f"    error: {error.message}")
    print(f"commits {commits}, files {files}, errors {errors}, slowest {slowest[0] * 1000:.0f} ms ({slowest[1]})")
    for code, count in sorted(counts.items()):
        print(f"  {code:8} {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
