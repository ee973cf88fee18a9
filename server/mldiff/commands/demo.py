"""``mldiff demo``: build each change scenario from fixtures/ as a real git repository
and run ``mldiff check`` on it, so a fresh checkout shows what mldiff does in seconds."""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def add_parser(sub) -> None:
    parser = sub.add_parser("demo", help="run mldiff check on the built-in change scenarios")
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO", help="which scenarios (default: all)")
    parser.add_argument("--keep", metavar="DIR", help="build the repositories under DIR and keep them")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from mldiff import scenarios
    from mldiff.cli import main as cli_main
    from mldiff.gitview import find_git

    names = args.scenarios or scenarios.scenario_names()
    for name in names:
        scenarios.scenario_dir(name)  # unknown names fail before anything is built
    keep = Path(args.keep).absolute() if args.keep else None
    workdir = keep or Path(tempfile.mkdtemp(prefix="mldiff-demo-"))
    worst = 0
    try:
        for name in names:
            repo = scenarios.build_repo(name, workdir / name)
            _say(f"\n== {name}: {scenarios.title(name)}")
            _say(f"built {repo}: before/ committed, after/ in the working tree")
            _say("$ git diff")
            diff = subprocess.run([find_git(), "--no-pager", "diff", "--no-color", "--no-ext-diff"], cwd=repo,
                                  capture_output=True, text=True)
            _say(diff.stdout.rstrip("\n"))
            _say(f"$ mldiff check --repo {repo}")
            status = cli_main(["check", "--repo", str(repo)])
            worst = max(worst, 2 if status == 2 else 0)  # 1 (findings) is what the demo expects
    finally:
        if keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    if keep is not None:
        _say(f"\nkept the scenario repositories under {keep}")
    return worst


def _say(text: str) -> None:
    sys.stderr.flush()
    print(text, flush=True)
