"""Output formats of ``mldiff check``: a small registry, so new formats plug in.

A format is a module with ``write(result, out, err, *, color, err_color, source) -> None``:
``result`` is a ``mldiff.checking.CheckResult``, ``out`` gets the report, ``err`` gets what
a person reads on the side (errors, notes, a summary); ``color``/``err_color`` say whether
each stream may carry ANSI colour; ``source`` (a ``HeadText`` or None) gives the head-side
text of a path, for formats that count columns in bytes or rebuild whole lines (rdjson).
``--format`` offers exactly the names here.
"""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Callable, Optional

# The head-side text of a repository path, or None when it cannot be read.
HeadText = Callable[[str], Optional[str]]

# Format name -> module under mldiff.formats.
FORMATS: dict[str, str] = {
    "text": "text",
    "json": "json_format",
    "sarif": "sarif",
    "github": "github",
    "gitlab": "gitlab",
    "rdjson": "rdjson",
    "markdown": "markdown",
}


def names() -> list[str]:
    return list(FORMATS)


def get(name: str) -> ModuleType:
    return importlib.import_module(f"mldiff.formats.{FORMATS[name]}")
