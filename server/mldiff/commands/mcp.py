"""``mldiff mcp``: the Model Context Protocol server for coding agents, on stdio.

Needs the ``mcp`` extra (``pip install 'mldiff[mcp]'``). ``--allow-validate`` lets the
``validate`` tool run the project's training command; without it (or ``[tool.mldiff.mcp]
allow_validate = true`` in the repository) that tool refuses and says how to allow it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mldiff.errors import MldiffError


def add_parser(sub) -> None:
    parser = sub.add_parser("mcp", help="run the Model Context Protocol server (stdio) for coding agents",
                            description="Serve mldiff's check, explain, rules, log and validate tools to an "
                                        "MCP client (a coding agent) over stdin/stdout.")
    parser.add_argument("--repo", metavar="DIR",
                        help="where the tools' relative repo arguments start (default: the current directory)")
    parser.add_argument("--allow-validate", action="store_true",
                        help="let the validate tool run the project's training command ([tool.mldiff.validate])")
    parser.add_argument("--log-level", choices=("error", "warning", "info", "debug"), default="warning",
                        help="what the server logs to stderr (default: warning)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import logging
    try:
        from mldiff.mcp.server import create_server
    except ImportError as exc:
        if exc.name and exc.name.split(".")[0] in ("mcp", "pydantic", "anyio"):
            raise MldiffError("mldiff mcp needs the MCP SDK: pip install 'mldiff[mcp]'") from None
        raise
    root = Path(args.repo) if args.repo else None
    if root is not None and not root.is_dir():
        raise MldiffError(f"--repo: {args.repo} is not a directory")
    server = create_server(root=root, allow_validate=args.allow_validate)
    logging.getLogger().setLevel(args.log_level.upper())
    if sys.stdin.isatty():
        print("mldiff mcp: serving the Model Context Protocol on stdin/stdout; an agent starts this "
              "(docs/agents.md). Ctrl-D ends it.", file=sys.stderr)
    server.run()
    return 0
