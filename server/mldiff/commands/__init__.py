"""One module per ``mldiff`` subcommand: ``add_parser(subparsers)`` and ``run(args)``."""
