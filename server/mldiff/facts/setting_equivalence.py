"""Value changes that are no change: the equivalences every value rule relies on.

A setting renamed in place with its value (``compile_model = True`` -> ``compile = True``), moved
into another form (``kwargs.update({'num_workers': 1})`` -> ``cuda_kwargs = {'num_workers': 1}``),
written in a function added or removed whole, converted (``int(opt.nz)``), an option added
with no default or one that keeps things as they are (``None``, ``False``, ``0``, an empty
container, a factor of 1), a placeholder initialised, or a value read through another object
(``grad_clip`` -> ``args.grad_clip``): ``value_changes`` drops these, for every rule.
"""
from __future__ import annotations

import ast
import re
from typing import Any, cast

from mldiff.analysis.values import Value, _literal_equal
from mldiff.facts.anchors import counterpart_broken
from mldiff.facts.context import Context, PythonContext
from mldiff.facts.delta import ValueChange


def without_equivalents(ctx: Context, changes: list[ValueChange]) -> list[ValueChange]:
    """``changes`` less the ones that change nothing (see the module docstring)."""
    kept = [change for change in changes if not _no_change(ctx, change)]
    return _without_renamed_settings(ctx, kept) if isinstance(ctx, PythonContext) else kept


def _no_change(ctx: Context, change: ValueChange) -> bool:
    if is_inert_option(change) or _neutral_addition(change):
        return True
    if change.kind == "binding" and (change.old is None) != (change.new is None) and \
            _placeholder(cast(Value, change.new or change.old).literal):  # the one that is set
        return True  # `sampler = None`, `gpus = {}` added or dropped: a placeholder, not a setting
    if change.old is not None and change.new is not None and _cast_of(change.old.code, change.new.code):
        return True  # nz = opt.nz -> nz = int(opt.nz): the same value, converted
    if isinstance(ctx, PythonContext) and (change.old is None or change.new is None):
        if _moved_setting(ctx, change) or _in_new_function(ctx, change):
            return True
        if change.new is not None:  # added or removed, unless a parse error hid it
            return counterpart_broken(ctx, "head", change.span.line - 1)
        if change.base_line is not None:
            return counterpart_broken(ctx, "base", change.base_line - 1)
    return False


# A setting added with one of these keeps the behaviour it configures as it was: off, empty, none.
_NEUTRAL_FACTOR = re.compile(r"(?:^|_)(?:decay|factor|scale|ratio|mult\w*|multiplier)$")


def _neutral_addition(change: ValueChange) -> bool:
    """A setting that did not exist, added with a value that leaves things as they were:
    ``None``, ``False``, an empty string or container (``0`` only for a factor-like name,
    ``1.0`` for a multiplier): a new option for something off by default."""
    if change.old is not None or change.new is None or change.kind not in ("binding", "config"):
        return False
    literal = change.new.literal
    if literal is None or literal is False or (isinstance(literal, (str, tuple, list, dict)) and not literal):
        return True
    last = change.name.rsplit(".", 1)[-1].lower() if change.name else change.subject.rsplit(".", 1)[-1].lower()
    return isinstance(literal, (int, float)) and not isinstance(literal, bool) and literal == 1 and \
        bool(_NEUTRAL_FACTOR.search(last))


def is_inert_option(value_change: ValueChange) -> bool:
    """A command-line option added with no default (or a ``store_true`` flag): nothing changes
    until someone passes it, so the option alone is no change of training."""
    return (value_change.origin == "argparse" and value_change.old is None and value_change.new is not None
            and (value_change.new.literal is None or value_change.new.literal is False))


def _placeholder(literal: Any) -> bool:
    return literal is None or (isinstance(literal, (tuple, list, dict, str, frozenset)) and len(literal) == 0)


def _cast_of(old: str, new: str) -> bool:
    """``int(x)`` for ``x`` (or the reverse): a conversion of the same value."""
    for plain, cast in ((old, new), (new, old)):
        for name in ("int", "float", "str", "bool", "list", "tuple"):
            if cast.replace(" ", "") == f"{name}({plain.replace(' ', '')})":
                return True
    return False


def _in_new_function(ctx: PythonContext, value_change: ValueChange) -> bool:
    """A setting written inside a function the base does not have (a new model variant, a new
    test), or dropped with a function the head no longer has: code added or removed whole, not a
    changed setting of code that stays."""
    if value_change.old is None and value_change.new is not None:
        view, line, other = ctx.head, value_change.span.line - 1, ctx.base
    elif value_change.new is None and value_change.old is not None and value_change.base_line:
        view, line, other = ctx.base, value_change.base_line - 1, ctx.head
    else:
        return False
    index = view.index_at(line)
    function = view.enclosing_def(index) if index >= 0 else -1
    name = view.facts(function).def_name if function >= 0 else None
    if not name:
        return False
    return re.search(r"^[ \t]*(?:async[ \t]+)?def[ \t]+" + re.escape(name) + r"\b", other.text, re.M) is None


def _moved_setting(ctx: PythonContext, value_change: ValueChange) -> bool:
    """The same key with the same value still written on the other side of the change, in another
    form: ``kwargs.update({'num_workers': 1})`` became ``cuda_kwargs = {'num_workers': 1}``."""
    present = value_change.new if value_change.new is not None else value_change.old
    if present is None or not present.is_literal or value_change.kind != "binding":
        return False
    key = value_change.name.rsplit(".", 1)[-1]
    if not key.isidentifier():
        return False
    pattern = re.compile(r"(?:['\"]" + re.escape(key) + r"['\"]\s*:|\b" + re.escape(key) + r"\s*=(?!=))\s*(.+?)\s*[,)}\n]")
    other = ctx.base if value_change.new is not None else ctx.head
    for index in ctx.touched("base" if value_change.new is not None else "head"):
        for match in pattern.finditer(other.source(index)):
            try:
                literal = ast.literal_eval(match.group(1))
            except (ValueError, SyntaxError):
                continue
            if _literal_equal(literal, present.literal):
                return True
    return False


def _without_renamed_settings(ctx: PythonContext, chosen: list[ValueChange]) -> list[ValueChange]:
    """``compile_model = True`` removed and ``compile = True`` added in the same hunk: a setting
    renamed, not one dropped and another introduced."""
    removed = [v for v in chosen if v.new is None and v.old is not None and v.old.is_literal and v.base_line]
    added = [v for v in chosen if v.old is None and v.new is not None and v.new.is_literal]
    dropped: set[int] = set()
    for gone in removed:
        for new in added:
            assert gone.old is not None and gone.base_line is not None and new.new is not None  # as selected
            if id(new) in dropped or gone.topic != new.topic or not _literal_equal(gone.old.literal, new.new.literal):
                continue
            if any(h.base_start < gone.base_line <= max(h.base_end, h.base_start + 1)
                   and h.head_start < new.span.line <= max(h.head_end, h.head_start + 1) for h in ctx.hunks):
                dropped.update((id(gone), id(new)))
                break
    return [v for v in chosen if id(v) not in dropped]
