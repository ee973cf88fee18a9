"""Where a finding stands on the head side: the one anchoring policy.

Something on the head side is anchored on itself (its node, or its logical line).
Something only on the base side (removed) is anchored where its first line stood in the
head: the first line of the hunk that replaced it, else the next line, else the last
line of the file. A removed call is anchored by its own line, not by the first line of
the statement around it (an entry of a long ``Compose([...])``)."""
from __future__ import annotations

from typing import Sequence

import libcst as cst

from mldiff.facts.context import PythonContext
from mldiff.facts.sites import BindingSite, CallSite
from mldiff.findings import Fix, Span, TextEdit


def anchor(ctx: PythonContext, side: str, index: int, node: cst.CSTNode | None = None) -> Span:
    """The head-side span of ``node`` (or of logical line ``index``) of ``side``."""
    if side == "head":
        return ctx.head.span(index, node)
    line = ctx.base.span(index, node).line - 1 if node is not None else ctx.base.logical[index].start
    return ctx.head_anchor(line)


def site_span(ctx: PythonContext, site: CallSite) -> Span:
    """The call itself on the head; where it stood, for a call only the base has."""
    return anchor(ctx, site.side, site.index, site.call.node)


def base_line(ctx: PythonContext, site: CallSite | None) -> int | None:
    """1-based base line of a base site (or of the base line a head site replaced)."""
    if site is None:
        return None
    if site.side == "base":
        return ctx.base.span(site.index, site.call.node).line
    return None


def binding_span(ctx: PythonContext, site: BindingSite) -> Span:
    if site.side == "head":
        value = site.binding.value
        node = value.node if value is not None and value.node is not None else site.binding.node
        return ctx.head.span(site.index, node)
    return anchor(ctx, "base", site.index)


def binding_base_line(ctx: PythonContext, site: BindingSite | None) -> int | None:
    if site is None or site.side != "base":
        return None
    logical = ctx.base.logical[site.index]
    if logical.end - logical.start > 1 and site.binding.node is not None:  # an entry of a long literal
        return ctx.base.span(site.index, site.binding.node).line
    return logical.start + 1


def group_span(ctx: PythonContext, sites: Sequence[CallSite]) -> Span:
    """One head-side span covering several call sites (all on one side)."""
    spans = [site_span(ctx, site) for site in sites]
    first = min(spans, key=lambda s: (s.line, s.column))
    last = max(spans, key=lambda s: (s.end_line, s.end_column))
    return Span(first.line, first.column, last.end_line, last.end_column)


def counterpart_broken(ctx: PythonContext, side: str, line: int) -> bool:
    """Does 0-based physical ``line`` of ``side`` stand, on the other side, inside a statement that
    does not parse, and does that broken text hold the same statement? An unterminated string
    can swallow the rest of a file into one broken statement; what it swallowed is not new."""
    if side == "head":
        mapped, view, other = ctx.map.head_to_base(line), ctx.head, ctx.base
    else:
        mapped, view, other = ctx.map.base_to_head(line), ctx.base, ctx.head
    if mapped is None:
        for hunk in ctx.hunks:
            start, end = (hunk.head_start, hunk.head_end) if side == "head" else (hunk.base_start, hunk.base_end)
            if start <= line < max(end, start + 1):
                mapped = hunk.base_start if side == "head" else hunk.head_start
                break
    if mapped is None:
        return False
    own = view.index_at(line)
    statement = " ".join(view.source(own).split()) if own >= 0 else ""
    for probe in (mapped, mapped - 1):
        index = other.index_at(probe)
        if index >= 0 and other.logical[index].keyword != "case" and other.unit(index).error is not None:
            return not statement or statement in " ".join(other.source(index).split())
    return False


# -- fixes ---------------------------------------------------------------------------------------
def restore_fix(ctx: PythonContext, base_index: int, title: str) -> Fix | None:
    """Put back the base lines of the hunk that removed base logical line ``base_index``."""
    start = ctx.base.logical[base_index].start
    hunk = next((h for h in ctx.hunks if h.base_start <= start < h.base_end), None)
    if hunk is None:
        return None
    text = "".join(ctx.base.lines[hunk.base_start:hunk.base_end])
    if text and not text.endswith("\n") and hunk.head_end < len(ctx.head.lines):
        text += "\n"
    return Fix(title, (TextEdit(Span(hunk.head_start + 1, 1, hunk.head_end + 1, 1), text),))


def span_contains(outer: Span, inner: Span) -> bool:
    """Does span ``inner`` start inside span ``outer`` (both head side, 1-based)?"""
    return (outer.line, outer.column) <= (inner.line, inner.column) <= (outer.end_line, outer.end_column)
