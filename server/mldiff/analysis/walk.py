"""A fast pre-order walk over libcst nodes.

libcst's visitor machinery rebuilds every node it passes (it is built for
transformers), which made fact extraction the analyzer's largest cost. Reading facts
needs no rebuilding: this walks the dataclass fields that can hold code, skipping
whitespace, parentheses and punctuation.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Iterator

import libcst as cst

_SKIP = {"lpar", "rpar", "comma", "semicolon", "leading_lines", "lines_after_decorators", "header", "footer",
         "equal", "colon", "dot", "star", "operator", "whitespace_before", "whitespace_after",
         "whitespace_after_star", "whitespace_after_param", "whitespace_before_colon", "whitespace_after_colon",
         "whitespace_before_args", "whitespace_after_func", "whitespace_before_params", "whitespace_after_def",
         "whitespace_after_class", "whitespace_after_lambda", "whitespace_after_import", "whitespace_before_from",
         "whitespace_after_from", "whitespace_before_import", "whitespace_after_at", "whitespace_before_as",
         "whitespace_after_as", "whitespace_after_for", "whitespace_before_in", "whitespace_after_in",
         "whitespace_after_if", "whitespace_before_if", "whitespace_before_else", "whitespace_after_else",
         "whitespace_after_with", "whitespace_before_indicator", "whitespace_after_indicator", "lbrace",
         "rbrace", "lbracket", "rbracket", "quote", "prefix", "start_string", "end_string",
         "whitespace_before_value", "whitespace_after_return", "whitespace_after_await",
         "whitespace_before_walrus", "whitespace_after_walrus", "whitespace_after_del", "whitespace_after_assert",
         "whitespace_after_raise", "whitespace_after_yield", "whitespace_after_global", "whitespace_after_nonlocal"}
_FIELDS: dict[type, tuple[str, ...]] = {}


def children(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """The child nodes that can hold code, in source order."""
    cls = type(node)
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls) if f.name not in _SKIP
                                     and not f.name.startswith("whitespace"))
    for name in names:
        value = getattr(node, name)
        if isinstance(value, cst.CSTNode):
            yield value
        elif isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, cst.CSTNode):
                    yield item


def walk(node: cst.CSTNode, enter: Callable[[cst.CSTNode], bool]) -> None:
    """Call ``enter`` on ``node`` and its descendants, pre-order; a False return skips
    the node's children."""
    stack = [node]
    while stack:
        current = stack.pop()
        if enter(current) is False:
            continue
        kids = list(children(current))
        kids.reverse()
        stack.extend(kids)
