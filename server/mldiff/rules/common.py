"""Building blocks rules share: find calls and bindings in the changed code, pair
base with head, compare arguments, and say where a value flows."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from mldiff.analysis import apis
from mldiff.analysis.change import PythonChange, whole_line
from mldiff.analysis.module import ModuleView
from mldiff.analysis.statements import Binding, CallFact
from mldiff.analysis.values import Value, shorten
from mldiff.findings import Fix, Related, Span, TextEdit


@dataclass(frozen=True)
class CallSite:
    side: str            # "base" or "head"
    index: int           # logical line
    call: CallFact
    qualname: str        # canonical qualified name

    @property
    def short(self) -> str:
        """``Adam`` for ``torch.optim.Adam``, ``transforms.Normalize`` for torchvision's."""
        return short_name(self.qualname)


def short_name(qualname: str) -> str:
    """``Adam`` for ``torch.optim.Adam``; ``transforms.Normalize`` keeps its module for clarity."""
    parts = qualname.split(".")
    if len(parts) >= 2 and parts[-2] in ("transforms", "v2", "F", "functional"):
        return ".".join(parts[-2:])
    return parts[-1]


CallPredicate = Callable[[str, CallFact, ModuleView], bool]


def call_sites(change: PythonChange, side: str, predicate: CallPredicate,
               indices: Iterable[int] | None = None) -> list[CallSite]:
    """Calls in the touched logical lines of ``side`` (or in ``indices``) that match."""
    view = change.view(side)
    out = []
    for index in (change.touched(side) if indices is None else indices):
        for call in view.facts(index).calls:
            qualname = apis.canonical(view.qualname(call))
            if predicate(qualname, call, view):
                out.append(CallSite(side, index, call, qualname))
    return out


def pair(base: Sequence, head: Sequence, key: Callable, same: Callable) -> list[tuple]:
    """Pair base items with head items of equal ``key``: identical ones (``same``) first,
    then the rest in order. Unpaired items come back as (item, None) or (None, item)."""
    head_groups: dict[object, list] = {}
    for item in head:
        head_groups.setdefault(key(item), []).append(item)
    pairs: list[tuple] = []
    base_left = []
    for item in base:
        group = head_groups.get(key(item))
        match = next((h for h in group if same(item, h)), None) if group else None
        if match is not None:
            group.remove(match)
            pairs.append((item, match))
        else:
            base_left.append(item)
    for item in base_left:
        group = head_groups.get(key(item))
        pairs.append((item, group.pop(0) if group else None))
    paired_head = {id(h) for _, h in pairs if h is not None}
    pairs.extend((None, h) for h in head if id(h) not in paired_head)
    return pairs


def pair_calls(change: PythonChange, predicate: CallPredicate,
               key: Callable[[CallSite], object] = lambda site: site.qualname) -> list[tuple]:
    base = call_sites(change, "base", predicate)
    head = call_sites(change, "head", predicate)
    return pair(base, head, key, lambda b, h: same_call(change, b, h))


def same_call(change: PythonChange, base: CallSite, head: CallSite) -> bool:
    return base.qualname == head.qualname and not argument_changes(change, base, head)


def argument_changes(change: PythonChange, base: CallSite, head: CallSite,
                     only: Iterable[str] | None = None) -> list[tuple[str, Value | None, Value | None]]:
    """(parameter, before, after) for each argument whose value differs in meaning."""
    before = apis.arguments(base.call, base.qualname)
    after = apis.arguments(head.call, head.qualname)
    names = list(dict.fromkeys([*before, *after]))
    if only is not None:
        wanted = set(only)
        names = [n for n in names if n in wanted]
    renames = change.renames
    out = []
    for name in names:
        old, new = before.get(name), after.get(name)
        if old is None and new is None:
            continue
        if old is not None and new is not None and old.same_as(new, renames):
            continue
        out.append((name, old, new))
    return out


# -- positions ------------------------------------------------------------------------------
def site_span(change: PythonChange, site: CallSite) -> Span:
    """Head-side anchor: the call itself on the head, where it stood for a base call."""
    if site.side == "head":
        return change.head.span(site.index, site.call.node)
    return change.head_anchor(change.base.logical[site.index].start)


def base_line(change: PythonChange, site: CallSite | None) -> int | None:
    """1-based base line of a base site (or of the base line a head site replaced)."""
    if site is None:
        return None
    if site.side == "base":
        return change.base.span(site.index, site.call.node).line
    return None


def line_span(change: PythonChange, side: str, index: int) -> Span:
    if side == "head":
        return change.head.span(index)
    return change.head_anchor(change.base.logical[index].start)


def value_text(value: Value | None) -> str:
    return "(not set)" if value is None else shorten(value.code)


# -- bindings -------------------------------------------------------------------------------
@dataclass(frozen=True)
class BindingSite:
    side: str
    index: int
    binding: Binding
    scope: tuple[str, ...]

    @property
    def key(self) -> tuple[str, ...]:
        return self.scope + (self.binding.target,)


def binding_sites(change: PythonChange, side: str, predicate: Callable[[Binding], bool]) -> list[BindingSite]:
    view = change.view(side)
    renames = change.renames if side == "base" else {}
    out = []
    for index in change.touched(side):
        facts = view.facts(index)
        scope = view.scope_names(index)
        if facts.def_name and view.logical[index].keyword == "def":
            scope = scope + (facts.def_name,)
        for binding in facts.bindings:
            if predicate(binding):
                if renames:
                    binding = _renamed(binding, renames)
                    scope = tuple(renames.get(s, s) for s in scope)
                out.append(BindingSite(side, index, binding, scope))
    return out


def _renamed(binding: Binding, renames: dict[str, str]) -> Binding:
    parts = binding.target.split(".")
    target = ".".join(renames.get(p, p) for p in parts)
    if target == binding.target:
        return binding
    return Binding(target, binding.value, binding.kind, binding.node)


def pair_bindings(change: PythonChange, predicate: Callable[[Binding], bool]) -> list[tuple]:
    base = binding_sites(change, "base", predicate)
    head = binding_sites(change, "head", predicate)
    renames = change.renames

    def same(b: BindingSite, h: BindingSite) -> bool:
        if b.binding.value is None or h.binding.value is None:
            return b.binding.value is h.binding.value
        return b.binding.value.same_as(h.binding.value, renames)

    return pair(base, head, lambda site: site.key, same)


def binding_span(change: PythonChange, site: BindingSite) -> Span:
    if site.side == "head":
        value = site.binding.value
        node = value.node if value is not None and value.node is not None else site.binding.node
        return change.head.span(site.index, node)
    return change.head_anchor(change.base.logical[site.index].start)


def binding_base_line(change: PythonChange, site: BindingSite | None) -> int | None:
    if site is None or site.side != "base":
        return None
    return change.base.logical[site.index].start + 1


# -- flows -----------------------------------------------------------------------------------
def flows(change: PythonChange, site: BindingSite, limit: int = 3) -> list[tuple[Related, CallSite, str]]:
    """Where the head value of ``site`` is passed to a call: (related location, call, parameter)."""
    view = change.head
    name = site.binding.target
    out: list[tuple[Related, CallSite, str]] = []
    for index in view.uses(name):
        if index == site.index:
            continue
        for call in view.facts(index).calls:
            qualname = apis.canonical(view.qualname(call))
            for param, value in apis.arguments(call, qualname).items():
                if name in value.names or any(n.endswith("." + name.rsplit(".", 1)[-1]) and name.startswith("args.")
                                              for n in value.names):
                    call_site = CallSite("head", index, call, qualname)
                    label = f"{short_name(qualname)} {param}" if not param.startswith(("#", "**")) \
                        else short_name(qualname)
                    related = Related(view.span(index, value.node if value.node is not None else call.node),
                                      f"used as {label}")
                    out.append((related, call_site, param))
                    break
            if len(out) >= limit:
                return out
    return out


def flow_phrase(change: PythonChange, uses: list[tuple[Related, CallSite, str]]) -> str:
    if not uses:
        return ""
    related, site, param = uses[0]
    return f", {related.message} at line {related.span.line}"


# -- fixes ---------------------------------------------------------------------------------------
def restore_fix(change: PythonChange, base_index: int, title: str) -> Fix | None:
    """Put back the base lines of the hunk that removed base logical line ``base_index``."""
    start = change.base.logical[base_index].start
    hunk = next((h for h in change.hunks if h.base_start <= start < h.base_end), None)
    if hunk is None:
        return None
    text = "".join(change.base.lines[hunk.base_start:hunk.base_end])
    if text and not text.endswith("\n") and hunk.head_end < len(change.head.lines):
        text += "\n"
    return Fix(title, (TextEdit(Span(hunk.head_start + 1, 1, hunk.head_end + 1, 1), text),))
