"""Under which conditions a statement runs, and how that changed between base and head."""
from __future__ import annotations

from mldiff.analysis.module import ModuleView
from mldiff.analysis.values import shorten
from mldiff.facts.context import PythonContext


# -- conditions --------------------------------------------------------------------------------
def conditions(view: ModuleView, index: int, renames: dict[str, str] | None = None) -> dict[str, str]:
    """The conditions under which logical line ``index`` runs, within its function: the tests of
    the enclosing ``if`` / ``elif`` / ``while`` headers, and for ``elif`` / ``else`` branches the
    negated tests of the branches before them. Keys are formatting-insensitive (``and`` split,
    ``not not x`` and ``not (a is None)`` simplified, ``renames`` applied); values are readable.
    ``if __name__ == "__main__":`` and constant tests are left out."""
    out: dict[str, str] = {}
    lines = view.logical
    own = [index] if lines[index].keyword and not lines[index].is_header else []  # `if x: y()` on one line
    for ancestor in own + view.ancestors(index):
        keyword = lines[ancestor].keyword
        if keyword in ("def", "class"):
            break
        if keyword in ("if", "elif", "while"):
            _add_condition(view, ancestor, False, out, renames)
        if keyword in ("elif", "else"):
            previous = _previous_branch(view, ancestor)
            while previous >= 0 and lines[previous].keyword in ("if", "elif"):
                _add_condition(view, previous, True, out, renames)
                if lines[previous].keyword == "if":
                    break
                previous = _previous_branch(view, previous)
    return out


def _previous_branch(view: ModuleView, index: int) -> int:
    """The statement just before ``index`` at the same level (the branch an elif/else continues)."""
    lines = view.logical
    parent = lines[index].parent
    indent = lines[index].indent
    for candidate in range(index - 1, -1, -1):
        line = lines[candidate]
        if line.parent == parent and line.indent == indent:
            return candidate
        if line.indent < indent:
            return -1
    return -1


def _add_condition(view: ModuleView, header: int, negate: bool, out: dict[str, str],
                   renames: dict[str, str] | None) -> None:
    condition = view.facts(header).condition
    if condition is not None:
        _add_test(condition.code, negate, out, renames)


def _add_test(code: str, negate: bool, out: dict[str, str], renames: dict[str, str] | None) -> None:
    import ast
    try:
        tree = ast.parse(code, mode="eval").body
    except (SyntaxError, ValueError):
        return
    parts = _conjuncts(_negated(tree) if negate else tree)
    for part in parts:
        if isinstance(part, ast.Constant) or _is_main_guard(part):
            continue
        key = ast.dump(part, annotate_fields=False)
        if renames:
            from mldiff.analysis.values import rename_key
            key = rename_key(key, renames)
        text = ast.unparse(part)
        out.setdefault(key, f"({text})" if isinstance(part, ast.BoolOp) else text)


def call_guards(view: ModuleView, index: int, renames: dict[str, str] | None = None) -> dict[int, dict[str, str]]:
    """The conditional expressions a call of logical line ``index`` runs under, by the call
    node's id (keys and texts as ``conditions``): in ``g.manual_seed(s) if args.seed else None``
    the call runs only when ``args.seed``. Calls under no ternary are left out."""
    import libcst as cst

    from mldiff.analysis.values import node_code
    from mldiff.analysis.walk import children
    unit = view.unit(index)
    out: dict[int, dict[str, str]] = {}
    if unit.statement is None or "if" not in unit.text or "else" not in unit.text:
        return out
    stack: list[tuple[cst.CSTNode, tuple[tuple[str, bool], ...]]] = [(unit.statement, ())]
    while stack:
        node, guards = stack.pop()
        if isinstance(node, cst.IfExp):
            test = node_code(node.test)
            stack.append((node.test, guards))
            stack.append((node.body, guards + ((test, False),)))
            stack.append((node.orelse, guards + ((test, True),)))
            continue
        if isinstance(node, cst.Call) and guards:
            found: dict[str, str] = {}
            for test, negate in guards:
                _add_test(test, negate, found, renames)
            out[id(node)] = found
        stack.extend((child, guards) for child in children(node))
    return out


def _conjuncts(node):
    import ast
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
        out = []
        for value in node.values:
            out.extend(_conjuncts(value))
        return out
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        inner = node.operand
        if isinstance(inner, ast.UnaryOp) and isinstance(inner.op, ast.Not):
            return _conjuncts(inner.operand)
        if isinstance(inner, ast.BoolOp) or (isinstance(inner, ast.Compare) and len(inner.ops) == 1):
            return _conjuncts(_negated(inner))
    return [node]


_INVERSE_COMPARISONS = {"Is": "IsNot", "IsNot": "Is", "Eq": "NotEq", "NotEq": "Eq", "In": "NotIn", "NotIn": "In",
                        "Lt": "GtE", "GtE": "Lt", "Gt": "LtE", "LtE": "Gt"}


def _negated(node):
    import ast
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return node.operand
    if isinstance(node, ast.BoolOp):  # De Morgan: not (a and not b) -> not a or b
        return ast.BoolOp(ast.Or() if isinstance(node.op, ast.And) else ast.And(), [_negated(v) for v in node.values])
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        inverse = _INVERSE_COMPARISONS[type(node.ops[0]).__name__]
        return ast.Compare(node.left, [getattr(ast, inverse)()], node.comparators)
    return ast.UnaryOp(ast.Not(), node)


def _is_main_guard(node) -> bool:
    import ast
    return isinstance(node, ast.Compare) and isinstance(node.left, ast.Name) and node.left.id == "__name__"


def condition_phrase(conditions_: dict[str, str]) -> str:
    """`` (when a and b)`` for messages, or an empty string."""
    if not conditions_:
        return ""
    return " (when " + shorten(" and ".join(conditions_.values()), 80) + ")"


def condition_change(ctx: PythonContext, base_index: int, head_index: int) -> str | None:
    """How the conditions around a statement changed between base and head (a condition added or
    dropped), or None."""
    before = conditions(ctx.base, base_index, ctx.renames)
    after = conditions(ctx.head, head_index)
    if before.keys() == after.keys():
        return None
    if not (before.keys() < after.keys() or after.keys() < before.keys()):
        return None  # a condition reworded (`use_cuda` -> `device == 'cuda'`): nothing added or dropped
    if not after:
        return "now unconditional (was only when " + " and ".join(before.values()) + ")"
    if not before:
        return "now only when " + " and ".join(after.values())
    if len(after) > len(before):
        return "now also requires " + " and ".join(v for k, v in after.items() if k not in before)
    return "no longer requires " + " and ".join(v for k, v in before.items() if k not in after)


def touched_with_blocks(ctx: PythonContext, side: str, pattern) -> list[int]:
    """Touched logical lines of ``side``, plus the lines matching ``pattern`` inside the blocks of
    touched ``if`` / ``elif`` / ``else`` / ``while`` headers (their conditions changed even though
    the lines themselves did not)."""
    view = ctx.view(side)
    touched = set(ctx.touched(side))
    headers = [i for i in touched if view.logical[i].keyword in ("if", "elif", "else", "while")
               and view.logical[i].is_header]
    if headers:
        matching = view._lines_matching(pattern)
        for header in headers:
            block = view.block(header)
            touched.update(i for i in matching if i in block)
    return sorted(touched)


def condition_use(view: ModuleView, name: str) -> str:
    """``, used in `if compile:` at line 181`` when setting ``name`` decides a branch (the first
    ``if`` / ``elif`` / ``while`` that reads it), else an empty string."""
    for index in view.uses(name):
        line = view.logical[index]
        if line.keyword in ("if", "elif", "while"):
            text = " ".join(view.source(index).split())
            return f", used in `{shorten(text, 48)}` at line {line.start + 1}"
    return ""
