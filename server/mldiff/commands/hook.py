"""``mldiff hook install|uninstall``: the prepare-commit-msg hook that adds validation trailers."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub) -> None:
    parser = sub.add_parser("hook", help="install or remove the prepare-commit-msg hook (validation trailers)")
    parser.add_argument("action", choices=["install", "uninstall", "run"],
                        help="install / uninstall the hook; `run` is what the hook itself calls")
    parser.add_argument("hook_args", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--repo", default=".", help="repository (default: the current directory)")
    parser.set_defaults(run=run)


def run(args) -> int:
    from mldiff import commit
    from mldiff.errors import MldiffError
    from mldiff.validate.gitcmd import toplevel

    root = toplevel(args.repo)
    if args.action == "install":
        print(commit.install_hook(root))
        return 0
    if args.action == "uninstall":
        print(commit.uninstall_hook(root))
        return 0
    # `hook run prepare-commit-msg FILE [SOURCE [SHA]]`: never fails the commit.
    if len(args.hook_args) < 2 or args.hook_args[0] != commit.HOOK_NAME:
        raise MldiffError("usage: mldiff hook run prepare-commit-msg MESSAGE_FILE [SOURCE [SHA]]")
    source = args.hook_args[2] if len(args.hook_args) > 2 else None
    try:
        note = commit.run_hook(root, Path(args.hook_args[1]), source)
    except MldiffError as exc:
        note = f"no trailers: {exc}"
    if note.startswith("attached"):
        print(f"mldiff: {note}", file=sys.stderr)
    return 0
