"""What a function of the file does for training, so that calling it, passing it or choosing it
is that operation: ``def normalize_to_neg_one_to_one(x): return x * 2 - 1`` used as
``transforms.Lambda(normalize_to_neg_one_to_one)`` scales the input, and a helper that calls
``optimizer.step()`` steps the optimizer wherever it is called.

A summary is the roles (``facts.classify``) of the statements in the function's body, one
per family, read on demand and once per side; functions called from there are summarised
too, to a small depth, and a function that calls itself is not followed again.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

from mldiff.facts.context import PythonContext
from mldiff.facts.flows import find_defs

_DEPTH = 3


@dataclass(frozen=True)
class Summary:
    family: str
    noun: str


def function_roles(ctx: PythonContext, side: str, name: str) -> tuple[Summary, ...]:
    """What the file's (one) function called ``name`` does, one entry per family."""
    if not name.isidentifier():
        return ()
    return ctx.fact(("summary", side, name), lambda: _summarise(ctx, side, name))


def _summarise(ctx: PythonContext, side: str, name: str) -> tuple[Summary, ...]:
    from mldiff.facts.classify import statement_roles
    view = ctx.view(side)
    headers = find_defs(view, name)
    if len(headers) != 1:
        return ()
    stack: list[str] = ctx.fact(("summarising", side), list)
    if name in stack or len(stack) >= _DEPTH:
        return ()
    stack.append(name)
    try:
        found: dict[str, Summary] = {}
        for index in view.block(headers[0]):
            for role in statement_roles(ctx, side, index):
                # its locals are not settings of the caller, and a dtype cast or a copy inside a helper
                # (writing a checkpoint, logging) is no training operation of the caller's
                if role.source in ("call", "function") or role.source == "method" and \
                        role.family in ("training_loop", "learning_rate"):
                    found.setdefault(role.family, Summary(role.family, role.noun))
            scaling = input_scaling(view.source(index)) if view.logical[index].keyword == "" else None
            if scaling is not None:
                found.setdefault("normalization", Summary("normalization", scaling))
        return tuple(found.values())
    finally:
        stack.pop()


_PIXEL = (255, 255.0, 127.5)


def input_scaling(source: str) -> str | None:
    """``x / 255``, ``x * 2 - 1``, ``(x + 1) / 2``, ``x * 0.5 + 0.5``: arithmetic that moves pixel
    values between ranges ([0, 255], [0, 1], [-1, 1]); None for any other statement."""
    try:
        tree = ast.parse(source.strip())
    except (SyntaxError, ValueError, RecursionError):
        return None
    for node in ast.walk(tree):
        if not isinstance(node, ast.BinOp):
            continue
        if isinstance(node.op, ast.Div) and isinstance(node.left, ast.BinOp) and isinstance(node.left.op, ast.Sub) \
                and _is_statistic(node.left.right, ("mean", "mu", "avg")) and _is_statistic(node.right, ("std", "sigma")):
            return "standardisation (x - mean) / std"
        right = _number(node.right)
        if isinstance(node.op, (ast.Div, ast.Mult)) and right in _PIXEL:
            return "input scaling by " + ("1/" if isinstance(node.op, ast.Div) else "") + f"{right:g}"
        if isinstance(node.op, (ast.Sub, ast.Add)) and right in (1, 1.0, 0.5):
            inner = node.left
            if isinstance(inner, ast.BinOp) and isinstance(inner.op, (ast.Mult, ast.Div)) and \
                    _number(inner.right) in (2, 2.0, 0.5):
                return "input scaling " + ("to [-1, 1]" if isinstance(node.op, ast.Sub) else "to [0, 1]")
        if isinstance(node.op, (ast.Div, ast.Mult)) and right in (2, 2.0, 0.5) and isinstance(node.left, ast.BinOp) \
                and isinstance(node.left.op, ast.Add) and _number(node.left.right) in (1, 1.0):
            return "input scaling to [0, 1]"
    return None


def _is_statistic(node: ast.AST, names: tuple[str, ...]) -> bool:
    """``x.mean()``, ``mean``, ``self.std``, ``(x.std() + 1e-8)``: a mean or a standard deviation."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _is_statistic(node.left, names) or _is_statistic(node.right, names)
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr.lower().lstrip("_") in names
    return isinstance(node, ast.Name) and node.id.lower().lstrip("_") in names


def _number(node: ast.AST) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    return None
