"""``mldiff mcp``: a Model Context Protocol server on stdio, so coding agents can ask what an
edit changed for training.

``answers`` turns mldiff's results into the compact JSON the tools return (plain
functions, no SDK); ``server`` declares the tools on the SDK's ``MCPServer`` (the ``mcp``
extra) and runs validations with progress and cancellation. Tools take paths, never file
contents.
"""
