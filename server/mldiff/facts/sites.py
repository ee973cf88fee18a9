"""Calls and bindings in the changed code, as sites: which side, which logical line, what call.

A site's ``qualname`` is canonical (``knowledge.apis.canonical``); arguments are read by
parameter name through the API table, so ``SGD(p, 0.1)`` and ``SGD(p, lr=0.1)`` agree."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import libcst as cst

from mldiff.analysis.module import ModuleView
from mldiff.analysis.statements import Binding, CallFact
from mldiff.analysis.values import Value, dotted_name, evaluate, make_value
from mldiff.facts.context import PythonContext
from mldiff.facts.equivalence import same_after_resolving
from mldiff.knowledge import apis


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


def call_sites(ctx: PythonContext, side: str, predicate: CallPredicate,
               indices: Iterable[int] | None = None) -> list[CallSite]:
    """Calls in the touched logical lines of ``side`` (or in ``indices``) that match."""
    view = ctx.view(side)
    out = []
    for index in (ctx.touched(side) if indices is None else indices):
        for call in view.facts(index).calls:
            qualname = apis.canonical(view.qualname(call))
            if predicate(qualname, call, view):
                out.append(CallSite(side, index, call, qualname))
    return out


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


def binding_sites(ctx: PythonContext, side: str, predicate: Callable[[Binding], bool]) -> list[BindingSite]:
    view = ctx.view(side)
    renames = ctx.renames if side == "base" else {}
    out = []
    for index in ctx.touched(side):
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


def renamed(dotted: str, renames: dict[str, str]) -> str:
    """``s.set_epoch`` -> ``train_sampler.set_epoch`` when ``s`` was renamed to ``train_sampler``."""
    if not renames:
        return dotted
    return ".".join(renames.get(part, part) for part in dotted.split("."))


def argument_changes(ctx: PythonContext, base: CallSite, head: CallSite,
                     only: Iterable[str] | None = None,
                     resolve: bool = True) -> list[tuple[str, Value | None, Value | None]]:
    """(parameter, before, after) for each argument whose value differs in meaning, after reading
    names through their definitions (``same_after_resolving``; ``resolve=False``: as written, the
    cheap test pairing uses to find identical calls); keywords that arrive through ``**extra``
    count as passed (``expanded_arguments``)."""
    before = expanded_arguments(ctx, base)
    after = expanded_arguments(ctx, head)
    names = list(dict.fromkeys([*before, *after]))
    if only is not None:
        wanted = set(only)
        names = [n for n in names if n in wanted]
    renames = ctx.renames
    out = []
    for name in names:
        old, new = before.get(name), after.get(name)
        if old is None and new is None:
            continue
        if old is not None and new is not None and (old.same_as(new, renames)
                                                    or (resolve and same_after_resolving(ctx, old, new))):
            continue
        given = new if new is not None else old
        if given is not None and (old is None or new is None) and \
                _is_default(head.qualname if new is not None else base.qualname, name, given):
            continue  # the documented default written out, or no longer written
        out.append((name, old, new))
    return out


def _is_default(qualname: str, name: str, value: Value) -> bool:
    from mldiff.analysis.values import _literal_equal
    default = apis.default_of(qualname, name)
    return default is not apis.NO_DEFAULT and value.is_literal and _literal_equal(value.literal, default)


def resolved_target(view: ModuleView, target: str) -> str:
    return apis.canonical(view.resolve(target))


def argument_of(call: CallFact, qualname: str, name: str) -> Value | None:
    """The value passed for parameter ``name``, by keyword or by position."""
    value = call.kwarg(name)
    if value is not None:
        return value
    params = apis.parameters(qualname)
    if name in params:
        position = params.index(name)
        if position < len(call.args):
            return call.args[position]
    return None


def arguments_of(call: CallFact, qualname: str) -> dict[str, Value]:
    """Every argument by parameter name (positional ones named through the signature;
    unknown positions as ``#0``, ``#1``...)."""
    params = apis.parameters(qualname)
    out: dict[str, Value] = {}
    for position, value in enumerate(call.args):
        out[params[position] if position < len(params) else f"#{position}"] = value
    for key, value in call.kwargs:
        out[key] = value
    for position, value in enumerate(call.star_kwargs):
        out[f"**{position}"] = value
    return out


def expanded_arguments(ctx: PythonContext, site: CallSite) -> dict[str, Value]:
    """``arguments_of`` with each ``**name`` expanded through the dict the file builds for it:
    a literal, ``dict(...)``, either branch of a conditional (``dict(fused=True) if ok else
    dict()``), and ``name.update(...)`` calls before the call. A ``**kwargs`` parameter, whose
    keys the callers decide, stays ``**0``."""
    out = arguments_of(site.call, site.qualname)
    view = ctx.view(site.side)
    for value in site.call.star_kwargs:
        for key, entry in _dict_entries(view, site.index, value, 0).items():
            out.setdefault(key, entry)
    return out


def _dict_entries(view: ModuleView, index: int, value: Value, depth: int) -> dict[str, Value]:
    node = value.node
    if depth > 3 or node is None:
        return {}
    if isinstance(node, cst.Dict):
        out = {}
        for element in node.elements:
            if isinstance(element, cst.DictElement):
                key = evaluate(element.key)
                if isinstance(key, str) and key.isidentifier():
                    out[key] = make_value(element.value)
        return out
    if isinstance(node, cst.Call) and dotted_name(node.func) in ("dict", "OrderedDict", "collections.OrderedDict"):
        return {arg.keyword.value: make_value(arg.value) for arg in node.args if arg.keyword is not None}
    if isinstance(node, cst.IfExp):
        return {**_dict_entries(view, index, make_value(node.orelse), depth + 1),
                **_dict_entries(view, index, make_value(node.body), depth + 1)}
    if isinstance(node, cst.Name):
        name = node.value
        definitions = [(i, b) for i, b in view.definitions(name) if i < index and b.value is not None]
        if not definitions:
            return {}
        at, binding = definitions[-1]
        assert binding.value is not None
        out = _dict_entries(view, at, binding.value, depth + 1)
        for use in view.uses(name):
            if at < use < index:
                for call in view.facts(use).calls:
                    if call.receiver == name and call.method == "update":
                        for arg in call.args:
                            out.update(_dict_entries(view, use, arg, depth + 1))
                        out.update(dict(call.kwargs))
        return out
    return {}
