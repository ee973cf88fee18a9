"""``mldiff attach``: the validation trailers for the staged change, printed or added to a message file."""
from __future__ import annotations

import sys
from pathlib import Path


def add_parser(sub) -> None:
    parser = sub.add_parser("attach", help="print (or add to a message file) the trailers for the staged change")
    parser.add_argument("--message-file", metavar="FILE", help="add the trailers to this commit message file")
    parser.add_argument("--repo", default=".", help="repository (default: the current directory)")
    parser.set_defaults(run=run)


def run(args) -> int:
    from mldiff import commit
    from mldiff.errors import MldiffError
    from mldiff.validate.gitcmd import toplevel

    root = toplevel(args.repo)
    pairs, reason = commit.staged_trailers(root)
    if not pairs:
        print(f"mldiff: no trailers: {reason}", file=sys.stderr)
        return 1
    if args.message_file:
        path = Path(args.message_file)
        if not path.is_file():
            raise MldiffError(f"--message-file: {path} is not a file")
        commit.add_trailers(root, path, pairs)
        print(f"added {len(pairs)} trailers to {path}")
    else:
        print(commit.trailer_text(pairs), end="")
    return 0
