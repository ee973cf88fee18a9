"""``mldiff serve``: the language server over stdio (default), TCP or WebSocket."""
from __future__ import annotations

import argparse

from mldiff.errors import MldiffError


def add_parser(sub) -> None:
    parser = sub.add_parser("serve", help="run the language server (LSP) for editors")
    transport = parser.add_mutually_exclusive_group()
    transport.add_argument("--stdio", action="store_true", help="talk LSP over stdin/stdout (the default)")
    transport.add_argument("--tcp", metavar="HOST:PORT", type=_address, help="listen for one client on TCP")
    transport.add_argument("--ws", metavar="HOST:PORT", type=_address, help="listen for one client on a WebSocket")
    parser.add_argument("--log-level", choices=("error", "warning", "info", "debug"), default="warning",
                        help="what the server logs to stderr (default: warning)")
    parser.set_defaults(run=run)


def _address(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{value!r} is not HOST:PORT (for example 127.0.0.1:2087)")
    return host.strip("[]") or "127.0.0.1", int(port)


def run(args) -> int:
    import logging
    logging.basicConfig(level=args.log_level.upper(), format="mldiff %(levelname)s %(name)s: %(message)s")
    from mldiff.lsp.server import create_server
    server = create_server()
    try:
        if args.tcp:
            server.start_tcp(*args.tcp)
        elif args.ws:
            try:
                import websockets  # noqa: F401
            except ImportError:
                raise MldiffError("--ws needs the websockets package: pip install websockets") from None
            server.start_ws(*args.ws)
        else:
            server.start_io()
    finally:
        # The editor went away (exit, or its pipe closed) during a validation: stop the runs
        # and remove their base checkouts before this process ends.
        server.validations.stop_all(wait_s=15)
    return 0
