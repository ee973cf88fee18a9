"""Rules that report changed values of some topics: the judgement over ``facts.value_changes``."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Iterator, cast

from mldiff.analysis.values import Value, contrast
from mldiff.facts.context import Context, PythonContext
from mldiff.facts.delta import ValueChange
from mldiff.facts.pairing import inside_swapped_call
from mldiff.facts.sites import CallSite
from mldiff.facts.value_changes import value_changes
from mldiff.findings import Finding

if TYPE_CHECKING:  # a mixin: the rule classes list ``Rule`` after it, which gives code, family, report()
    from mldiff.rules.base import Rule
    _Mixin = Rule[Context]
else:
    _Mixin = object

VALUE_FILE_KINDS = ("python", "yaml", "json", "toml", "notebook")


class ValueRule(_Mixin):
    """Mixin for rules that report changed values of some topics (see ``value_changes``).

    Subclasses set ``topics`` and, if they like, ``subject_prefix`` (e.g. "learning rate")."""

    topics: ClassVar[tuple[str, ...]] = ()
    file_kinds: ClassVar[tuple[str, ...]] = VALUE_FILE_KINDS
    severity_by_topic: ClassVar[dict[str, str]] = {}

    def selected(self, ctx: Context) -> list[ValueChange]:
        """The value changes this rule reports."""
        return [value_change for value_change in value_changes(ctx)
                if value_change.family == self.family and value_change.topic in self.topics
                and self.accepts(ctx, value_change) and not self._in_swap(ctx, value_change)]

    def swaps(self, ctx: PythonContext) -> list[tuple]:
        """This family's calls, base paired with head (``norm_pairs``): an argument changed inside a
        call whose class changed is part of the swap, which the structural rule reports."""
        return []

    def swap_kind(self, site: CallSite) -> object:
        """What must differ for a pair to be a swap (the class, by default)."""
        return site.qualname

    def _in_swap(self, ctx: Context, value_change: ValueChange) -> bool:
        return isinstance(ctx, PythonContext) and value_change.kind == "argument" and \
            inside_swapped_call(ctx, value_change.span, self.swaps, self.swap_kind)

    def check(self, ctx: Context) -> Iterator[Finding]:
        for value_change in self.selected(ctx):
            yield self.report(
                ctx, value_change.span, self.message_for(ctx, value_change),
                base_line=value_change.base_line,
                before=value_change.old.code if value_change.old is not None else None,
                after=value_change.new.code if value_change.new is not None else None,
                related=value_change.related,
                severity=self.severity_for(ctx, value_change),
            )

    def severity_for(self, ctx: Context, value_change: ValueChange) -> str | None:
        """None: the rule's own severity."""
        return self.severity_by_topic.get(value_change.topic)

    def accepts(self, ctx: Context, value_change: ValueChange) -> bool:
        """A further filter for subclasses that share a topic with a structural check."""
        return True

    def message_for(self, ctx: Context, value_change: ValueChange) -> str:
        """The message; subclasses that need the change itself (e.g. to say where a setting
        is read) override this, the rest override ``message``."""
        return self.message(value_change)

    def message(self, value_change: ValueChange) -> str:
        return value_change.describe()


def is_inert_option(value_change: ValueChange) -> bool:
    """A command-line option added with no default (or a ``store_true`` flag): nothing changes
    until someone passes it, so the option alone is no change of training."""
    return (value_change.origin == "argparse" and value_change.old is None and value_change.new is not None
            and (value_change.new.literal is None or value_change.new.literal is False))


class SettingRule(ValueRule):
    """A ValueRule with a structural part (``structural``, Python files only) that skips options
    added without a default and settings only renamed, shows long values around where they
    differ, and says which ``if`` a changed setting decides when it feeds no call (``compile =
    True`` ... ``if compile:``)."""

    def structural(self, ctx: PythonContext) -> Iterable[Finding]:
        return ()

    def check(self, ctx: Context) -> Iterator[Finding]:
        yield from super().check(ctx)
        if isinstance(ctx, PythonContext):
            yield from self.structural(ctx)

    def selected(self, ctx: Context) -> list[ValueChange]:
        chosen = super().selected(ctx)
        return _without_renamed_settings(ctx, chosen) if isinstance(ctx, PythonContext) else chosen

    def accepts(self, ctx: Context, value_change: ValueChange) -> bool:
        if is_inert_option(value_change):
            return False
        if value_change.kind == "binding" and (value_change.old is None) != (value_change.new is None) and \
                _placeholder(cast(Value, value_change.new or value_change.old).literal):  # the one that is set
            return False  # `sampler = None`, `gpus = {}` added or dropped: a placeholder, not a setting
        if value_change.old is not None and value_change.new is not None and \
                _cast_of(value_change.old.code, value_change.new.code):
            return False  # nz = opt.nz -> nz = int(opt.nz): the same value, converted
        if isinstance(ctx, PythonContext) and (value_change.old is None or value_change.new is None):
            from mldiff.facts.anchors import counterpart_broken  # added or removed, unless a parse error hid it
            if _moved_setting(ctx, value_change) or _in_new_function(ctx, value_change):
                return False
            if value_change.new is not None:
                return not counterpart_broken(ctx, "head", value_change.span.line - 1)
            if value_change.base_line is not None:
                return not counterpart_broken(ctx, "base", value_change.base_line - 1)
        return True

    def message(self, value_change: ValueChange) -> str:
        old, new = value_change.old, value_change.new
        if old is None or new is None:
            return value_change.describe()
        before, after = contrast(old.code, new.code)
        return f"{value_change.subject} {before} -> {after}{value_change.flow}"

    def message_for(self, ctx: Context, value_change: ValueChange) -> str:
        text = self.message(value_change)
        if isinstance(ctx, PythonContext) and value_change.kind == "binding" and not value_change.flow \
                and value_change.new is not None:
            from mldiff.facts.conditions import condition_use
            text += condition_use(ctx.head, value_change.name)
        return text


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
    import ast

    from mldiff.analysis.values import _literal_equal
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
    from mldiff.analysis.values import _literal_equal
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
