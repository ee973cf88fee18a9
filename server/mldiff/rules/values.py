"""Rules that report changed values of some topics: the judgement over ``facts.value_changes``."""
from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Iterable, Iterator

from mldiff.analysis.values import contrast
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










