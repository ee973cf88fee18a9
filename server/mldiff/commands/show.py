"""``mldiff show REV``: the ML-semantic findings of one commit against its first parent.

``git show`` for ML semantics: the same findings as ``mldiff check --base REV^ --head
REV`` (a root commit is compared with the empty tree, a merge with its first parent),
in the same formats. The text format starts with the commit's ``sha date subject``
line. Exit status 0, or 1 with ``--fail-on`` when a finding is at or above it; 2 on a
usage or git error.
"""
from __future__ import annotations

import argparse
import sys

from mldiff.commands.check import FAIL_ON
from mldiff.commands.options import add_selection_arguments, selection_overrides, split_paths_at_dashes
from mldiff.commands.terminal import use_color


def add_parser(sub) -> None:
    from mldiff import formats
    parser = sub.add_parser(
        "show", help="the ML-semantic findings of one commit",
        description="Report the ML-semantic changes one commit made against its first parent.",
        usage="mldiff show [--repo DIR] REV [--format {%s}] [--family F]\n"
              "                   [--select CODES_OR_FAMILIES] [--ignore CODES_OR_FAMILIES] [--fail-on LEVEL]\n"
              "                   [-- PATH ...]" % "|".join(formats.names()))
    parser.add_argument("--repo", metavar="DIR", help="the repository (default: the current directory)")
    parser.add_argument("--format", choices=formats.names(), default="text", help="output format (default: text)")
    add_selection_arguments(parser, families=True)
    parser.add_argument("--fail-on", choices=FAIL_ON, default="never",
                        help="exit 1 when a finding is at or above this severity (default: never)")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the per-commit cache")
    parser.add_argument("revision", metavar="REV", help="the commit to show")
    parser.add_argument("paths", nargs="*", metavar="PATH", help="only findings in these files or directories")
    parser.set_defaults(run=run)
    split_paths_at_dashes(parser)


def run(args: argparse.Namespace) -> int:
    from mldiff import formats, history
    from mldiff.checking import settings_for
    from mldiff.commands.check import exit_status, head_text, repo_paths
    from mldiff.commit_cache import CommitCache
    from mldiff.gitview import RepoView

    families = history.check_families(args.family)
    view = RepoView.discover(args.repo)
    try:
        sha = view.resolve(args.revision)
        overrides = selection_overrides(args)
        settings = settings_for(view, overrides, sha)
        wanted = history.Filter(settings, families, tuple(repo_paths(view, args.paths)))
        # The cache keeps the JSON contract, which has no quick fixes: rdjson's suggestions need them.
        cache = CommitCache.open(view.common_dir, settings, enabled=not args.no_cache and args.format != "rdjson")
        commits = history.walk(view, [sha], max_count=1)
        item = next(history.commit_findings(view, commits, settings, wanted, cache, history.Stats()))
        result = item.check_result()
        if args.format == "text":
            commit = item.commit
            sys.stdout.write(f"{commit.short} {commit.date[:10]} {commit.subject}\n")
        formats.get(args.format).write(result, sys.stdout, sys.stderr, color=use_color(sys.stdout),
                                       err_color=use_color(sys.stderr), source=head_text(view, sha))
    finally:
        view.close()
    return exit_status(result.findings, args.fail_on)
