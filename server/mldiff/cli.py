"""``mldiff`` command line: one module per subcommand under ``mldiff.commands``.

Each command module has ``add_parser(subparsers)`` and ``run(args) -> int``.
Errors a user can act on (``MldiffError``) become one line on stderr and exit 2.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import NoReturn

from mldiff import __version__
from mldiff.errors import MldiffError

# Subcommand name -> module under mldiff.commands, in the order `mldiff --help` lists them.
COMMANDS = {
    "check": "check",
    "log": "log",
    "show": "show",
    "demo": "demo",
    "rules": "rules",
    "explain": "explain",
    "serve": "serve",
    "mcp": "mcp",
    "validate": "validate",
    "hook": "hook",
    "attach": "attach",
    "notes": "notes",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # usage errors exit 2 with one line, like git
        self.exit(2, f"mldiff: {message}\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or with ``only`` just that subcommand: importing and
    describing every command would cost a warm ``mldiff log`` a third of its time."""
    parser = _Parser(prog="mldiff", description="ML-semantic diffs for training code.")
    parser.add_argument("--version", action="version", version=f"mldiff {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module_name in COMMANDS.items():
        if only is None or name == only:
            module = importlib.import_module(f"mldiff.commands.{module_name}")
            module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except MldiffError as exc:
        print(f"mldiff: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mldiff: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `mldiff log | head`: stop quietly, and quietly at exit too
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
