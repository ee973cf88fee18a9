#!/usr/bin/env python3
"""Run the analysis engine over a repository's history and print every finding, to read
rules' output on real commits (false alarms, missing context). Development aid.

Usage: scan_history.py GIT_DIR [--max N] [--rev REV] [--select CODES] [--paths GLOB...]
                        [--kinds KIND,...]   (file kinds: requirements,dockerfile,notebook,yaml,...)
"""
from __future__ import annotations

import argparse
import collections
import fnmatch
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

from mldiff.engine import analyze  # noqa: E402
from mldiff.analysis.filekinds import file_kind  # noqa: E402
from mldiff.config import Settings  # noqa: E402


def git(git_dir: str, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", git_dir, *args], capture_output=True, text=True,
                          errors="replace").stdout


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("git_dir")
    parser.add_argument("--max", type=int, default=200)
    parser.add_argument("--rev", default="HEAD")
    parser.add_argument("--select", default="")
    parser.add_argument("--paths", nargs="*", default=[])
    parser.add_argument("--kinds", default="", help="only these file kinds (analysis/filekinds.py)")
    args = parser.parse_args()
    kinds = set(filter(None, args.kinds.split(",")))
    per_code: collections.Counter[str] = collections.Counter()
    settings = Settings(select=tuple(s for s in args.select.split(",") if s))
    commits = git(args.git_dir, "rev-list", "--first-parent", f"--max-count={args.max}", args.rev).split()
    total = 0
    for commit in commits:
        parents = git(args.git_dir, "rev-list", "--parents", "-n", "1", commit).split()[1:]
        if len(parents) != 1:
            continue
        names = git(args.git_dir, "diff", "--name-only", "--no-renames", parents[0], commit).split("\n")
        subject = git(args.git_dir, "log", "-1", "--format=%s", commit).strip()
        printed = False
        for path in filter(None, names):
            if file_kind(path) is None or (args.paths and not any(fnmatch.fnmatch(path, g) for g in args.paths)):
                continue
            if kinds and file_kind(path) not in kinds:
                continue
            base = subprocess.run(["git", "--git-dir", args.git_dir, "show", f"{parents[0]}:{path}"],
                                  capture_output=True).stdout.decode("utf-8", "replace") or None
            head = subprocess.run(["git", "--git-dir", args.git_dir, "show", f"{commit}:{path}"],
                                  capture_output=True).stdout.decode("utf-8", "replace") or None
            result = analyze(path, base, head, settings)
            for finding in result.findings:
                if not printed:
                    print(f"== {commit[:8]} {subject[:70]}")
                    printed = True
                total += 1
                per_code[finding.code] += 1
                print(f"   {path}:{finding.line} {finding.code} [{finding.family}] {finding.message}")
            for error in result.errors:
                if "internal error" in error.message:
                    print(f"   !! {path}: {error.message}")
    print(f"{total} findings over {len(commits)} commits", file=sys.stderr)
    for code, count in sorted(per_code.items()):
        print(f"  {code:8} {count}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
