"""``mldiff log``: the commits that changed how a model trains, with the reasons.

Like ``git log --oneline``, one line per commit (short sha, author date, subject), and
under it the ML-semantic findings that commit introduced against its first parent.
Commits without findings are left out unless ``--all``; a commit with an object the
repository cannot read (a partial or damaged clone) is always listed, with a note, and
the walk goes on. ``--format json`` prints JSON Lines: one object per commit. Exit status
0, or 2 on a usage or git error.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from mldiff.commands.options import add_selection_arguments, selection_overrides, split_paths_at_dashes
from mldiff.commands.terminal import StatusLine, is_tty, use_color

LONG_WALK_SECONDS = 0.5  # show progress on a terminal once a walk has taken this long


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "log", help="list the commits that made ML-semantic changes, with their findings",
        description="Walk history (first parent by default) and print, per commit, the ML-semantic "
                    "changes it introduced against its first parent.",
        usage="mldiff log [--repo DIR] [-n N] [REV_RANGE] [--family F] [--select CODES_OR_FAMILIES]\n"
              "                  [--ignore CODES_OR_FAMILIES] [--format {text,json}] [--all] [--all-parents]\n"
              "                  [--stats] [--no-cache] [-- PATH ...]")
    parser.add_argument("--repo", metavar="DIR", help="the repository (default: the current directory)")
    parser.add_argument("-n", "--max-count", type=_count, metavar="N", dest="max_count",
                        help="walk at most N commits (before PATH and family filters, like the last N commits)")
    add_selection_arguments(parser, families=True)
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="text (default) or json: JSON Lines, one object per commit")
    parser.add_argument("--all", action="store_true", dest="show_all", help="also list commits without findings")
    parser.add_argument("--all-parents", action="store_true",
                        help="walk every commit in the range, not only the first-parent line "
                             "(merges are still compared with their first parent)")
    parser.add_argument("--stats", action="store_true",
                        help="print on stderr how many commits came from the cache and how many were analysed")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the per-commit cache")
    parser.add_argument("revision", nargs="?", metavar="REV_RANGE",
                        help="REV (its ancestry), A..B or A...B (default: HEAD)")
    parser.add_argument("paths", nargs="*", metavar="PATH", help="only findings in these files or directories")
    parser.set_defaults(run=run)
    split_paths_at_dashes(parser)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def run(args: argparse.Namespace) -> int:
    from mldiff.commands.check import repo_paths
    from mldiff.gitview import RepoView
    from mldiff.history import check_families

    families = check_families(args.family)
    view = RepoView.discover(args.repo)
    try:
        from mldiff import history
        from mldiff.checking import settings_for
        from mldiff.commit_cache import CommitCache
        revisions = history.revision_arguments(view, args.revision)
        overrides = selection_overrides(args)
        settings = settings_for(view, overrides, revisions[0].split("...")[-1])
        wanted = history.Filter(settings, families, tuple(repo_paths(view, args.paths)))
        cache = CommitCache.open(view.common_dir, settings, enabled=not args.no_cache)
        stats = history.Stats()
        progress = _Progress(sys.stderr) if is_tty(sys.stderr) else None
        commits = history.walk(view, revisions, max_count=args.max_count, first_parent=not args.all_parents)
        shown = findings = unreadable = damaged = 0
        color = use_color(sys.stdout)
        try:
            for item in history.commit_findings(view, commits, settings, wanted, cache, stats, progress=progress):
                unreadable += len(item.errors)
                damaged += bool(item.unreadable)
                if not (item.findings or item.unreadable or args.show_all):
                    continue
                if progress:
                    progress.clear()
                shown += bool(item.findings)
                findings += len(item.findings)
                if args.format == "json":
                    sys.stdout.write(json.dumps(item.to_json(), ensure_ascii=False) + "\n")
                else:
                    _write_text(item, sys.stdout, color)
                sys.stdout.flush()
        finally:
            if progress:
                progress.clear()
    finally:
        view.close()
    if args.format == "text":
        summary = (f"mldiff: {findings} {'finding' if findings == 1 else 'findings'} in {shown} of {stats.walked} "
                   f"{'commit' if stats.walked == 1 else 'commits'}")
        if unreadable:
            summary += (f"; {unreadable} {'file' if unreadable == 1 else 'files'} could not be analysed "
                        f"(--format json --all lists them)")
        if damaged:
            summary += (f"; {damaged} {'commit reads' if damaged == 1 else 'commits read'} objects missing from "
                        f"this repository (listed with a note)")
        print(summary, file=sys.stderr)
    if args.stats:
        print(stats.line(), file=sys.stderr)
    return 0


_YELLOW = "\033[33m"
_DIM = "\033[2m"
_RESET = "\033[0m"


def _write_text(item, out, color: bool) -> None:
    """``sha date subject``, then one indented ``path:line:col: CODE [family] message`` per finding."""
    commit = item.commit
    sha, date = commit.short, commit.date[:10]
    if color:
        sha, date = f"{_YELLOW}{sha}{_RESET}", f"{_DIM}{date}{_RESET}"
    out.write(f"{sha} {date} {commit.subject}\n")
    for finding in item.findings:
        message = " ".join(finding.message.split("\n"))
        out.write(f"    {finding.location()}: {finding.code} "
                  f"[{finding.family}] {message}\n")
    for error in item.unreadable:
        named = not error.path or f"{error.path}:" in error.message
        out.write(f"    note: {'' if named else error.path + ': '}{error.message}\n")


class _Progress(StatusLine):
    """``mldiff: 37/159 commits (12 analysed)`` on one terminal line, once a walk takes a while."""

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self.started = time.monotonic()

    def __call__(self, done: int, walked: int, analysed: int) -> None:
        if self.shown or time.monotonic() - self.started >= LONG_WALK_SECONDS:
            self.show(f"mldiff: {done}/{walked} commits ({analysed} analysed)")
