"""Options that several commands share, so they read and behave the same everywhere."""
from __future__ import annotations

import argparse
import sys


def add_selection_arguments(parser: argparse.ArgumentParser, *, families: bool = False) -> None:
    """``--select`` / ``--ignore`` (and ``--family`` for the history commands)."""
    if families:
        parser.add_argument("--family", action="append", default=[], metavar="F",
                            help="only findings of these families (repeat or comma-separate)")
    parser.add_argument("--select", action="append", metavar="CODES_OR_FAMILIES",
                        help="only these rule codes, code prefixes or families (comma-separated)")
    parser.add_argument("--ignore", action="append", metavar="CODES_OR_FAMILIES",
                        help="skip these rule codes, code prefixes or families (comma-separated)")


def selection_overrides(args: argparse.Namespace) -> dict[str, str]:
    """``--select`` / ``--ignore`` as settings overrides (they replace ``[tool.mldiff]``'s)."""
    return {name: ",".join(getattr(args, name)) for name in ("select", "ignore") if getattr(args, name)}


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
