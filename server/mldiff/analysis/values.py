"""Values as rules compare them: what the code says, what it evaluates to, what it reads.

``1e-3`` and ``0.001`` are the same learning rate; ``(0.5,)`` and ``( 0.5, )`` the same
mean. A value's ``key`` ignores formatting, comments, redundant parentheses and quote
style (it is ``ast.dump`` of the expression: ast is used only as this normalizer,
parsing is libcst's), and ``literal`` holds the evaluated constant when there is one.
"""
from __future__ import annotations

import ast
import math
import operator
from functools import lru_cache
from typing import Any

import libcst as cst

NOT_LITERAL: Any = type("NotLiteral", (), {"__repr__": lambda self: "<not literal>"})()

_EMPTY_MODULE = cst.Module(body=[])


def node_code(node: cst.CSTNode) -> str:
    """Source of ``node`` as written, on one line (for messages)."""
    code = _EMPTY_MODULE.code_for_node(node).strip()
    if "\n" in code:
        try:
            code = ast.unparse(ast.parse(code, mode="eval"))
        except (SyntaxError, ValueError):
            code = " ".join(code.split())
    return code


def shorten(code: str, width: int = 60) -> str:
    """``code`` cut to ``width`` characters with an ellipsis, for one-line messages."""
    return code if len(code) <= width else code[: width - 1].rstrip() + "…"


@lru_cache(maxsize=512)  # keys are long: a small cache keeps an editing session's memory flat
def canonical(code: str) -> str:
    """Formatting-insensitive key of an expression's source (``True if x else False`` is ``x``)."""
    try:
        tree = ast.parse(code.strip(), mode="eval")
    except (SyntaxError, ValueError):
        return " ".join(code.split())
    return ast.dump(_Booleans().visit(tree.body), annotate_fields=False)


class _Booleans(ast.NodeTransformer):
    """``True if test else False`` -> ``test``; ``False if test else True`` -> ``not test``."""

    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.body, ast.Constant) and isinstance(node.orelse, ast.Constant) and \
                isinstance(node.test, (ast.Compare, ast.BoolOp, ast.UnaryOp)):
            if node.body.value is True and node.orelse.value is False:
                return node.test
            if node.body.value is False and node.orelse.value is True:
                return ast.UnaryOp(ast.Not(), node.test)
        return node


class Value:
    """An expression on one side of a diff. Everything but the node is computed on first
    use: most values are never compared, and generating code for each is not free."""

    __slots__ = ("node", "_code", "_key", "_literal", "_names")

    def __init__(self, node: cst.CSTNode | None = None, *, code: str | None = None, key: str | None = None,
                 literal: Any = None, names: frozenset[str] | None = None) -> None:
        self.node = node
        self._code = code
        self._key = key
        self._literal = literal if (literal is not None or node is None) else _UNSET
        if node is None and literal is None and code is not None:
            self._literal = NOT_LITERAL
        self._names = names

    @property
    def code(self) -> str:
        """As written, one line."""
        if self._code is None:
            self._code = node_code(self.node) if self.node is not None else ""
        return self._code

    @property
    def key(self) -> str:
        """Formatting-insensitive equality key."""
        if self._key is None:
            self._key = canonical(self.code)
        return self._key

    @property
    def literal(self) -> Any:
        """The evaluated constant, or NOT_LITERAL."""
        if self._literal is _UNSET:
            self._literal = evaluate(self.node)
        return self._literal

    @property
    def names(self) -> frozenset[str]:
        """Dotted names it reads (``args.lr``, ``LR``)."""
        if self._names is None:
            self._names = names_in(self.node) if self.node is not None else frozenset()
        return self._names

    @property
    def is_literal(self) -> bool:
        return self.literal is not NOT_LITERAL

    def same_as(self, other: Value | None, renames: dict[str, str] | None = None) -> bool:
        """Equal in meaning: same constant, or the same expression up to formatting
        (and up to a consistent renaming of identifiers, when ``renames`` is given)."""
        if other is None:
            return False
        if self.is_literal and other.is_literal:
            return _literal_equal(self.literal, other.literal)
        if self.key == other.key:
            return True
        if renames:
            return rename_key(self.key, renames) == other.key
        return False

    def display(self) -> str:
        return self.code

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Value) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"Value({self.code!r})"


_UNSET: Any = object()


def _literal_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, float) or isinstance(b, float):
            return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0) or a == b
        return a == b
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_literal_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_literal_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def rename_key(key: str, renames: dict[str, str]) -> str:
    """Apply identifier renames to an ``ast.dump`` key (names appear as Name('x', ...)
    and attribute names as Attribute(..., 'x', ...))."""
    out = key
    for old, new in renames.items():
        out = out.replace(f"'{old}'", f"'{new}'")
    return out


_BINOPS = {
    cst.Add: operator.add, cst.Subtract: operator.sub, cst.Multiply: operator.mul,
    cst.Divide: operator.truediv, cst.FloorDivide: operator.floordiv,
    cst.Power: operator.pow, cst.Modulo: operator.mod,
}


def evaluate(node: cst.CSTNode | None) -> Any:
    """The constant ``node`` stands for (numbers, strings, bools, None, containers and
    arithmetic of those), or NOT_LITERAL."""
    if node is None:
        return NOT_LITERAL
    try:
        return _evaluate(node)
    except (ArithmeticError, ValueError, TypeError, OverflowError, RecursionError):
        return NOT_LITERAL


def _evaluate(node: cst.CSTNode) -> Any:
    if isinstance(node, (cst.Integer, cst.Float, cst.Imaginary)):
        return node.evaluated_value
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
        value = node.evaluated_value
        return NOT_LITERAL if value is None else value
    if isinstance(node, cst.Name):
        return {"True": True, "False": False, "None": None}.get(node.value, NOT_LITERAL)
    if isinstance(node, cst.UnaryOperation):
        inner = _evaluate(node.expression)
        if inner is NOT_LITERAL:
            return NOT_LITERAL
        if isinstance(node.operator, cst.Minus) and isinstance(inner, (int, float, complex)):
            return -inner
        if isinstance(node.operator, cst.Plus) and isinstance(inner, (int, float, complex)):
            return +inner
        if isinstance(node.operator, cst.Not):
            return not inner
        return NOT_LITERAL
    if isinstance(node, cst.BinaryOperation):
        op = _BINOPS.get(type(node.operator))
        left, right = _evaluate(node.left), _evaluate(node.right)
        if op is None or left is NOT_LITERAL or right is NOT_LITERAL:
            return NOT_LITERAL
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (left, right)):
            return NOT_LITERAL
        if op is operator.pow and abs(right) > 64:
            return NOT_LITERAL
        return op(left, right)
    if isinstance(node, (cst.Tuple, cst.List, cst.Set)):
        items = []
        for element in node.elements:
            if isinstance(element, cst.StarredElement):
                return NOT_LITERAL
            value = _evaluate(element.value)
            if value is NOT_LITERAL:
                return NOT_LITERAL
            items.append(value)
        return tuple(items) if not isinstance(node, cst.Set) else frozenset(items)
    if isinstance(node, cst.Dict):
        out = {}
        for entry in node.elements:
            if not isinstance(entry, cst.DictElement):
                return NOT_LITERAL
            key, value = _evaluate(entry.key), _evaluate(entry.value)
            if key is NOT_LITERAL or value is NOT_LITERAL:
                return NOT_LITERAL
            out[key] = value
        return out
    return NOT_LITERAL


def dotted_name(node: cst.CSTNode) -> str | None:
    """``a.b.c`` for Name/Attribute chains; calls in the chain become ``f(...)``."""
    parts = []
    while True:
        if isinstance(node, cst.Name):
            parts.append(node.value)
            break
        if isinstance(node, cst.Attribute):
            parts.append(node.attr.value)
            node = node.value
            continue
        if isinstance(node, cst.Call):
            inner = dotted_name(node.func)
            if inner is None:
                return None
            parts.append(inner + "(...)")
            break
        if isinstance(node, cst.Subscript):
            inner = dotted_name(node.value)
            if inner is None:
                return None
            parts.append(inner + "[...]")
            break
        return None
    return ".".join(reversed(parts))


def subscript_name(node: cst.Subscript) -> str | None:
    """``config['lr']`` -> ``config.lr``: a string-keyed entry read like an attribute."""
    base = dotted_name(node.value)
    if base and "(" not in base and len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index):
        key = evaluate(node.slice[0].slice.value)
        if isinstance(key, str) and key.isidentifier():
            return f"{base}.{key}"
    return None


def _collect_names(node: cst.CSTNode, names: set[str]) -> bool:
    if isinstance(node, cst.Name):
        names.add(node.value)
    elif isinstance(node, cst.Attribute):
        name = dotted_name(node)
        if name and "(" not in name and "[" not in name:
            names.add(name)
            names.add(name.split(".", 1)[0])  # also the root, so that a rename of `args` is seen
            return False
    elif isinstance(node, cst.Subscript):
        name = subscript_name(node)
        if name:
            names.add(name)
    return True


def names_in(node: cst.CSTNode) -> frozenset[str]:
    from mldiff.analysis.walk import walk
    names: set[str] = set()
    walk(node, lambda child: _collect_names(child, names))
    return frozenset(names)


def make_value(node: cst.CSTNode) -> Value:
    return Value(node)


def display(value: Any) -> str:
    """A literal as a person would write it in a message."""
    if isinstance(value, float):
        text = repr(value)
        return text
    return repr(value)


def contrast(old: str, new: str, width: int = 64) -> tuple[str, str]:
    """Two long expressions shortened around where they differ, so a message shows the
    change (``{..., 'float16': torch.float16}``) rather than two identical beginnings."""
    if len(old) <= width and len(new) <= width:
        return old, new
    dict_change = _dict_contrast(old, new)
    if dict_change is not None:
        return dict_change
    prefix = 0
    limit = min(len(old), len(new))
    while prefix < limit and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and old[-1 - suffix] == new[-1 - suffix]:
        suffix += 1
    context = 12
    start = max(0, prefix - context)
    # cut at a token boundary so the snippet reads as code
    while start > 0 and old[start - 1].isalnum():
        start -= 1

    def cut(text: str) -> str:
        end = len(text) - suffix
        stop = min(len(text), end + context)
        while stop < len(text) and text[stop].isalnum():
            stop += 1
        middle = text[start:stop]
        return ("\u2026" if start > 0 else "") + shorten(middle, width) + ("\u2026" if stop < len(text) else "")

    return cut(old), cut(new)


def _dict_contrast(old: str, new: str) -> tuple[str, str] | None:
    try:
        old_tree = ast.parse(old, mode="eval").body
        new_tree = ast.parse(new, mode="eval").body
    except (SyntaxError, ValueError):
        return None
    while isinstance(old_tree, ast.Subscript) and isinstance(new_tree, ast.Subscript):
        old_tree, new_tree = old_tree.value, new_tree.value
    if not (isinstance(old_tree, ast.Dict) and isinstance(new_tree, ast.Dict)):
        return None
    old_items = {ast.unparse(k) if k else "**": ast.unparse(v) for k, v in zip(old_tree.keys, old_tree.values)}
    new_items = {ast.unparse(k) if k else "**": ast.unparse(v) for k, v in zip(new_tree.keys, new_tree.values)}
    removed = [f"{k}: {v}" for k, v in old_items.items() if new_items.get(k) != v]
    added = [f"{k}: {v}" for k, v in new_items.items() if old_items.get(k) != v]
    if not removed and not added:
        return None
    show = lambda items: "{\u2026, " + ", ".join(items) + "}" if items else "{\u2026}"  # noqa: E731
    return shorten(show(removed), 60), shorten(show(added), 60)
