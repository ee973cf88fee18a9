"""How a kind of change becomes findings: added / removed / changed calls and bindings."""
from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

from mldiff.analysis.module import ModuleView
from mldiff.facts.anchors import base_line, binding_base_line, binding_span, group_span, restore_fix, site_span
from mldiff.facts.conditions import condition_phrase, conditions
from mldiff.facts.context import Context, PythonContext
from mldiff.facts.delta import ValueChange
from mldiff.facts.pairing import CallChange
from mldiff.facts.render import READER, call_label, display_target, render_call, value_text
from mldiff.facts.sites import CallSite
from mldiff.findings import Finding, Span
from mldiff.rules.base import Rule


def grouped(changes: Iterable[CallChange], ctx: PythonContext) -> list[list[CallChange]]:
    """Changes that say the same thing, together: calls added (or removed) in one block under the
    same conditions, the same argument change made to several calls (``bias=False`` on four
    ``Linear`` layers), several calls moved under the same new condition."""
    groups: dict[tuple, list[CallChange]] = {}
    for item in changes:
        if item.kind in ("added", "removed"):
            site = item.site
            parent = ctx.view(site.side).logical[site.index].parent
            group_key: tuple = (item.kind, parent, item.condition)
        elif item.kind == "arguments" and item.base_site.qualname == item.head_site.qualname:
            group_key = (item.kind, item.head_site.qualname, tuple(
                (name, old.key if old else None, new.key if new else None) for name, old, new in item.arguments))
        elif item.kind == "condition":
            group_key = (item.kind, item.condition)
        else:
            group_key = (item.kind, id(item))
        groups.setdefault(group_key, []).append(item)
    return list(groups.values())


def _elsewhere(ctx: PythonContext, group: list[CallChange]) -> str:
    """`` (also at lines 42, 77)`` for the other members of a group of like changes."""
    lines = [site_span(ctx, item.head).line for item in group[1:] if item.head is not None]
    return f" (also at line{'s' if len(lines) > 1 else ''} {', '.join(map(str, lines))})" if lines else ""


# -- reporting call and binding changes ---------------------------------------------------------
def _describe_group(verb: str, group: list[CallChange]) -> str:
    calls = ", ".join(render_call(item.site, width=48) for item in group[:3])
    if len(group) > 3:
        calls += f" and {len(group) - 3} more"
    return f"{verb}: {calls}{group[0].condition}"


def report_call_changes(rule: Rule[Any], ctx: PythonContext, changes: list[CallChange], noun: str,
                        annotate: Callable[[list[CallChange]], tuple[str, str | None]] | None = None,
                        ) -> Iterator[Finding]:
    """Findings for added / removed (grouped by block), changed and re-conditioned calls.
    ``annotate(group)`` may add a note to the message and pick another severity."""
    for group in grouped(changes, ctx):
        item = group[0]
        note, severity = annotate(group) if annotate is not None else ("", None)
        if item.kind == "added":
            sites = [g.head_site for g in group]
            yield rule.report(ctx, group_span(ctx, sites), _describe_group(f"{noun} added", group) + note,
                              before=None, after="; ".join(render_call(s) for s in sites), severity=severity)
        elif item.kind == "removed":
            sites = [g.base_site for g in group]
            yield rule.report(ctx, site_span(ctx, sites[0]),
                              _describe_group(f"{noun} removed", group) + note,
                              base_line=base_line(ctx, sites[0]),
                              before="; ".join(render_call(s) for s in sites), after=None, severity=severity,
                              fixes=[f for f in [restore_fix(ctx, sites[0].index,
                                                             "Restore the removed lines from the base")] if f])
        elif item.kind == "arguments":
            base, head = item.base_site, item.head_site
            if base.qualname != head.qualname:
                text = f"{noun} changed: {render_call(base, width=48)} -> {render_call(head, width=48)}"
            else:
                parts = [f"{param if not param.startswith('#') else 'argument'} {value_text(old)} -> "
                         f"{value_text(new)}" for param, old, new in item.arguments]
                text = f"{call_label(ctx, head)} " + ", ".join(parts)
            if item.condition:
                text += f", {item.condition}"
            yield rule.report(ctx, site_span(ctx, head), text + _elsewhere(ctx, group) + note,
                              base_line=base_line(ctx, base), before=render_call(base), after=render_call(head),
                              severity=severity)
        else:
            calls = ", ".join(render_call(g.head_site, width=48) for g in group[:3]) + (
                f" and {len(group) - 3} more" if len(group) > 3 else "")
            yield rule.report(ctx, group_span(ctx, [g.head_site for g in group]),
                              f"{calls} {item.condition}" + note, base_line=base_line(ctx, item.base),
                              before=render_call(item.base_site), after=render_call(item.head_site),
                              severity=severity)


def report_binding_changes(rule: Rule[Any], ctx: PythonContext, pairs: list[tuple],
                           describe: Callable[[str, Any, Any], str]) -> Iterator[Finding]:
    """Findings for ``binding_changes`` pairs; ``describe(target, old, new)`` says what it means."""
    for base, head, moved in pairs:
        site, target = head or base
        short = display_target(site.binding.target)
        old = base[0].binding.value if base else None
        new = head[0].binding.value if head else None
        meaning = describe(target, old, new)
        if base and head:
            if old is not None and new is not None and old.same_as(new, ctx.renames):
                text = f"{short} = {value_text(new)} {moved}"
            else:
                text = f"{short} {value_text(old)} -> {value_text(new)}{meaning}"
                if moved:
                    text += f", {moved}"
        elif head:
            text = f"{short} = {value_text(new)} set{condition_phrase(conditions(ctx.head, head[0].index))}{meaning}"
        else:
            text = f"{short} = {value_text(old)} removed{meaning}"
        span = binding_span(ctx, head[0]) if head else binding_span(ctx, base[0])
        yield rule.report(ctx, span, text, base_line=binding_base_line(ctx, base[0] if base else None),
                          before=old.code if old is not None else None,
                          after=new.code if new is not None else None)


def report_added_or_removed(rule: Rule[Any], ctx: PythonContext, base: CallSite | None, head: CallSite | None,
                            noun: str, width: int = 60) -> Finding | None:
    """The finding for a call that exists on one side only (None when both sides have it)."""
    from mldiff.facts.anchors import base_line, site_span
    if base is not None and head is None:
        return rule.report(ctx, site_span(ctx, base), f"{noun} {render_call(base, READER, width)} removed",
                           base_line=base_line(ctx, base), before=render_call(base, READER, 200))
    if head is not None and base is None:
        return rule.report(ctx, site_span(ctx, head), f"{noun} {render_call(head, READER, width)} added",
                           after=render_call(head, READER, 200))
    return None


def report_value_change(rule: Rule[Any], ctx: Context, value_change: ValueChange, message: str | None = None,
                        severity: str | None = None) -> Finding:
    """A finding for one entry of ``value_changes`` (or a ValueChange a rule built itself)."""
    return rule.report(ctx, value_change.span, message or value_change.describe(),
                       base_line=value_change.base_line,
                       before=value_change.old.code if value_change.old is not None else None,
                       after=value_change.new.code if value_change.new is not None else None,
                       related=value_change.related, severity=severity)


def describe_difference(ctx: PythonContext, base_only: list[int], head_only: list[int], width: int = 70,
                        ) -> tuple[Span, str, int | None, str | None, str | None]:
    """(span, detail, base line, before, after) of the first statements that differ in meaning."""
    from mldiff.analysis.values import shorten

    def text(view: ModuleView, index: int, size: int) -> str:
        return shorten(" ".join(view.source(index).split()), size)

    if head_only:
        detail = text(ctx.head, head_only[0], width)
        detail += f" (was {text(ctx.base, base_only[0], 45)})" if base_only else " added"
        span = ctx.head.span(head_only[0])
    else:
        detail = f"{text(ctx.base, base_only[0], width)} removed"
        span = ctx.head_anchor(ctx.base.logical[base_only[0]].start)
    base_line = ctx.base.logical[base_only[0]].start + 1 if base_only else None
    before = " ".join(ctx.base.source(base_only[0]).split()) if base_only else None
    after = " ".join(ctx.head.source(head_only[0]).split()) if head_only else None
    return span, detail, base_line, before, after
