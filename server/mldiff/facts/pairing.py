"""The one pairing of base and head: which call or binding on one side is which on the other.

``pair`` pairs items of equal key, identical ones first, in rounds of keys (each round
pairs what the rounds before left alone); everything else here is ``pair`` over sites of
a kind, keyed by what makes two of them the same thing (callee after renames, enclosing
function, assigned name)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence, TypeVar

from mldiff.analysis.statements import Binding
from mldiff.analysis.values import Value
from mldiff.facts.anchors import counterpart_broken, site_span, span_contains
from mldiff.facts.conditions import condition_change, condition_phrase, conditions, touched_with_blocks
from mldiff.facts.context import PythonContext
from mldiff.facts.sites import (
    BindingSite,
    CallPredicate,
    CallSite,
    argument_changes,
    binding_sites,
    call_sites,
    renamed,
    resolved_target,
)
from mldiff.findings import Span

T = TypeVar("T")
PairKey = Callable[[Any], object]


def pair(base: Sequence[T], head: Sequence[T], key: PairKey | tuple[PairKey, ...],
         same: Callable[[T, T], bool]) -> list[tuple[T | None, T | None]]:
    """Pair base items with head items of equal ``key``: identical ones (``same``) first, then the
    rest in order. Unpaired items come back as (item, None) or (None, item).

    ``key`` may be a tuple of keys: rounds, each pairing only what the rounds before left
    unpaired on both sides (calls first by callee and enclosing function, then the ones left
    by callee alone: a call moved into a new ``main()`` is the same call)."""
    keys = key if isinstance(key, tuple) else (key,)
    done: list[tuple[T | None, T | None]] = []
    for number, one_key in enumerate(keys):
        pairs = _pair_by(base, head, one_key, same)
        base = [b for b, h in pairs if h is None and b is not None]
        head = [h for b, h in pairs if b is None and h is not None]
        if number == len(keys) - 1 or not base or not head:
            return done + pairs
        done += [p for p in pairs if p[0] is not None and p[1] is not None]
    return done


def _pair_by(base: Sequence[T], head: Sequence[T], key: PairKey,
             same: Callable[[T, T], bool]) -> list[tuple[T | None, T | None]]:
    head_groups: dict[object, list[T]] = {}
    for item in head:
        head_groups.setdefault(key(item), []).append(item)
    pairs: list[tuple[T | None, T | None]] = []
    base_left = []
    for item in base:
        group = head_groups.get(key(item))
        match = next((h for h in group if same(item, h)), None) if group else None
        if match is not None:
            group.remove(match)  # type: ignore[union-attr]
            pairs.append((item, match))
        else:
            base_left.append(item)
    for item in base_left:
        group = head_groups.get(key(item))
        pairs.append((item, group.pop(0) if group else None))
    paired_head = {id(h) for _, h in pairs if h is not None}
    pairs.extend((None, h) for h in head if id(h) not in paired_head)
    return pairs


def pair_calls(ctx: PythonContext, predicate: CallPredicate,
               key: PairKey | tuple[PairKey, ...] = lambda site: site.qualname) -> list[tuple]:
    """Calls of the touched code that ``predicate`` takes, paired base to head by ``key``."""
    base = call_sites(ctx, "base", predicate)
    head = call_sites(ctx, "head", predicate)
    return pair(base, head, key, lambda b, h: same_call(ctx, b, h))


def same_call(ctx: PythonContext, base: CallSite, head: CallSite) -> bool:
    return base.qualname == head.qualname and not argument_changes(ctx, base, head, resolve=False)


def pair_bindings(ctx: PythonContext, predicate: Callable[[Binding], bool]) -> list[tuple]:
    base = binding_sites(ctx, "base", predicate)
    head = binding_sites(ctx, "head", predicate)
    renames = ctx.renames

    def same(b: BindingSite, h: BindingSite) -> bool:
        if b.binding.value is None or h.binding.value is None:
            return b.binding.value is h.binding.value
        return b.binding.value.same_as(h.binding.value, renames)

    return pair(base, head, lambda site: site.key, same)


# -- calls added, removed, changed or moved under another condition ------------------------------
@dataclass(frozen=True)
class CallChange:
    """One matching call that differs between base and head."""

    kind: str                # "added" | "removed" | "arguments" | "condition"
    base: CallSite | None
    head: CallSite | None
    arguments: tuple[tuple[str, Value | None, Value | None], ...] = ()
    condition: str = ""      # "condition"/"arguments": how it changed, if it did; "added"/"removed": " (when ...)"

    def with_arguments(self, arguments: tuple) -> CallChange | None:
        """The same change restricted to ``arguments``: a pure condition change when none are
        left but the conditions moved, None when nothing is left."""
        if arguments:
            return CallChange("arguments", self.base, self.head, arguments, self.condition)
        return CallChange("condition", self.base, self.head, condition=self.condition) if self.condition else None

    @property
    def site(self) -> CallSite:
        return self.head or self.base  # type: ignore[return-value]

    @property
    def base_site(self) -> CallSite:
        """``base``, for the kinds that have one (all but "added")."""
        assert self.base is not None, f"an {self.kind!r} call change without a base call"
        return self.base

    @property
    def head_site(self) -> CallSite:
        """``head``, for the kinds that have one (all but "removed")."""
        assert self.head is not None, f"a {self.kind!r} call change without a head call"
        return self.head


def call_changes(ctx: PythonContext, predicate: CallPredicate, pattern=None,
                 key: Callable[[PythonContext, CallSite, str], object] | tuple | None = None,
                 where: Callable[[PythonContext, CallSite], bool] | None = None,
                 callee: Callable[[str], str] | None = None) -> list[CallChange]:
    """Matching calls in the changed code, paired base to head (identical calls first): added,
    removed, with changed arguments, or the same call under other conditions. With ``pattern``
    (a regex prefilter), calls inside the blocks of touched ``if``/``else`` headers count too.
    ``key(ctx, site, name)`` says which calls may pair (default: the callee, after renames; a
    tuple of keys pairs in rounds, each over what the rounds before left unpaired);
    ``where(ctx, site)`` filters the sites further where the line matters; ``callee(qualname)``
    says which callees count as the same (default: the qualified name)."""
    renames = ctx.renames

    def name(site: CallSite) -> str:
        qualname = renamed(site.qualname, renames) if site.side == "base" else site.qualname
        return callee(qualname) if callee is not None else qualname

    def sites(side: str) -> list[CallSite]:
        indices = touched_with_blocks(ctx, side, pattern) if pattern is not None else None
        return [s for s in call_sites(ctx, side, predicate, indices)
                if not s.call.in_lambda_or_def and (where is None or where(ctx, s))]

    def same(base: CallSite, head: CallSite) -> bool:  # cheap: no look-ups of what names stand for
        return name(base) == name(head) and not argument_changes(ctx, base, head, resolve=False) \
            and condition_change(ctx, base.index, head.index) is None

    keys = key if isinstance(key, tuple) else (key,)
    pair_keys = tuple((lambda site, k=one_key: k(ctx, site, name(site))) if one_key is not None else name
                      for one_key in keys)
    pairs = pair(sites("base"), sites("head"), pair_keys, same)
    out = []
    for base, head in pairs:
        one = head if base is None else base if head is None else None
        if one is not None and counterpart_broken(ctx, one.side, ctx.view(one.side).logical[one.index].start):
            continue
        if base is None:
            assert head is not None  # pair() never returns (None, None)
            out.append(CallChange("added", None, head, condition=condition_phrase(conditions(ctx.head, head.index))))
        elif head is None:
            out.append(CallChange("removed", base, None,
                                  condition=condition_phrase(conditions(ctx.base, base.index))))
        else:
            arguments = resolved_argument_changes(ctx, base, head)
            if name(base) != name(head) or arguments:
                out.append(CallChange("arguments", base, head, tuple(arguments),
                                      condition=condition_change(ctx, base.index, head.index) or ""))
            else:
                moved = condition_change(ctx, base.index, head.index)
                if moved:
                    out.append(CallChange("condition", base, head, condition=moved))
    return out


def assigned_key(ctx: PythonContext, site: CallSite, name: str) -> object:
    """Pair calls by what they are assigned to (``sampler = RandomSampler(ds)`` with ``sampler =
    WeightedRandomSampler(w, n)``: a swap), else by callee."""
    view = ctx.view(site.side)
    for binding in view.facts(site.index).bindings:
        if binding.value is not None and binding.value.node is site.call.node:
            target = renamed(binding.target, ctx.renames) if site.side == "base" else binding.target
            return ("target", target)  # not the scope: code moved into a function still pairs
    return ("callee", name)


def binding_changes(ctx: PythonContext, accept: Callable[[str], bool], pattern) -> list[tuple]:
    """Bindings whose resolved target ``accept`` takes (``cudnn.benchmark`` ->
    ``torch.backends.cudnn.benchmark``), paired base to head: (base, head, condition change)
    where the value or the conditions around it differ."""
    def sites(side: str) -> list[tuple[BindingSite, str]]:
        view = ctx.view(side)
        out = []
        for index in touched_with_blocks(ctx, side, pattern):
            for binding in view.facts(index).bindings:
                target = resolved_target(view, binding.target)
                if binding.kind != "param" and accept(target):
                    out.append((BindingSite(side, index, binding, ()), target))
        return out

    renames = ctx.renames

    def same_value(base, head) -> bool:
        old, new = base[0].binding.value, head[0].binding.value
        if old is None or new is None:
            return old is new
        return old.same_as(new, renames)

    def same(base, head) -> bool:
        return same_value(base, head) and condition_change(ctx, base[0].index, head[0].index) is None

    out: list[tuple] = []
    for base, head in pair(sites("base"), sites("head"), lambda s: s[1], same):
        if base is not None and head is not None:
            moved = condition_change(ctx, base[0].index, head[0].index)
            if same_value(base, head) and not moved:
                continue
            out.append((base, head, moved or ""))
        else:
            one = head or base
            assert one is not None  # pair() never returns (None, None)
            if not counterpart_broken(ctx, one[0].side, ctx.view(one[0].side).logical[one[0].index].start):
                out.append((base, head, ""))
    return out


def resolved_argument_changes(ctx: PythonContext, base: CallSite, head: CallSite) -> list[tuple]:
    """``argument_changes`` less the ones that only name the same constant (``manual_seed(1337)``
    -> ``manual_seed(seed)`` with ``seed = 1337``)."""
    from mldiff.facts.equivalence import same_after_resolving
    return [(name, old, new) for name, old, new in argument_changes(ctx, base, head)
            if not same_after_resolving(ctx, old, new)]


def qualname_of(site: CallSite) -> str:
    return site.qualname


def swapped_calls(ctx: PythonContext, pairs_of: Callable[[PythonContext], list[tuple]],
                  kind: Callable[[CallSite], object] = qualname_of) -> list[Span]:
    """Head spans of the calls whose kind changed between paired base and head (``SGD(...)`` ->
    ``AdamW(...)``): their arguments belong to the swap, which the family's rule reports whole."""
    return ctx.fact(("swapped_calls", pairs_of, kind), lambda: [
        site_span(ctx, head) for base, head in pairs_of(ctx)
        if base is not None and head is not None and kind(base) != kind(head)])


def inside_swapped_call(ctx: PythonContext, span: Span, pairs_of: Callable[[PythonContext], list[tuple]],
                        kind: Callable[[CallSite], object] = qualname_of) -> bool:
    return any(span_contains(swapped, span) for swapped in swapped_calls(ctx, pairs_of, kind))


# -- what the structural rules of the families report alike -------------------------------------------------
def scope_key(ctx: PythonContext, site, category: str) -> tuple:
    """Pairing key of a call: its category and the functions around it (base names renamed)."""
    scope = ctx.view(site.side).scope_names(site.index)
    if site.side == "base":
        scope = tuple(ctx.renames.get(name, name) for name in scope)
    return (category, scope)


def paired_calls(ctx: PythonContext, predicate, category) -> list[tuple]:
    """Calls matching ``predicate`` in the touched code, base paired with head by ``category`` (a
    string, or a function of the call site) and enclosing function; computed once per change."""
    def key(site):
        return scope_key(ctx, site, category(site) if callable(category) else category)

    def loose(site):
        return key(site)[0]

    return ctx.fact(("paired_calls", predicate), lambda: pair_calls(ctx, predicate, (key, loose)))
