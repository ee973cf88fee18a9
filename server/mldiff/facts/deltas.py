"""The semantic statement diff of a change: which statements were added, removed or changed in
meaning, which unchanged ones now run in another context, and which moved past another.

Statements are compared by meaning (``facts.equivalence.meaning_of``: no comments, no
layout, no help texts or device moves, consistent renames applied), over the whole file, so code moved between hunks is
matched, not reported twice. The statements considered are the touched ones plus those
inside the blocks of touched ``if`` / ``with`` / ``for`` / ``try`` headers (whose context the
change may alter without touching them). Docstrings, ``pass``, ``assert`` and lines that
only log or print are left out.

- ``added`` / ``removed``: a statement on one side only (``changed`` when a removed and an
  added one are the same assignment or the same call, in the same hunk);
- ``context``: a statement on both sides whose surroundings differ (``facts.surroundings``);
- ``order``: a statement on both sides that now comes before (or after) another statement
  of its function it came after (before): the longest run of statements in the same order
  stays, the others moved.
"""
from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass

from mldiff.analysis.values import _literal_equal
from mldiff.facts.context import PythonContext
from mldiff.facts.flows import matching_def
from mldiff.knowledge import apis
from mldiff.facts.equivalence import is_noise, meaning_of, same_statement
from mldiff.facts.surroundings import context_change, surroundings
from mldiff.facts.syntax import kept_call

# Headers whose block the change may alter without touching it (a def: code moved into it unchanged).
_BLOCK_HEADERS = frozenset({"if", "elif", "else", "while", "for", "with", "try", "except", "finally", "def"})
_MAX_BLOCK = 300  # lines of a touched header's block considered (a huge block: its touched lines only)


@dataclass(frozen=True)
class Delta:
    """One semantic difference at statement level (logical line indices of each side)."""

    kind: str                 # added | removed | changed | context | order
    base: int | None
    head: int | None
    detail: str = ""          # context / order: what changed around the statement, in words
    element: str = ""         # context: "with" | "condition" | "loop" | "try"; order: the statement it passed

    @property
    def base_index(self) -> int:
        """``base``, for the kinds that have one (all but "added")."""
        assert self.base is not None, f"an {self.kind!r} delta without a base statement"
        return self.base

    @property
    def head_index(self) -> int:
        """``head``, for the kinds that have one (all but "removed")."""
        assert self.head is not None, f"a {self.kind!r} delta without a head statement"
        return self.head


def statement_deltas(ctx: PythonContext) -> list[Delta]:
    """The change's deltas, in head order, computed once per change."""
    return ctx.fact("statement_deltas", lambda: _deltas(ctx))


def matched_statements(ctx: PythonContext, side: str) -> frozenset[int]:
    """The logical lines of ``side`` that the statement diff found on the other side too."""
    statement_deltas(ctx)
    return ctx.fact(("matched", side), frozenset)


def moved_function(ctx: PythonContext, side: str, header: int) -> bool:
    """Is the function at ``header`` one side's only, with its body mostly matched on the other
    side (code moved into a new function, or out of a removed one)?"""
    view = ctx.view(side)
    if not _in_one_sided_definition(ctx, side, header + 1 if header + 1 < len(view.logical) else header):
        return False
    body = [i for i in view.block(header) if not view.logical[i].is_header and not is_noise(view, i)]
    matched = matched_statements(ctx, side)
    return bool(body) and sum(i in matched for i in body) * 2 >= len(body)


def _candidates(ctx: PythonContext, side: str) -> list[int]:
    view = ctx.view(side)
    touched = set(ctx.touched(side))
    out = set(touched)
    for index in touched:
        line = view.logical[index]
        if line.is_header and line.keyword in _BLOCK_HEADERS:
            block = view.block(index)
            if len(block) <= _MAX_BLOCK:
                out.update(block)
    return sorted(i for i in out if view.logical[i].keyword not in ("def", "class")
                  and view.logical[i].part != "tail" and not is_noise(view, i))


def _deltas(ctx: PythonContext) -> list[Delta]:
    renames = ctx.renames
    base_items = [(i, meaning_of(ctx.base, i, renames)) for i in _candidates(ctx, "base")]
    head_items = [(i, meaning_of(ctx.head, i)) for i in _candidates(ctx, "head")]
    waiting: dict[str, list[int]] = {}
    for index, key in head_items:
        waiting.setdefault(key, []).append(index)
    matched: list[tuple[int, int]] = []
    removed: list[int] = []
    for index, key in base_items:
        bucket = waiting.get(key)
        if bucket:
            matched.append((index, bucket.pop(0)))
        else:
            removed.append(index)
    added = sorted(i for bucket in waiting.values() for i in bucket)
    ctx.fact(("matched", "base"), lambda: frozenset(b for b, _ in matched))
    ctx.fact(("matched", "head"), lambda: frozenset(h for _, h in matched))
    # code of a function or class one side does not have was added or removed whole (or moved
    # there: then it matched above); it takes effect where it is called
    removed = [i for i in removed if not _in_one_sided_definition(ctx, "base", i)]
    added = [i for i in added if not _in_one_sided_definition(ctx, "head", i)]
    out = _one_sided(ctx, removed, added)
    out += _context_deltas(ctx, matched)
    out += _order_deltas(ctx, matched)
    out.sort(key=lambda d: (d.head if d.head is not None else _head_line(ctx, d.base), d.kind))
    return out


def _in_one_sided_definition(ctx: PythonContext, side: str, index: int) -> bool:
    """Inside a function or class the other side does not have (added or removed whole, or moved
    to another file): its code takes effect where it is called, which is a delta of its own."""
    view = ctx.view(side)
    for ancestor in view.ancestors(index):
        if view.logical[ancestor].keyword in ("def", "class"):
            return ctx.fact(("one_sided", side, ancestor), lambda: matching_def(ctx, side, ancestor) is None)
    return False


def _head_line(ctx: PythonContext, base_index: int | None) -> int:
    """A head logical line near where base line ``base_index`` stood (for ordering only)."""
    if base_index is None:
        return 0
    mapped = ctx.map.base_to_head(ctx.base.logical[base_index].start)
    return ctx.head.index_at(mapped) if mapped is not None else len(ctx.head.logical)


def _one_sided(ctx: PythonContext, removed: list[int], added: list[int]) -> list[Delta]:
    """Removed and added statements; one of each that bind the same name or make the same
    call in the same hunk are one statement changed."""
    def identity(side: str, index: int) -> tuple | None:
        view = ctx.view(side)
        facts = view.facts(index)
        hunk = _hunk_of(ctx, side, index)
        if facts.bindings:
            target = facts.bindings[0].target
            if side == "base":
                target = ".".join(ctx.renames.get(p, p) for p in target.split("."))
            return hunk, "binds", target
        keyword = view.logical[index].keyword
        if keyword:
            return hunk, keyword
        if view.source(index).lstrip().startswith("return"):
            return hunk, "return"
        return calling(side, index)

    def calling(side: str, index: int) -> tuple | None:
        view = ctx.view(side)
        facts = view.facts(index)
        if not facts.calls:
            return None
        call = facts.calls[0]
        if kept is not None:  # the second round: only a call dropped on one side and kept on the other
            found = kept_call(view, index)
            if found is None or found[0] is not call.node or found[1] != (kept if side == "head" else not kept):
                return None
        callee = call.callee[:-5] if call.callee.endswith("(...)") else call.callee
        if side == "base":
            callee = ".".join(ctx.renames.get(p, p) for p in callee.split("."))
        return _hunk_of(ctx, side, index), "calls", apis.module_form(apis.canonical(view.resolve(callee)))

    out: list[Delta] = []
    paired: set[int] = set()
    unpaired: list[int] = []
    kept: bool | None = None
    # first by what the statements bind or do; then what is left by the call they make, its
    # result now kept in a variable where it was dropped (kept: True), or the other way round
    for key_of, candidates, kept in ((identity, removed, None), (calling, None, True), (calling, None, False)):
        heads: dict[tuple, list[int]] = {}
        for index in added:
            key = key_of("head", index) if index not in paired else None
            if key is not None:
                heads.setdefault(key, []).append(index)
        left: list[int] = []
        for index in candidates if candidates is not None else unpaired:
            key = key_of("base", index)
            bucket = heads.get(key) if key is not None else None
            if bucket:
                head = bucket.pop(0)
                paired.add(head)
                if not same_statement(ctx, index, head):
                    out.append(Delta("changed", index, head))
            else:
                left.append(index)
        unpaired = left
    out.extend(Delta("removed", index, None) for index in unpaired)
    out.extend(Delta("added", None, index) for index in added if index not in paired)
    return out


def _hunk_of(ctx: PythonContext, side: str, index: int) -> int:
    """The number of the hunk holding logical line ``index`` of ``side`` (-1 outside every hunk)."""
    logical = ctx.view(side).logical[index]
    for number, hunk in enumerate(ctx.hunks):
        start, end = (hunk.base_start, hunk.base_end) if side == "base" else (hunk.head_start, hunk.head_end)
        if start < logical.end and logical.start < max(end, start + 1):
            return number
    return -1


def _context_deltas(ctx: PythonContext, matched: list[tuple[int, int]]) -> list[Delta]:
    touched_base, touched_head = set(ctx.touched_base), set(ctx.touched_head)
    out = []
    for base, head in matched:
        if not (base in touched_base or head in touched_head or _touched_around(ctx, "base", base, touched_base)
                or _touched_around(ctx, "head", head, touched_head)):
            continue  # nothing around it changed
        change = context_change(surroundings(ctx.base, base, ctx.renames), surroundings(ctx.head, head),
                                lambda old, new: _renamed_setting(ctx, old, new))
        if change is not None:
            out.append(Delta("context", base, head, change[0], change[1]))
    return out


def _renamed_setting(ctx: PythonContext, old: str, new: str) -> bool:
    """``old`` (a base name) and ``new`` (a head name) are one setting renamed: the old name is gone,
    the new one is new, and each is bound once, to the same constant."""
    if ctx.head.definitions(old) or ctx.base.definitions(new):
        return False
    old_definitions, new_definitions = ctx.base.definitions(old), ctx.head.definitions(new)
    if not old_definitions and not new_definitions and "." in old and old.rsplit(".", 1)[0] == new.rsplit(".", 1)[0]:
        # an option of another file (``args.X``) renamed everywhere this file reads it
        return not re.search(r"\b" + re.escape(old) + r"\b", ctx.head.text) and \
            not re.search(r"\b" + re.escape(new) + r"\b", ctx.base.text)
    if len(old_definitions) != 1 or len(new_definitions) != 1:
        return False
    old_binding, new_binding = old_definitions[0][1], new_definitions[0][1]
    before, after = old_binding.value, new_binding.value
    if before is None and after is None:
        return old_binding.kind == new_binding.kind == "argparse"  # two options without a default
    return before is not None and after is not None and before.is_literal and after.is_literal \
        and _literal_equal(before.literal, after.literal)


def _touched_around(ctx: PythonContext, side: str, index: int, touched: set[int]) -> bool:
    """Is a header around ``index`` touched, or an ``if`` / ``elif`` before its branch?"""
    view = ctx.view(side)
    for ancestor in view.ancestors(index):
        keyword = view.logical[ancestor].keyword
        if keyword in ("def", "class"):
            return False
        if ancestor in touched or keyword in ("elif", "else"):
            return True
    return False


def _order_deltas(ctx: PythonContext, matched: list[tuple[int, int]]) -> list[Delta]:
    """Statements of one function that changed places relative to the others."""
    by_scope: dict[tuple, list[tuple[int, int]]] = {}
    touched_base, touched_head = set(ctx.touched_base), set(ctx.touched_head)
    for base, head in matched:
        scope = (ctx.head.enclosing_def(head), ctx.head.logical[head].parent)
        by_scope.setdefault(scope, []).append((base, head))
    out = _moves_past_untouched(ctx, matched, touched_base, touched_head)
    for pairs in by_scope.values():
        if len(pairs) < 2:
            continue
        pairs.sort()
        kept = _increasing(pairs)
        for number, (base, head) in enumerate(pairs):
            if (base, head) in kept or not (base in touched_base and head in touched_head):
                continue
            passed = _passed(pairs, number, kept)
            if passed is not None:
                other_base, other_head = passed
                where = "before" if head < other_head else "after"
                text = " ".join(ctx.head.source(other_head).split())
                out.append(Delta("order", base, head, f"now {where} `{text[:60]}`", str(other_head)))
    return out


def _moves_past_untouched(ctx: PythonContext, matched: list[tuple[int, int]], touched_base: set[int],
                          touched_head: set[int]) -> list[Delta]:
    """A statement cut and pasted past lines the diff did not touch (the batch fetched before the
    forward pass instead of after it): the nearest untouched statement of its block it crossed
    that reads what it binds or binds what it reads."""
    out = []
    head, base = ctx.head, ctx.base
    for base_index, head_index in matched:
        if base_index not in touched_base or head_index not in touched_head:
            continue
        parent = head.logical[head_index].parent
        if base.logical[base_index].parent >= 0 and parent < 0:
            continue
        crossed: list[tuple[int, int]] = []
        siblings = head.block(parent) if parent >= 0 else range(len(head.logical))
        for other in siblings:  # text and line numbers first: only the crossed lines get parsed
            line = head.logical[other]
            if other == head_index or line.parent != parent or other in touched_head:
                continue
            mapped = ctx.map.head_to_base(line.start)
            other_base = base.index_at(mapped) if mapped is not None else -1
            if other_base < 0 or (other_base < base_index) == (other < head_index) \
                    or base.logical[other_base].parent != base.logical[base_index].parent:
                continue
            if not is_noise(head, other) and depend(head, head_index, other):
                crossed.append((abs(other - head_index), other))
        if crossed:
            other = min(crossed)[1]
            where = "before" if head_index < other else "after"
            text = " ".join(head.source(other).split())
            out.append(Delta("order", base_index, head_index, f"now {where} `{text[:60]}`", str(other)))
    return out


def depend(view, first: int, second: int) -> bool:
    """Does one of two statements read what the other binds (``x, y = loader.next_batch()`` and
    ``loss = model(x, y)``)? Only then does their order change what either computes."""
    def bound(index: int) -> set[str]:
        return {b.target.split("[", 1)[0] for b in view.facts(index).bindings if b.kind != "param"}
    return bool(bound(first) & set(view.facts(second).reads)) or bool(bound(second) & set(view.facts(first).reads))


def _increasing(pairs: list[tuple[int, int]]) -> set[tuple[int, int]]:
    """The longest run of pairs (sorted by base) whose head lines increase too."""
    tails: list[int] = []
    tail_pairs: list[int] = []
    previous: list[int] = [-1] * len(pairs)
    for number, (_, head) in enumerate(pairs):
        position = bisect_left(tails, head)
        if position == len(tails):
            tails.append(head)
            tail_pairs.append(number)
        else:
            tails[position] = head
            tail_pairs[position] = number
        previous[number] = tail_pairs[position - 1] if position else -1
    out: set[tuple[int, int]] = set()
    number = tail_pairs[-1] if tail_pairs else -1
    while number >= 0:
        out.add(pairs[number])
        number = previous[number]
    return out


def _passed(pairs: list[tuple[int, int]], number: int, kept: set[tuple[int, int]]) -> tuple[int, int] | None:
    """A statement that stayed in place which the moved one passed: the nearest one that was on
    one side of it in the base and is on the other side now."""
    base, head = pairs[number]
    crossed = [(abs(other_base - base), (other_base, other_head)) for other_base, other_head in kept
               if (other_base < base) != (other_head < head)]
    return min(crossed)[1] if crossed else None
