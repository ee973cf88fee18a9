"""``mldiff check``: ML-semantic findings for a change, for terminals and CI.

Exit status: 0 when nothing is at or above ``--fail-on``, 1 when something is, 2 on a
usage or git error (one line on stderr). Files that cannot be read or parsed are
reported as errors but do not change the exit status.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from mldiff.commands.options import add_selection_arguments, selection_overrides
from mldiff.commands.terminal import StatusLine, is_tty, use_color
from mldiff.errors import MldiffError
from mldiff.findings import SEVERITIES, SEVERITY_RANK

FAIL_ON = (*SEVERITIES, "never")
PROGRESS_MIN_FILES = 10


def add_parser(sub) -> None:
    from mldiff import formats
    parser = sub.add_parser(
        "check", help="report ML-semantic changes between a base and a head",
        description="Report the changes that alter how a model trains or what it computes. "
                    "Compares the working tree with HEAD unless told otherwise.",
        usage="mldiff check [--repo DIR] [--base REV] [--merge-base] [--staged | --head REV]\n"
              "                    [--format {%s}]\n"
              "                    [--fail-on {%s}]\n"
              "                    [--select CODES_OR_FAMILIES] [--ignore CODES_OR_FAMILIES] [-- PATH ...]"
              % ("|".join(formats.names()), "|".join(FAIL_ON)))
    parser.add_argument("--repo", metavar="DIR", help="the repository (default: the current directory)")
    parser.add_argument("--base", metavar="REV",
                        help="revision to compare with (default: [tool.mldiff] base, else HEAD)")
    parser.add_argument("--merge-base", action="store_true",
                        help="compare with the merge base of base and head, like git diff BASE...HEAD")
    heads = parser.add_mutually_exclusive_group()
    heads.add_argument("--staged", action="store_true", help="check the index (what would be committed)")
    heads.add_argument("--head", metavar="REV",
                       help="check a revision instead of the working tree (works in bare repositories)")
    parser.add_argument("--format", choices=formats.names(), default="text", help="output format (default: text)")
    parser.add_argument("--fail-on", choices=FAIL_ON, default="warning",
                        help="exit 1 when a finding is at or above this severity (default: warning)")
    add_selection_arguments(parser)
    parser.add_argument("paths", nargs="*", metavar="PATH", help="limit the check to these files or directories")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from mldiff import formats
    from mldiff.checking import run_check
    from mldiff.gitview import INDEX, RepoView

    view = RepoView.discover(args.repo)
    overrides = selection_overrides(args)
    progress = _Progress(sys.stderr) if is_tty(sys.stderr) else None
    try:
        try:
            result = run_check(view, base=args.base, head=INDEX if args.staged else args.head,
                               merge_base=args.merge_base, paths=repo_paths(view, args.paths),
                               settings=overrides, progress=progress)
        finally:
            if progress:
                progress.clear()
        formats.get(args.format).write(result, sys.stdout, sys.stderr, color=use_color(sys.stdout),
                                       err_color=use_color(sys.stderr), source=head_text(view, result.head))
    finally:
        view.close()
    return exit_status(result.findings, args.fail_on)


def head_text(view, head: str):
    """A ``formats.HeadText`` for ``head`` (worktree, index or a commit): read on demand, by
    the formats that need a file's lines; None for a file that cannot be read."""
    from mldiff.gitview import WORKTREE
    from mldiff.textdecode import UnreadableFile

    def read(path: str) -> str | None:
        try:
            return view.worktree_text(path) if head == WORKTREE else view.blob_text(head, path)
        except (UnreadableFile, MldiffError):
            return None
    return read


def exit_status(findings, fail_on: str) -> int:
    if fail_on == "never":
        return 0
    threshold = SEVERITY_RANK[fail_on]
    return 1 if any(SEVERITY_RANK[f.severity] <= threshold for f in findings) else 0


def repo_paths(view, paths: list[str]) -> list[str]:
    """PATHs as the user meant them: relative to the current directory when it lies in the
    repository (as git does), else relative to the repository root (``--repo`` elsewhere)."""
    if view.root is None:
        return list(paths)
    cwd = Path.cwd()
    inside = any(cwd == root or root in cwd.parents for root in (view.root, view.root.resolve()))
    out = []
    for path in paths:
        if os.path.isabs(path) or inside:
            out.append(view.relative_path(os.path.join(cwd, path)))
        else:
            out.append(path)
    return out


class _Progress(StatusLine):
    """``analysing 12/216 files`` on one terminal line, for changes big enough to wait for."""

    def __call__(self, done: int, total: int, path: str) -> None:
        if total >= PROGRESS_MIN_FILES:
            self.show(f"mldiff: analysing {done}/{total} files")
