"""``mldiff log``: the commits that changed how a model trains, with the reasons.

Like ``git log --oneline``, one line per commit (short sha, author date, subject), and
under it the ML-semantic findings that commit introduced against its first parent.
Commits without findings are left out unless ``--all``. ``--format json`` prints JSON
Lines: one object per commit. Exit status 0, or 2 on a usage or git error.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

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
    parser.add_argument("--family", action="append", default=[], metavar="F",
                        help="only findings of these families (repeat or comma-separate)")
    parser.add_argument("--select", action="append", metavar="CODES_OR_FAMILIES",
                        help="only these rule codes, code prefixes or families (comma-separated)")
    parser.add_argument("--ignore", action="append", metavar="CODES_OR_FAMILIES",
                        help="skip these rule codes, code prefixes or families (comma-separated)")
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


def split_paths_at_dashes(parser: argparse.ArgumentParser) -> None:
    """Everything after ``--`` is a PATH, never a revision (argparse alone would hand the
    first one to an optional REV positional). The sub-parser still sees the ``--``."""
    parse_known_args = parser.parse_known_args

    def parse(args=None, namespace=None):
        args = list(sys.argv[1:] if args is None else args)
        after: list[str] = []
        if "--" in args:
            cut = args.index("--")
            args, after = args[:cut], args[cut + 1:]
        namespace, extras = parse_known_args(args, namespace)
        namespace.paths = [*(getattr(namespace, "paths", None) or []), *after]
        return namespace, extras

    parser.parse_known_args = parse  # type: ignore[method-assign]


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def run(args: argparse.Namespace) -> int:
    from mldiff.commands.check import is_tty, repo_paths, use_color
    from mldiff.gitview import RepoView

    families = _families(args.family)
    view = RepoView.discover(args.repo)
    try:
        from mldiff import history
        from mldiff.checking import settings_for
        from mldiff.commit_cache import CommitCache
        revisions = history.revision_arguments(view, args.revision)
        overrides = {name: ",".join(getattr(args, name)) for name in ("select", "ignore") if getattr(args, name)}
        settings = settings_for(view, overrides, revisions[0].split("...")[-1])
        wanted = history.Filter(settings, families, tuple(repo_paths(view, args.paths)))
        cache = CommitCache.open(view.common_dir, settings, enabled=not args.no_cache)
        stats = history.Stats()
        progress = _Progress(sys.stderr) if is_tty(sys.stderr) else None
        commits = history.walk(view, revisions, max_count=args.max_count, first_parent=not args.all_parents)
        shown = findings = 0
        color = use_color(sys.stdout)
        try:
            for item in history.commit_findings(view, commits, settings, wanted, cache, stats, progress=progress):
                if not (item.findings or args.show_all):
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
        print(f"mldiff: {findings} {'finding' if findings == 1 else 'findings'} in {shown} of {stats.walked} "
              f"{'commit' if stats.walked == 1 else 'commits'}", file=sys.stderr)
    if args.stats:
        print(stats.line(), file=sys.stderr)
    return 0


def _families(values: list[str]) -> frozenset[str]:
    from mldiff.history import check_families
    return check_families(values)


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
        out.write(f"    {finding.path}:{finding.span.line}:{finding.span.column}: {finding.code} "
                  f"[{finding.family}] {message}\n")


class _Progress:
    """``mldiff: 37/159 commits (12 analysed)`` on one terminal line, once a walk takes a while."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.started = time.monotonic()
        self.shown = False

    def __call__(self, done: int, walked: int, analysed: int) -> None:
        if not self.shown and time.monotonic() - self.started < LONG_WALK_SECONDS:
            return
        self.stream.write(f"\r\033[Kmldiff: {done}/{walked} commits ({analysed} analysed)")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.shown = False
