"""The analysis engine: texts in, findings out. No git, no LSP, no torch."""
