#!/usr/bin/env python3
"""Run the engine over the history of real repositories and print what chosen rules report.

For reading findings on code nobody here wrote (false alarms): every non-merge commit
that touches Python files, each changed file analysed against its first parent.

Usage: scan_rules_history.py GIT_DIR [GIT_DIR ...] [--select ML3,ML4,loss] [--max-commits N]
                       [--paths-per-commit N] [--json OUT]
Prints one block per file with findings: ``repo sha path`` and ``line CODE message``;
at the end, counts per code.
"""
from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

from mldiff.engine import analyze  # noqa: E402
from mldiff.config import Settings  # noqa: E402


def git(git_dir: str, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", git_dir, *args], capture_output=True, check=True).stdout.decode(
        "utf-8", errors="replace")


def blob(git_dir: str, rev: str, path: str) -> str | None:
    result = subprocess.run(["git", "--git-dir", git_dir, "show", f"{rev}:{path}"], capture_output=True)
    return result.stdout.decode("utf-8", errors="replace") if result.returncode == 0 else None


def commits(git_dir: str, limit: int) -> list[str]:
    out = git(git_dir, "log", "--no-merges", "--format=%H", f"--max-count={limit}", "--all", "--", "*.py")
    return out.split()


def changed_python(git_dir: str, sha: str) -> list[tuple[str, str | None]]:
    """(path, old path) of the .py files a commit changes (renames followed)."""
    out = git(git_dir, "diff-tree", "--no-commit-id", "-r", "-M", "--name-status", f"{sha}^", sha)
    files = []
    for line in out.splitlines():
        parts = line.split("\t")
        status = parts[0]
        if status.startswith("R"):
            old, new = parts[1], parts[2]
        else:
            old = new = parts[1]
        if new.endswith(".py") and not status.startswith("D"):
            files.append((new, None if status.startswith("A") else old))
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("git_dirs", nargs="+")
    parser.add_argument("--select", default="")
    parser.add_argument("--max-commits", type=int, default=300)
    parser.add_argument("--paths-per-commit", type=int, default=8)
    parser.add_argument("--json")
    args = parser.parse_args()
    select = tuple(s for s in args.select.split(",") if s)
    settings = Settings(select=select)
    counts: collections.Counter[str] = collections.Counter()
    records = []
    files_seen = commits_seen = 0
    started = time.perf_counter()
    for git_dir in args.git_dirs:
        name = Path(git_dir).resolve().parent.name if Path(git_dir).name == "repo" else Path(git_dir).name
        for sha in commits(git_dir, args.max_commits):
            try:
                files = changed_python(git_dir, sha)
            except subprocess.CalledProcessError:
                continue  # root commit
            commits_seen += 1
            for path, old_path in files[:args.paths_per_commit]:
                base_text = blob(git_dir, f"{sha}^", old_path) if old_path else None
                head_text = blob(git_dir, sha, path)
                files_seen += 1
                result = analyze(path, base_text, head_text, settings)
                for error in result.errors:
                    if "internal error" in error.message:
                        print(f"!! {name} {sha[:8]} {path}: {error.message}")
                if not result.findings:
                    continue
                print(f"== {name} {sha[:8]} {path}")
                for finding in result.findings:
                    counts[finding.code] += 1
                    print(f"   {finding.line:5} {finding.code} {finding.message}")
                    records.append({"repo": name, "sha": sha, "path": path, **finding.to_json()})
    elapsed = time.perf_counter() - started
    print(f"\n{commits_seen} commits, {files_seen} files, {sum(counts.values())} findings in {elapsed:.1f} s")
    for code, count in sorted(counts.items()):
        print(f"  {code} {count}")
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
