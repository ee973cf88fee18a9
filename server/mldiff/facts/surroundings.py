"""What encloses a statement inside its function, and how that changed: the context deltas.

A statement that did not change can still run differently: its ``if`` gained a clause, it
moved into (or out of) ``with autocast(...)`` or ``torch.no_grad()``, into a loop or a
``try``, or an ``elif`` before it was reordered. ``surroundings`` reads, for one logical
line, the conditions it runs under (``facts.conditions``), the ``with`` items, loops and
``try`` blocks around it, up to the enclosing ``def``; ``context_change`` says in words what
differs between the base and head surroundings of one statement, or None.

A reworded condition counts only when the names, values or operators it reads differ
(``if a and b is not None`` -> ``if b is not None and a`` is no change; ``use_amp != 'native'``
-> ``use_amp == 'apex'`` is one). The same comparison tells whether a call inside a changed
statement now runs under another conditional expression (``facts.conditions.call_guards``).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Callable

from mldiff.analysis.module import ModuleView
from mldiff.analysis.values import rename_key, shorten
from mldiff.facts.conditions import conditions

_ENCLOSING = ("with", "for", "while", "try", "except", "finally")


@dataclass(frozen=True)
class Surroundings:
    """A statement's enclosure inside its function, each element as (key, readable text)."""

    conditions: tuple[tuple[str, str], ...]   # the if / elif / while tests it runs under
    with_items: tuple[tuple[str, str], ...]   # context managers around it, innermost first
    loops: tuple[tuple[str, str], ...]        # for / while loops around it, innermost first
    handlers: tuple[str, ...]                 # "try", "except", "finally": where it is in a try
    function: tuple[str, ...]                 # the classes and functions around it


def surroundings(view: ModuleView, index: int, renames: dict[str, str] | None = None) -> Surroundings:
    """What encloses logical line ``index`` up to its ``def`` (``renames`` applied: the base side)."""
    lines = view.logical
    with_items: list[tuple[str, str]] = []
    loops: list[tuple[str, str]] = []
    handlers: list[str] = []
    for ancestor in view.ancestors(index):
        keyword = lines[ancestor].keyword
        if keyword in ("def", "class"):
            break
        if keyword not in _ENCLOSING:
            continue
        facts = view.facts(ancestor)
        if keyword == "with":
            for item in facts.with_items:
                with_items.append((_key(item.key, renames), shorten(item.code, 60)))
        elif keyword in ("for", "while"):
            # a loop is the same loop whatever it iterates through (``tqdm(loader)`` for ``loader``):
            # what changed in its header is a delta of the header itself
            header = " ".join(view.source(ancestor).split()).rstrip(":")
            target = facts.loop_target if keyword == "for" else "while"
            loops.append((renames.get(target, target) if renames and target else str(target), shorten(header, 60)))
        else:
            handlers.append(keyword)
    found = conditions(view, index, renames)
    return Surroundings(tuple(found.items()), tuple(with_items), tuple(loops), tuple(handlers),
                        tuple(renames.get(n, n) for n in view.scope_names(index)) if renames
                        else view.scope_names(index))


def _key(key: str, renames: dict[str, str] | None) -> str:
    return rename_key(key, renames) if renames else key


Renamed = Callable[[str, str], bool]


def context_change(before: Surroundings, after: Surroundings,
                   renamed: Renamed | None = None) -> tuple[str, str] | None:
    """(what changed around the statement, which element: "condition" | "with" | "loop" | "try"),
    or None when it runs under the same conditions, in the same blocks. Statements that moved
    to another function are not compared (the call of the new function carries the context)."""
    if before.function != after.function:
        return None
    old_items, new_items = dict(before.with_items), dict(after.with_items)
    entered = [text for key, text in after.with_items if key not in old_items]
    left = [text for key, text in before.with_items if key not in new_items]
    if entered or left:
        parts = ([f"now inside `with {', '.join(entered)}`"] if entered else []) + \
                ([f"no longer inside `with {', '.join(left)}`"] if left else [])
        return "; ".join(parts), "with"
    condition = condition_difference(dict(before.conditions), dict(after.conditions), renamed)
    if condition:
        return condition, "condition"
    if len(after.loops) > len(before.loops):  # a loop rewritten is a change of its header; entering one is this
        return f"now inside `{after.loops[0][1]}`", "loop"
    if len(after.loops) < len(before.loops):
        return f"no longer inside `{before.loops[0][1]}`", "loop"
    if bool(before.handlers) != bool(after.handlers):
        return ("now inside a try block" if after.handlers else "no longer inside a try block"), "try"
    return None


def condition_difference(before: dict[str, str], after: dict[str, str], renamed: Renamed | None = None) -> str | None:
    """What differs between two sets of conditions (as ``facts.conditions`` keys them), in words;
    None when they are the same or only reworded."""
    if before.keys() == after.keys():
        return None
    added = [text for key, text in after.items() if key not in before]
    dropped = [text for key, text in before.items() if key not in after]
    if added and dropped:
        old, new = _reads(dropped), _reads(added)
        if old[:3] == new[:3]:
            return None  # the same settings, values and operators, reworded
        old_only, new_only = old[3] - new[3], new[3] - old[3]
        if renamed is not None and old[1:3] == new[1:3] and len(old_only) == len(new_only) == 1 and \
                renamed(next(iter(old_only)), next(iter(new_only))):
            return None  # the setting it tests was renamed (``compile_model`` -> ``compile``, same value)
    if not after:
        return "no longer conditional on " + shorten(" and ".join(dropped), 80)
    if not before:
        return "now only when " + shorten(" and ".join(added), 80)
    if added and dropped:
        return f"condition `{shorten(' and '.join(dropped), 50)}` -> `{shorten(' and '.join(added), 50)}`"
    if added:
        return "now also requires " + shorten(" and ".join(added), 80)
    return "no longer requires " + shorten(" and ".join(dropped), 80)


def _reads(texts: list[str]) -> tuple[frozenset[str], frozenset[str], frozenset[str], frozenset[str]]:
    """The settings (by last name), constants and operators a condition reads, and the dotted
    names it reads them through: ``a is not None and b`` split or joined differently reads the
    same; ``args.eval_every`` reads the setting ``eval_every`` read before as a constant;
    ``not a`` reads ``a`` through another operator."""
    names: set[str] = set()
    dotted: set[str] = set()
    values: set[str] = set()
    operators: set[str] = set()
    for text in texts:
        try:
            tree = ast.parse(text, mode="eval")
        except (SyntaxError, ValueError):
            names.add(text)
            continue
        roots = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and id(node) not in roots:
                names.add(node.id)
                dotted.add(node.id)
            elif isinstance(node, ast.Attribute) and id(node) not in roots:
                names.add(node.attr)
                dotted.add(ast.unparse(node))
            elif isinstance(node, ast.Constant):
                values.add(repr(node.value))
            elif isinstance(node, (ast.cmpop, ast.unaryop)):
                operators.add(node.__class__.__name__)
    return frozenset(names), frozenset(values), frozenset(operators), frozenset(dotted)
