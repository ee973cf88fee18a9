#!/usr/bin/env python3
"""Score the analysis engine on the labelled corpus in-process (fast iteration on rules).

Runs the corpus scorer (``shared/corpus/score.py``) with its tool call replaced by a
direct call of ``mldiff.engine.analyze`` on the two blobs, so a rule change
can be scored in seconds. The official figure comes from ``score.py --tool mldiff``.

Usage: score_engine.py CASES.json --mirrors DIR --score PATH/TO/score.py [--verbose] [--show]
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

from mldiff.engine import analyze  # noqa: E402
from mldiff.gitview import RepoView  # noqa: E402
from mldiff.project_files import RepoProject  # noqa: E402

_VIEWS: dict[str, RepoView] = {}


def blob(git_dir: str, rev: str, path: str) -> str | None:
    result = subprocess.run(["git", "--git-dir", git_dir, "show", f"{rev}:{path}"], capture_output=True)
    if result.returncode != 0:
        return None
    return result.stdout.decode("utf-8", errors="replace")


def main() -> int:
    args = sys.argv[1:]
    score_path = args[args.index("--score") + 1]
    del args[args.index("--score"):args.index("--score") + 2]
    show = "--show" in args
    if show:
        args.remove("--show")
    spec = importlib.util.spec_from_file_location("score", score_path)
    score = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(score)

    def run_tool(tool, git_dir, case):
        start = time.perf_counter()
        view = _VIEWS.get(git_dir) or _VIEWS.setdefault(git_dir, RepoView.discover(git_dir))
        project = RepoProject(view, case["parent"], case["commit"])  # the other files, as `mldiff check` reads them
        result = analyze(case["path"], blob(git_dir, case["parent"], case["path"]),
                         blob(git_dir, case["commit"], case["path"]), project=project)
        findings = [f.to_json() for f in result.findings]
        if show:
            print(f"--- {case['repo']}@{case['commit'][:8]} {case['path']} {case['families']}", file=sys.stderr)
            for f in findings:
                print(f"    {f['line']:4} {f['code']} [{f['family']}] {f['message']}", file=sys.stderr)
            for e in result.errors:
                print(f"    error: {e.message}", file=sys.stderr)
        return findings, time.perf_counter() - start, None

    score.run_tool = run_tool
    sys.argv = ["score.py", *args]
    return score.main()


if __name__ == "__main__":
    sys.exit(main())
